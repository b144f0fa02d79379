"""Partial information decomposition of each unit's information about two factors (bits).

What a unit carries about the pair (A, B), I(R; A, B), splits into four non-negative parts
(Williams & Beer 2010): information both factors give (*redundancy*), information only A gives
(*unique A*), only B (*unique B*), and information only the combination gives (*synergy*). The
measure of redundancy is Williams and Beer's I_min (docs/roles.md says why this one); the other
atoms follow from the three mutual informations. Everything is on the unit's binned response
(plug-in counts), vectorised over units; bias is handled with shuffles that respect the design.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, get_args

import numpy as np
import xarray as xr

from factorprobe._validation import check_choice, check_int
from factorprobe.analysis._estimate import factor_rng, seed_int
from factorprobe.analysis._kernels import joint_counts
from factorprobe.analysis._kernels.pid import atoms, joint_mi, redundancy_and_mi
from factorprobe.analysis.design import FactorCodes, factor_codes
from factorprobe.analysis.quantize import (
    Quantizer,
    bins_kernel,
    check_quantizer,
    check_responses,
    effective_bins,
)
from factorprobe.analysis.significance import permuted_codes
from factorprobe.dims import FACTOR, STIMULUS, UNIT

__all__ = ["PID_CORRECTIONS", "PID_VARIABLES", "PidCorrection", "partial_information"]

PidCorrection = Literal["shuffle", "none"]
#: bias corrections of the decomposition
PID_CORRECTIONS: tuple[str, ...] = get_args(PidCorrection)
#: the variables :func:`partial_information` returns (and the unit table adds)
PID_VARIABLES: tuple[str, ...] = (
    "pid_redundancy",
    "pid_unique",
    "pid_synergy",
    "pid_mi",
    "pid_mi_joint",
)
#: count cells (units × shuffles × bins × levels) per block of the nulls
_BLOCK_CELLS = 1 << 22
_MEASURE = "Williams-Beer I_min (plug-in)"


def partial_information(
    acts: xr.DataArray,
    factors: Sequence[str] = ("size", "position"),
    *,
    n_bins: int = 8,
    quantizer: Quantizer = "quantile",
    threshold: float = 0.0,
    correction: PidCorrection = "shuffle",
    n_permutations: int = 100,
    seed: int | np.random.Generator | None = 0,
) -> xr.Dataset:
    """Redundant, unique and synergistic information of each unit about two factors, in bits.

    With R the unit's binned response and sources A, B the two factors, the specific
    information of R = r in A is I_spec(r; A) = Σ_a p(a | r) log2[p(a | r) / p(a)], and

    - redundancy = I_min = Σ_r p(r) min(I_spec(r; A), I_spec(r; B)),
    - unique A = I(R; A) − I_min, unique B = I(R; B) − I_min,
    - synergy = I(R; A, B) − I(R; A) − I(R; B) + I_min,

    so redundancy + unique A = I(R; A) and the four atoms add up to I(R; A, B). Synergy minus
    redundancy is the co-information of :func:`~factorprobe.analysis.co_information`.

    Bias (``correction="shuffle"``): the three lattice terms that shuffles can null are
    corrected, and the atoms recomputed from the corrected terms (so the identities above
    still hold):

    - I(R; A) minus its mean when A is shuffled *within the levels of B* (the unit table's
      restricted null for A), I(R; B) likewise with B shuffled within A;
    - I_min minus the larger of its means under those two nulls (in each, one factor tells
      nothing beyond the other, so the true redundancy is 0; the larger mean is the null
      closer to the data, whichever factor is the uninformative one);
    - I(R; A, B) minus its mean when the stimuli's (A, B) labels are shuffled together (which
      keeps the design's crossing), when every (A, B) cell holds 2 or more stimuli. With one
      stimulus per cell (a deterministic network on a crossed grid) the response is a
      function of the cell, I(R; A, B) = H(R) exactly and no shuffle of the design changes
      it, so synergy cannot be corrected: it keeps its plug-in value, and the corrected
      I(R; A, B) is the sum of the atoms. Synergy then holds everything neither factor
      explains alone (their interaction, what the binning adds, and any noise, which such a
      design cannot tell apart).

    Parameters
    ----------
    acts : DataArray
        Responses with dims ``("stimulus", "unit")`` and the factors as coordinates on
        ``stimulus``.
    factors : pair of str, default=("size", "position")
        The two sources A and B (groups such as ``position`` allowed), sharing no member.
    n_bins, quantizer, threshold
        Quantisation of the response (see :func:`~factorprobe.analysis.quantize`).
    correction : {"shuffle", "none"}, default="shuffle"
        Bias correction (above); ``"none"``: plug-in values.
    n_permutations : int, default=100
        Shuffles of each null.
    seed : int, Generator or None, default=0
        Seed of the shuffles.

    Returns
    -------
    Dataset
        Over ``unit`` (the input's coordinates kept) and ``factor`` (the two sources):
        ``pid_redundancy``, ``pid_synergy``, ``pid_mi_joint`` (their sum with the unique
        parts, I(R; A, B)) over ``unit``; ``pid_unique`` and ``pid_mi`` (I(R; F) = redundancy
        + unique) over ``(unit, factor)``. In bits; attrs name the measure, quantiser and nulls.

    Raises
    ------
    KeyError
        For a factor that is not on ``stimulus``.
    ValueError
        For a factor list that is not two factors sharing no member, unknown options, or
        NaN responses.

    References
    ----------
    Williams, P. L. & Beer, R. D. (2010). Nonnegative decomposition of multivariate
    information. arXiv:1004.2515.
    Timme, N. et al. (2014). Synergy, redundancy, and multivariate information measures: an
    experimentalist's perspective. J. Comput. Neurosci. 36, 119–140.
    Anderson, M. J. & ter Braak, C. J. F. (2003). J. Stat. Comput. Simul. 73, 85–113.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> a, b = np.array([0, 0, 1, 1] * 4), np.array([0, 1, 0, 1] * 4)
    >>> acts = xr.DataArray((a ^ b)[:, None].astype(float), dims=("stimulus", "unit"),
    ...                     coords={"a": ("stimulus", a), "b": ("stimulus", b)})
    >>> pid = partial_information(acts, ("a", "b"), n_bins=2, correction="none")
    >>> float(pid["pid_synergy"][0]), float(pid["pid_redundancy"][0])
    (1.0, 0.0)
    """
    where = "partial_information"
    acts = check_responses(acts, where=where)
    names = [factors] if isinstance(factors, str) else list(factors)
    if len(names) != 2 or not all(isinstance(f, str) for f in names) or names[0] == names[1]:
        raise ValueError(
            f"The 'factors' parameter of {where} must name 2 different factors; got {names}."
        )
    quantizer, n_bins, threshold = check_quantizer(
        acts, n_bins=n_bins, quantizer=quantizer, threshold=threshold, where=where
    )
    check_choice(correction, PID_CORRECTIONS, name="correction", where=where)
    n_permutations = check_int(n_permutations, name="n_permutations", where=where, minimum=1)
    a, b = (factor_codes(acts, f, where=where) for f in names)
    check_sources(a, b, where=where)
    seed = seed_int(seed)
    values = np.asarray(acts.values, dtype=np.float64)
    options: dict[str, Any] = dict(quantizer=quantizer, n_bins=n_bins, threshold=threshold)
    out = decomposition(
        values, a, b, **options, correction=correction, n_permutations=n_permutations, seed=seed
    )
    red, unique_a, unique_b, syn, mi_a, mi_b, mi_ab = out.T

    coords = {k: v for k, v in acts.coords.items() if v.dims == (UNIT,)}
    described = {
        "pid_redundancy": ((UNIT,), red, "redundant information I_min about both factors"),
        "pid_unique": (
            (UNIT, FACTOR),
            np.stack([unique_a, unique_b], axis=-1),
            "information only this factor gives (I(R; F) - redundancy)",
        ),
        "pid_synergy": (
            (UNIT,),
            syn,
            "information only the two factors together give (with one stimulus per cell: "
            "everything neither explains alone, interaction and noise)",
        ),
        "pid_mi": (
            (UNIT, FACTOR),
            np.stack([mi_a, mi_b], axis=-1),
            "I(R; F) on the decomposition's bins = redundancy + unique",
        ),
        "pid_mi_joint": ((UNIT,), mi_ab, "I(R; A, B), the sum of the four atoms"),
    }
    ds = xr.Dataset(
        {
            name: (dims, data, {"description": text, "units": "bits"})
            for name, (dims, data, text) in described.items()
        },
        coords={**coords, FACTOR: names},
    )
    ds.attrs = {
        "units": "bits",
        **decomposition_attrs(
            a, b, **options, correction=correction, n_permutations=n_permutations, seed=seed
        ),
        "n_stimuli": int(acts.sizes[STIMULUS]),
    }
    return ds


#: the columns of :func:`decomposition`, in order
DECOMPOSITION: tuple[str, ...] = (
    "redundancy",
    "unique_a",
    "unique_b",
    "synergy",
    "mi_a",
    "mi_b",
    "mi_joint",
)
#: units per block of the decomposition: its shuffles are summed in blocks sized for this many
#: units whatever the input's size, so a unit gets the same bits in any chunk of units
_UNIT_BLOCK = 256


def decomposition(
    values: np.ndarray,
    a: FactorCodes,
    b: FactorCodes,
    *,
    quantizer: str,
    n_bins: int,
    threshold: float,
    correction: str,
    n_permutations: int,
    seed: int,
) -> np.ndarray:
    """The decomposition of validated responses ``(U, S)``: ``(U, 7)`` float64 in bits.

    Columns in the order of :data:`DECOMPOSITION` (the four atoms, then I(R; A), I(R; B) and
    I(R; A, B), bias-corrected as :func:`partial_information` says). Options must be valid
    (checked by the caller); each unit's result depends on its own responses, the design and
    the seed only, so blocks of units can be computed separately (the unit table's dask path).
    """
    values = np.asarray(values, dtype=np.float64)
    n_levels = effective_bins(quantizer, n_bins)
    cell, n_cells, replicated = _cells(a, b)
    out = np.empty((values.shape[0], len(DECOMPOSITION)))
    for start in range(0, values.shape[0], _UNIT_BLOCK):
        rows = slice(start, start + _UNIT_BLOCK)
        bins = bins_kernel(values[rows], quantizer, n_bins, threshold)
        counts_a = joint_counts(bins, n_levels, a.codes, a.n_levels)
        counts_b = joint_counts(bins, n_levels, b.codes, b.n_levels)
        counts_ab = joint_counts(bins, n_levels, cell, n_cells)
        terms = (*redundancy_and_mi(counts_a, counts_b), joint_mi(counts_ab))
        if correction == "shuffle":
            design = (a, b, cell, n_cells, n_permutations, seed, replicated)
            fixed = {"a": counts_b, "b": counts_a}  # each null keeps the other factor's table
            terms = _corrected(terms, _null_means(bins, n_levels, fixed, *design))
        out[rows] = np.stack([*atoms(*terms), *terms[1:]], axis=-1)
    return out


def decomposition_attrs(
    a: FactorCodes,
    b: FactorCodes,
    *,
    quantizer: str,
    n_bins: int,
    threshold: float,
    correction: str,
    n_permutations: int,
    seed: int,
) -> dict[str, object]:
    """NetCDF-safe attrs of :func:`decomposition`: measure, factors, quantiser and nulls."""
    replicated = _cells(a, b)[2]
    return {
        "measure": _MEASURE,
        "factors": f"{a.name},{b.name}",
        "quantizer": quantizer,
        "n_bins": effective_bins(quantizer, n_bins),
        "threshold": threshold,
        "correction": correction,
        "n_permutations": n_permutations if correction == "shuffle" else 0,
        "seed": seed,
        "null": (
            f"I(R; {a.name}): {a.name} shuffled within levels of {b.name}; I(R; {b.name}): "
            f"{b.name} shuffled within levels of {a.name}; redundancy: the larger null mean "
            "of the two"
            if correction == "shuffle"
            else "none"
        ),
        "joint_correction": (
            "none"
            if correction == "none"
            else "(A, B) labels shuffled together"
            if replicated
            else "none: one stimulus per (A, B) cell; synergy keeps its plug-in value and "
            "I(R; A, B) is the sum of the corrected atoms"
        ),
    }


def check_sources(a: FactorCodes, b: FactorCodes, *, where: str) -> None:
    """Raise when the two sources share a member (``position`` and ``x``)."""
    shared = set(a.members) & set(b.members)
    if shared:
        raise ValueError(
            f"The factors {[a.name, b.name]} of {where} share {sorted(shared)}; name two "
            f"factors that share no coordinate (e.g. 'size' and 'position')."
        )


def _cells(a: FactorCodes, b: FactorCodes) -> tuple[np.ndarray, int, bool]:
    """The joint (A, B) code of each stimulus over the observed combinations, their number,
    and whether every combination holds 2 or more stimuli."""
    pairs = a.codes * b.n_levels + b.codes
    unique, cell = np.unique(pairs, return_inverse=True)
    cell = cell.reshape(-1).astype(np.int64)
    return cell, len(unique), bool(np.bincount(cell, minlength=len(unique)).min() >= 2)


def _null_means(bins, n_bins, fixed, a, b, cell, n_cells, n_permutations, seed, replicated):
    """Mean over shuffles of (I_min, I(R; A)) with A within B, (I_min, I(R; B)) with B within
    A, and of I(R; A, B) with the cells shuffled (only when ``replicated``), ``(U,)`` each;
    ``fixed`` holds the unshuffled factor's counts of each null (keys "a" and "b")."""
    tag = f"pid:{a.name}|{b.name}"
    out = {}
    for key, moved, strata in (("a", a, b), ("b", b, a)):
        perms = permuted_codes(
            moved.codes, n_permutations, factor_rng(seed, f"{tag}:{key}"), strata=strata.codes
        )
        fixed_counts = fixed[key][:, None]

        def statistic(block, moved=moved, fixed_counts=fixed_counts):
            counts = joint_counts(bins[:, None, :], n_bins, block[None], moved.n_levels)
            red, mi_moved, _ = redundancy_and_mi(counts, fixed_counts)
            return np.stack([red, mi_moved])

        out[key] = _mean_over_blocks(statistic, perms, _UNIT_BLOCK * n_bins * moved.n_levels)
    if replicated:
        perms = permuted_codes(cell, n_permutations, factor_rng(seed, f"{tag}:joint"))

        def joint_statistic(block):
            counts = joint_counts(bins[:, None, :], n_bins, block[None], n_cells)
            return joint_mi(counts)[None]

        cells = _UNIT_BLOCK * n_bins * n_cells
        out["joint"] = _mean_over_blocks(joint_statistic, perms, cells)[0]
    else:
        # no shuffle of the design moves I(R; A, B): correct it by what the other terms
        # lose, which leaves synergy at its plug-in value
        out["joint"] = out["a"][1] + out["b"][1] - np.maximum(out["a"][0], out["b"][0])
    return out


def _mean_over_blocks(statistic, perms: np.ndarray, cells_per_shuffle: int) -> np.ndarray:
    """Mean over shuffles of ``statistic(block) -> (k, U, p)``, shuffles taken in blocks that
    keep the counts near :data:`_BLOCK_CELLS` cells."""
    step = max(1, _BLOCK_CELLS // max(1, cells_per_shuffle))
    total = None
    for start in range(0, len(perms), step):
        part = statistic(perms[start : start + step]).sum(axis=-1)
        total = part if total is None else total + part
    assert total is not None  # n_permutations >= 1, checked by the callers
    return total / len(perms)


def _corrected(terms, nulls):
    red, mi_a, mi_b, mi_ab = terms
    red_null = np.maximum(nulls["a"][0], nulls["b"][0])
    return red - red_null, mi_a - nulls["a"][1], mi_b - nulls["b"][1], mi_ab - nulls["joint"]
