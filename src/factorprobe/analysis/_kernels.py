"""NumPy kernels for counting and plug-in information, vectorised over leading axes.

The kernels never see labels and assume valid input (the public wrappers validate). Responses
arrive as integer bin indices of shape ``(..., n_stimuli)``; factors as integer codes of shape
``(n_stimuli,)`` (or broadcastable to the responses, for permuted labels). All results in bits.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

LN2 = float(np.log(2.0))


def joint_counts(bins: np.ndarray, n_bins: int, codes: np.ndarray, n_levels: int) -> np.ndarray:
    """Return the contingency table of bins × levels for every leading index.

    ``bins`` has shape ``(..., S)``; ``codes`` broadcasts against it. The result has shape
    ``(..., n_bins, n_levels)``. One ``bincount`` over flattened indices does all rows at once.
    """
    shape = np.broadcast_shapes(bins.shape, np.shape(codes))
    lead = shape[:-1]
    n_rows = int(np.prod(lead, dtype=np.int64))
    cells = n_bins * n_levels
    dtype = np.int32 if n_rows * cells < np.iinfo(np.int32).max else np.int64
    index = np.broadcast_to(bins, shape).astype(dtype, copy=True).reshape(n_rows, shape[-1])
    index *= n_levels
    index += np.broadcast_to(codes, shape).reshape(n_rows, shape[-1]).astype(dtype, copy=False)
    index += (np.arange(n_rows, dtype=dtype) * cells)[:, None]
    counts = np.bincount(index.ravel(), minlength=n_rows * cells)
    return counts.reshape(*lead, n_bins, n_levels)


def _nlogn(counts: np.ndarray) -> np.ndarray:
    """n log2 n elementwise for non-negative integer counts (a lookup table when small).

    Every term goes through the same table, so a table with one occupied cell gives exactly 0.
    """
    top = int(np.max(counts, initial=0))
    if top <= 1 << 20:
        k = np.arange(top + 1, dtype=np.float64)
        return (special.xlogy(k, k) / LN2)[counts]
    c = np.asarray(counts, dtype=np.float64)
    return special.xlogy(c, c) / LN2


def _sum_nlogn(counts: np.ndarray, axis: int | tuple[int, ...]) -> np.ndarray:
    """Σ n log2 n over ``axis``."""
    return _nlogn(counts).sum(axis=axis)


def plugin_entropy(counts: np.ndarray) -> np.ndarray:
    """Plug-in entropy in bits of the histogram(s) along the last axis."""
    n = counts.sum(axis=-1)
    h = (_nlogn(n) - _sum_nlogn(counts, -1)) / np.maximum(n, 1)
    return np.maximum(h, 0.0)


def plugin_mi(joint: np.ndarray) -> np.ndarray:
    """Plug-in mutual information in bits of contingency tables ``(..., B, L)``.

    Uses I = [Σ n_bf log n_bf − Σ n_b log n_b − Σ n_f log n_f + S log S] / S, exact for counts.
    """
    n = joint.sum(axis=(-2, -1))
    total = (
        _sum_nlogn(joint, (-2, -1))
        - _sum_nlogn(joint.sum(axis=-1), -1)
        - _sum_nlogn(joint.sum(axis=-2), -1)
        + _nlogn(n)
    )
    return np.maximum(total / np.maximum(n, 1), 0.0)


def miller_madow_term(joint: np.ndarray) -> np.ndarray:
    """Miller–Madow bias of plug-in MI in bits: [(m_R − 1) + (m_F − 1) − (m_RF − 1)] / (2 S ln 2).

    ``m`` counts occupied cells, so sparse tables are not over-corrected.
    """
    n = np.maximum(joint.sum(axis=(-2, -1)), 1)
    m_r = (joint.sum(axis=-1) > 0).sum(axis=-1)
    m_f = (joint.sum(axis=-2) > 0).sum(axis=-1)
    m_rf = (joint > 0).sum(axis=(-2, -1))
    return (m_rf - m_r - m_f + 1) / (2.0 * n * LN2)


def gtest_pvalue(mi_raw: np.ndarray, joint: np.ndarray) -> np.ndarray:
    """G-test p-value: 2 S ln2 I ~ χ² with (m_R − 1)(m_F − 1) degrees of freedom (occupied)."""
    n = joint.sum(axis=(-2, -1))
    m_r = (joint.sum(axis=-1) > 0).sum(axis=-1)
    m_f = (joint.sum(axis=-2) > 0).sum(axis=-1)
    df = (m_r - 1) * (m_f - 1)
    g = 2.0 * n * LN2 * mi_raw
    p = stats.chi2.sf(g, np.maximum(df, 1))
    return np.where(df > 0, p, 1.0)


def kl_selectivity(joint: np.ndarray) -> np.ndarray:
    """max_f D_KL(p(R | F=f) ‖ p(R)) in bits for contingency tables ``(..., B, L)``."""
    n = joint.sum(axis=(-2, -1)).astype(np.float64)
    n_b = joint.sum(axis=-1).astype(np.float64)
    n_f = joint.sum(axis=-2).astype(np.float64)
    safe_f = np.maximum(n_f, 1.0)
    log_nb = np.log2(np.maximum(n_b, 1.0))
    cross = np.einsum("...bl,...b->...l", joint, log_nb)
    d = (
        _sum_nlogn(joint, -2) / safe_f
        - np.log2(safe_f)
        - cross / safe_f
        + np.log2(np.maximum(n, 1.0))[..., None]
    )
    d = np.where(n_f > 0, d, -np.inf)
    return np.maximum(d.max(axis=-1), 0.0)


def level_moments(
    values: np.ndarray, codes: np.ndarray, n_levels: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return per-level count, sum and sum of squares, each of shape ``(..., n_levels)``.

    With one code vector ``(S,)`` shared by all rows, stimuli are sorted by level once and
    summed with ``reduceat``; codes that differ per row (shuffles) use a weighted ``bincount``.
    """
    if np.ndim(codes) == 1:
        return _moments_shared(values, codes, n_levels)
    shape = np.broadcast_shapes(values.shape, np.shape(codes))
    lead = shape[:-1]
    n_rows = int(np.prod(lead, dtype=np.int64))
    index = np.broadcast_to(codes, shape).reshape(n_rows, shape[-1]).astype(np.int64)
    index = (index + (np.arange(n_rows) * n_levels)[:, None]).ravel()
    x = np.broadcast_to(values, shape).reshape(-1).astype(np.float64)
    size = n_rows * n_levels
    count = np.bincount(index, minlength=size).reshape(*lead, n_levels)
    total = np.bincount(index, weights=x, minlength=size).reshape(*lead, n_levels)
    squares = np.bincount(index, weights=x * x, minlength=size).reshape(*lead, n_levels)
    return count, total, squares


def _moments_shared(
    values: np.ndarray, codes: np.ndarray, n_levels: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.argsort(codes, kind="stable")
    per_level = np.bincount(codes, minlength=n_levels)
    occupied = per_level > 0
    starts = np.concatenate([[0], np.cumsum(per_level)[:-1]])[occupied]
    lead = values.shape[:-1]
    # stimuli first, so that reduceat adds whole contiguous rows
    ordered = np.asarray(values, dtype=np.float64).reshape(-1, values.shape[-1]).T[order]
    total = np.zeros((n_levels, ordered.shape[1]))
    squares = np.zeros((n_levels, ordered.shape[1]))
    total[occupied] = np.add.reduceat(ordered, starts, axis=0)
    np.multiply(ordered, ordered, out=ordered)
    squares[occupied] = np.add.reduceat(ordered, starts, axis=0)
    total = total.T.reshape(*lead, n_levels)
    squares = squares.T.reshape(*lead, n_levels)
    count = np.broadcast_to(per_level, (*lead, n_levels))
    return count, total, squares


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg q-values over the last axis; NaN p-values are left out and kept NaN."""
    p = np.asarray(p, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    finite = ~np.isnan(p)
    flat_p = p.reshape(-1, p.shape[-1])
    flat_q = q.reshape(-1, p.shape[-1])
    flat_ok = finite.reshape(-1, p.shape[-1])
    # NaNs sort last (as 2 > any p) and are masked out again below
    filled = np.where(flat_ok, flat_p, 2.0)
    order = np.argsort(filled, axis=-1, kind="stable")
    ranked = np.take_along_axis(filled, order, axis=-1)
    m = flat_ok.sum(axis=-1, keepdims=True)
    rank = np.arange(1, p.shape[-1] + 1)[None, :]
    adjusted = ranked * m / rank
    adjusted = np.minimum.accumulate(adjusted[:, ::-1], axis=-1)[:, ::-1]
    adjusted = np.minimum(adjusted, 1.0)
    np.put_along_axis(flat_q, order, adjusted, axis=-1)
    flat_q[~flat_ok] = np.nan
    return flat_q.reshape(p.shape)
