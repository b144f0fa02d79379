"""NumPy kernels of the Gaussian-copula estimator of I(R; F) for a discrete factor F.

Ince et al. (2017): rank-transform each response to a standard normal (the copula), then use the
closed-form MI between a Gaussian variable and a discrete one, a mixture of class-conditional
Gaussians: I = H(R) − Σ_f p(f) H(R | F=f), each Gaussian entropy with its analytic bias
correction. It is a lower bound on the true MI, fast and of low variance.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from factorprobe.analysis._kernels.plugin import LN2, level_moments


def copula_normalize(x: np.ndarray, seed: int, keys: np.ndarray | None = None) -> np.ndarray:
    """Map each row to standard-normal scores of its ranks; ties are broken at random (seeded).

    Every row becomes a permutation of the same vector Φ⁻¹(k / (S + 1)), k = 1..S, which is what
    lets the permutation null be shared by all units. The random order of a row's ties depends
    only on ``seed`` and the row's key (default: its position), so it is the same whichever
    block of rows the row is computed in.
    """
    return rank_scores(x, seed, keys)[0]


def rank_scores(
    x: np.ndarray, seed: int, keys: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Copula scores of :func:`copula_normalize` and the rows sorted, from one argsort."""
    n = x.shape[-1]
    flat = np.ascontiguousarray(x.reshape(-1, n))
    # rows without ties have one order whatever the algorithm; tied rows are re-sorted below
    order = np.argsort(flat, axis=-1)
    ordered = np.take_along_axis(flat, order, axis=-1)
    tied_rows = (ordered[:, 1:] == ordered[:, :-1]).any(axis=-1)
    if tied_rows.any():
        # a random secondary key: ties carry no information, so their order must not come from
        # the stimulus order (which follows the factors in a grid design)
        rows = np.nonzero(tied_rows)[0]
        row_keys = rows if keys is None else np.asarray(keys).reshape(-1)[rows]
        jitter = hashed_uniforms(seed, row_keys, n)
        order[rows] = np.lexsort((jitter, flat[rows]), axis=-1)
    scores = canonical_scores(n)
    out = np.empty(flat.shape, dtype=np.float64)
    np.put_along_axis(out, order, np.broadcast_to(scores, flat.shape), axis=-1)
    return out.reshape(x.shape), ordered.reshape(x.shape)


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser (Steele, Lea & Flood 2014), on uint64 arrays (wrapping)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def hashed_uniforms(seed: int, keys: np.ndarray, n: int) -> np.ndarray:
    """Uniforms in [0, 1), ``(len(keys), n)``: a counter-based stream per key, so each row's
    numbers depend on (seed, key) only, not on which other rows are drawn with it."""
    with np.errstate(over="ignore"):
        base = _mix(np.asarray([seed], dtype=np.uint64).view(np.uint64) * _GOLDEN + _GOLDEN)
        stream = _mix(base ^ _mix(np.asarray(keys, dtype=np.int64).astype(np.uint64) + _GOLDEN))
        counter = np.arange(1, n + 1, dtype=np.uint64) * _GOLDEN
        z = _mix(stream[:, None] + counter[None, :])
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def canonical_scores(n: int) -> np.ndarray:
    """Φ⁻¹(k / (n + 1)) for k = 1..n."""
    return special.ndtri(np.arange(1, n + 1) / (n + 1.0))


def gaussian_discrete_mi(
    c: np.ndarray,
    codes: np.ndarray,
    n_levels: int,
    *,
    bias_correct: bool,
    moments: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """I(R; F) in bits of a Gaussian response ``c (..., S)`` and discrete codes (broadcastable).

    Without bias correction this is the maximum-likelihood value, so 2 S ln2 I is the likelihood
    ratio statistic of class-specific means and variances (χ² with 2(L − 1) df). With it, each
    entropy uses the unbiased variance and the analytic correction of Ince et al. (2017).
    Every level must hold at least 2 stimuli (the wrapper checks). ``moments``, the per-level
    count, sum and sum of squares of ``c``, may be passed when already known.
    """
    count, total, squares = moments if moments is not None else level_moments(c, codes, n_levels)
    n = count.sum(axis=-1)
    grand = total.sum(axis=-1)
    ss_all = squares.sum(axis=-1) - grand**2 / n
    occupied = count > 0
    safe = np.maximum(count, 1)
    ss_level = np.where(occupied, squares - total**2 / safe, 1.0)
    tiny = np.finfo(np.float64).tiny
    if not bias_correct:
        h_all = 0.5 * np.log(np.maximum(ss_all / n, tiny))
        h_level = 0.5 * np.log(np.maximum(ss_level / safe, tiny))
    else:
        h_all = 0.5 * np.log(np.maximum(ss_all / (n - 1), tiny)) - _bias(n)
        dof = np.maximum(count, 2)
        h_level = 0.5 * np.log(np.maximum(ss_level / (dof - 1), tiny)) - _bias(dof)
    weights = count / n[..., None]
    conditional = np.where(occupied, weights * h_level, 0.0).sum(axis=-1)
    return (h_all - conditional) / LN2


def _bias(n: np.ndarray) -> np.ndarray:
    """Analytic bias of the 1-D Gaussian entropy (nats) estimated from n samples, Ince et al."""
    n = np.asarray(n, dtype=np.float64)
    return (LN2 - np.log(n - 1.0)) / 2.0 + special.psi((n - 1.0) / 2.0) / 2.0
