"""Permutation nulls (shared across units with identical bin counts), p-values and FDR/FWER control.

Under a permutation of the factor labels, the null distribution of a unit's plug-in MI depends
only on the unit's bin counts (and the factor's level counts): a unit whose bins are a
rearrangement of another's has the same null. Quantile bins give almost every unit the same
counts, so one null of P shuffles serves them all; the Gaussian copula makes every unit a
rearrangement of the same normal scores, so one null serves every unit exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
import xarray as xr

from factorprobe.analysis import _kernels
from factorprobe.dims import LAYER, UNIT

__all__ = ["benjamini_hochberg"]

# elements per block of permutation work (bounds memory at a few hundred MB)
BLOCK_ELEMENTS = 1 << 23
TIE_TOLERANCE = 1e-9


def permuted_codes(
    codes: np.ndarray,
    n_permutations: int,
    rng: np.random.Generator,
    strata: np.ndarray | None = None,
) -> np.ndarray:
    """Return ``(P, S)`` shuffles of ``codes``; with ``strata``, only within each stratum."""
    n = codes.shape[-1]
    if strata is None:
        return rng.permuted(np.tile(codes, (n_permutations, 1)), axis=1)
    keys = strata[None, :] + rng.random((n_permutations, n))
    source = np.argsort(keys, axis=1)
    target = np.argsort(strata, kind="stable")
    out = np.empty((n_permutations, n), dtype=codes.dtype)
    out[:, target] = codes[source]
    return out


def permutation_blocks(
    codes: np.ndarray, n_permutations: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """The shuffles of :func:`permuted_codes` in blocks of rows, so that memory stays bounded.

    The generator permutes row after row, so the blocks together are exactly the ``(P, S)``
    array that one call would give.
    """
    n = codes.shape[-1]
    step = max(1, BLOCK_ELEMENTS // max(1, n))
    for start in range(0, n_permutations, step):
        rows = min(step, n_permutations - start)
        yield rng.permuted(np.tile(codes, (rows, 1)), axis=1)


def shared_plugin_null(
    bin_counts: np.ndarray,
    shuffles: np.ndarray | Callable[[], Iterable[np.ndarray]],
    n_levels: int,
    known: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Null plug-in MI for every distinct bin-count profile.

    Parameters: ``bin_counts (U, B)`` per unit; ``shuffles``, permuted factor codes ``(P, S)``
    or a callable yielding them in blocks ``(p, S)``; ``known``, profiles and their nulls
    ``((G', B), (G', P))`` computed before.
    Returns ``group (U,)``, the profile of each unit, and ``null (G, P)`` in bits.
    """
    profiles, group = np.unique(bin_counts, axis=0, return_inverse=True)
    group = group.reshape(-1)
    n_groups, n_bins = profiles.shape
    null = np.full((n_groups, 0), np.nan)
    missing = np.ones(n_groups, dtype=bool)
    if known is not None and len(known[0]):
        # a profile's null does not depend on which units have it or which block they are in
        match = (profiles[:, None, :] == known[0][None, :, :]).all(axis=-1)
        found = match.any(axis=1)
        null = np.empty((n_groups, known[1].shape[1]))
        null[found] = known[1][match[found].argmax(axis=1)]
        missing = ~found
    if not missing.any():
        return group, null
    todo = profiles[missing]
    if isinstance(shuffles, np.ndarray):
        perms_array = shuffles
        shuffles = lambda: [perms_array]  # noqa: E731
    blocks = []
    cum = np.cumsum(todo, axis=1)
    for perms in shuffles():
        n_perm, n = perms.shape
        part = np.empty((len(todo), n_perm))
        step = max(1, BLOCK_ELEMENTS // (n_perm * max(n, n_bins * n_levels)))
        stimuli = np.arange(n)
        for start in range(0, len(todo), step):
            stop = min(start + step, len(todo))
            # the canonical unit of a profile: bin k repeated counts[k] times
            canonical = _canonical(cum[start:stop], stimuli)
            joint = _kernels.joint_counts(canonical[:, None, :], n_bins, perms[None], n_levels)
            part[start:stop] = _kernels.plugin_mi(joint)
        blocks.append(part)
    computed = np.concatenate(blocks, axis=1)
    if null.shape[1] == 0:
        return group, computed
    null[missing] = computed
    return group, null


def _canonical(cum: np.ndarray, stimuli: np.ndarray) -> np.ndarray:
    return (stimuli[None, :, None] >= cum[:, None, :]).sum(axis=-1)


def pvalues_from_null(
    observed: np.ndarray, group: np.ndarray, null: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Permutation p-value (1 + #{null ≥ observed}) / (1 + P) and null mean, per unit.

    ``observed (U,)``, ``group (U,)`` indexes the rows of ``null (G, P)``.
    """
    n_groups, n_perm = null.shape
    ordered = np.sort(null, axis=1)
    low = min(ordered.min(initial=0.0), observed.min(initial=0.0))
    span = max(ordered.max(initial=0.0), observed.max(initial=0.0)) - low + 1.0
    offsets = np.arange(n_groups) * span
    flat = (ordered - low + offsets[:, None]).ravel()
    query = observed - low - TIE_TOLERANCE + offsets[group]
    below = np.searchsorted(flat, query, side="left") - group * n_perm
    exceed = n_perm - below
    return (1.0 + exceed) / (1.0 + n_perm), null.mean(axis=1)[group]


def unit_null(
    statistic: Callable[[np.ndarray], np.ndarray], perms: np.ndarray, n_units: int
) -> np.ndarray:
    """Null statistic per unit with the same shuffles for all units: ``(U, P)``.

    ``statistic`` maps permuted codes ``(p, S)`` to ``(U, p)``; called on blocks of shuffles so
    that memory stays bounded. Costs P × U × S: used for conditional shuffles and the FWER.
    """
    n_perm, n = perms.shape
    step = max(1, BLOCK_ELEMENTS // max(1, n_units * n))
    out = np.empty((n_units, n_perm))
    for start in range(0, n_perm, step):
        stop = min(start + step, n_perm)
        out[:, start:stop] = statistic(perms[start:stop])
    return out


def max_statistic_pvalues(
    statistic: np.ndarray, null_statistic: np.ndarray, family: np.ndarray
) -> np.ndarray:
    """Westfall–Young single-step max-statistic adjusted p-values (family-wise error control).

    ``statistic (U, K)`` observed standardised statistics; ``null_statistic (U, K, P)`` the same
    statistic under shuffles shared by all units of a family; ``family (U,)`` the integer family
    of each unit (its layer). The maximum is taken over all units and factors of a family:
    p = (1 + #{max null ≥ observed}) / (1 + P).
    """
    adjusted = np.empty(statistic.shape)
    n_perm = null_statistic.shape[-1]
    for fam in np.unique(family):
        members = family == fam
        maxima = np.sort(null_statistic[members].max(axis=(0, 1)))
        below = np.searchsorted(maxima, statistic[members] - TIE_TOLERANCE, side="left")
        adjusted[members] = (1.0 + n_perm - below) / (1.0 + n_perm)
    return adjusted


def benjamini_hochberg(p_value: xr.DataArray, *, by: str | None = LAYER) -> xr.DataArray:
    """Benjamini–Hochberg q-values, over all tests of each group of units (default: each layer).

    Parameters
    ----------
    p_value : DataArray
        p-values with a ``unit`` dimension and any others (e.g. ``factor``); NaN is ignored.
    by : str or None, default="layer"
        Coordinate on ``unit`` whose groups form separate families; None for one family. If the
        coordinate is absent, all units form one family.

    Returns
    -------
    DataArray
        q-values, same dims and coordinates, named ``q_value``.

    References
    ----------
    Benjamini, Y. & Hochberg, Y. (1995). Controlling the false discovery rate: a practical and
    powerful approach to multiple testing. J. R. Stat. Soc. B 57, 289–300.

    Examples
    --------
    >>> import xarray as xr
    >>> p = xr.DataArray([0.01, 0.04, 0.03, 0.2], dims="unit")
    >>> benjamini_hochberg(p).round(3).values.tolist()
    [0.04, 0.053, 0.053, 0.2]
    """
    if not isinstance(p_value, xr.DataArray) or UNIT not in p_value.dims:
        raise TypeError(
            "benjamini_hochberg expects a DataArray with a 'unit' dimension; "
            f"got {type(p_value).__name__}."
        )
    ordered = p_value.transpose(UNIT, ...)
    values = np.asarray(ordered.values, dtype=np.float64)
    q = np.empty_like(values)
    if by is not None and by in ordered.coords and ordered[by].dims == (UNIT,):
        _, family = np.unique(ordered[by].values, return_inverse=True)
    else:
        family = np.zeros(values.shape[0], dtype=np.int64)
    for fam in np.unique(family):
        members = family == fam
        q[members] = _kernels.benjamini_hochberg(values[members].reshape(-1)).reshape(
            values[members].shape
        )
    out = ordered.copy(data=q).transpose(*p_value.dims)
    out.name = "q_value"
    out.attrs = {"multiple_testing": "benjamini-hochberg", "family": by or "all"}
    return out
