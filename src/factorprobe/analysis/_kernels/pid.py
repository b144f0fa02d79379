"""Williams–Beer partial information decomposition of plug-in counts, vectorised over units.

Arrays only: a response's bins and two sources' integer codes go in, bits come out. For a
target R (the unit's binned response) and sources A, B (two factors), with contingency counts
``n(r, a)`` and ``n(r, b)``:

- the specific information of R = r in a source, I_spec(r; A) = Σ_a p(a | r) log2[p(a | r) /
  p(a)], the KL divergence of the source's distribution given r from its marginal;
- the redundancy I_min(R; {A}{B}) = Σ_r p(r) min(I_spec(r; A), I_spec(r; B));
- unique A = I(R; A) − I_min, unique B = I(R; B) − I_min, synergy = I(R; A, B) − I(R; A) −
  I(R; B) + I_min.

Every function broadcasts over leading axes (units, shuffles).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from factorprobe.analysis._kernels.plugin import LN2


def _xlog2x(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return special.xlogy(x, x) / LN2


def specific_information(joint: np.ndarray) -> np.ndarray:
    """I_spec(r; F) in bits of contingency counts ``(..., B, L)``: shape ``(..., B)``.

    I_spec(r; F) = [Σ_f n_rf log2 n_rf − n_r log2 n_r − Σ_f n_rf log2 n_f + n_r log2 n] / n_r
    (0 for an empty bin).
    """
    joint = np.asarray(joint, dtype=np.float64)
    n_r = joint.sum(axis=-1)
    n_f = joint.sum(axis=-2)
    n = n_r.sum(axis=-1)
    log_f = np.log2(np.maximum(n_f, 1.0))
    cross = np.einsum("...rf,...f->...r", joint, log_f)
    total = (
        _xlog2x(joint).sum(axis=-1)
        - _xlog2x(n_r)
        - cross
        + n_r * np.log2(np.maximum(n, 1.0))[..., None]
    )
    return np.where(n_r > 0, total / np.maximum(n_r, 1.0), 0.0)


def redundancy_and_mi(
    counts_a: np.ndarray, counts_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """I_min redundancy, I(R; A) and I(R; B) in bits of counts ``(..., B, La)``, ``(..., B, Lb)``.

    The two tables must share their bin marginals n(r) (the same responses); leading axes
    broadcast, so a table of shuffles ``(U, P, B, La)`` may meet one fixed ``(U, 1, B, Lb)``.
    """
    spec_a = specific_information(counts_a)
    spec_b = specific_information(counts_b)
    n_r = np.asarray(counts_a, dtype=np.float64).sum(axis=-1)
    p_r = n_r / np.maximum(n_r.sum(axis=-1, keepdims=True), 1.0)
    mi_a = (p_r * spec_a).sum(axis=-1)
    mi_b = (p_r * spec_b).sum(axis=-1)
    red = (p_r * np.minimum(spec_a, spec_b)).sum(axis=-1)
    return red, np.maximum(mi_a, 0.0), np.maximum(mi_b, 0.0)


def joint_mi(counts_ab: np.ndarray) -> np.ndarray:
    """Plug-in I(R; (A, B)) in bits of counts ``(..., B, La · Lb)``."""
    spec = specific_information(counts_ab)
    n_r = np.asarray(counts_ab, dtype=np.float64).sum(axis=-1)
    p_r = n_r / np.maximum(n_r.sum(axis=-1, keepdims=True), 1.0)
    return np.maximum((p_r * spec).sum(axis=-1), 0.0)


def atoms(
    red: np.ndarray, mi_a: np.ndarray, mi_b: np.ndarray, mi_ab: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(redundancy, unique A, unique B, synergy) from the lattice's four terms, in bits."""
    return red, mi_a - red, mi_b - red, mi_ab - mi_a - mi_b + red
