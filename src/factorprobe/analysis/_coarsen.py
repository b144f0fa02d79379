"""Coarser factors from finer ones: a factor that is a function of another (x of position)
gets its per-level tables by summing the finer factor's levels."""

from __future__ import annotations

import numpy as np

from factorprobe.analysis.design import FactorCodes


def coarsen(values: np.ndarray, merge: tuple[np.ndarray, np.ndarray], axis: int = -1) -> np.ndarray:
    """Sums over the finer levels along ``axis`` into the coarser ones, ``L_parent`` to
    ``L_child``; a broadcast row (the level counts) is merged once, not once per unit."""
    order, starts = merge
    if axis == -1 and values.strides[:-1] and not any(values.strides[:-1]):
        row = values.reshape(-1, values.shape[-1])[0]
        merged = np.add.reduceat(row[order], starts)
        return np.broadcast_to(merged, (*values.shape[:-1], len(starts)))
    # each coarse level's fine levels made contiguous, then summed in one pass (exact for counts)
    return np.add.reduceat(np.take(values, order, axis=axis), starts, axis=axis)


def coarsening(parent: FactorCodes, child: FactorCodes) -> tuple[np.ndarray, np.ndarray] | None:
    """How ``child``'s levels group ``parent``'s if ``child`` is a function of ``parent``:
    the parent levels ordered by child level and where each child level starts; else None."""
    if parent.n_levels <= child.n_levels:
        return None
    first = np.unique(parent.codes, return_index=True)[1]
    mapping = child.codes[first]
    if not np.array_equal(mapping[parent.codes], child.codes):
        return None
    order = np.argsort(mapping, kind="stable")
    starts = np.concatenate([[0], np.cumsum(np.bincount(mapping, minlength=child.n_levels))[:-1]])
    return order, starts
