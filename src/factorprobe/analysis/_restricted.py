"""Design-respecting nulls and within-stratum statistics of the unit table (DESIGN §5.5).

On a crossed grid (every size × position cell present, equally often) a free shuffle of a
factor's labels breaks the grid's balance: each position no longer holds every size once, so
the null's MI is higher than anything an uncoded factor can reach and the corrected MI of an
uncoded factor goes negative. The null here shuffles a factor only within its *strata*, the
joint levels of the other factors of the design (:func:`design_strata`; restricted
permutations, Anderson & ter Braak 2003), which keeps the design intact.

Two statistics use it:

- the *marginal* I(R; F) on the table's global bins or copula scores: its null under
  restricted shuffles depends on how the unit's responses fall into the strata, so it is
  estimated per unit, from the first :func:`correction_permutations` shuffles (100 up to 2250
  stimuli, fewer for larger designs, whose null is narrower), and only used
  for the bias correction of ``mi``;
- the *within-stratum* statistic, ``eta_squared_within``: the responses ranked within each
  stratum (ties in a seeded random order) and turned into normal scores, then the factor's η²
  on those scores over all stimuli (a normal-scores version of Friedman's test, which ranks
  within blocks). It is the same for both MI estimators. A weak code riding on a strong one
  (position on size) decides the order within each size level however small it is, so it is
  seen. Every unit's within-stratum scores are a rearrangement of one canonical vector per
  stratum, so its null is shared by all units (computed once, from all ``n_permutations``
  shuffles) and gives the p-values.

The strata of a factor are the compared factors that share no member with it, then every other
analysed factor or varied stimulus coordinate crossed with it (:func:`design_strata`).

Everything here is NumPy on ``(U, S)`` arrays, with no labels.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse, special

from factorprobe.analysis import _kernels
from factorprobe.analysis.design import FactorCodes, crossed
from factorprobe.analysis.significance import permuted_codes, pvalues_from_null, unit_null

#: Restricted shuffles per unit for the null mean of the marginal MI (the bias correction of
#: ``mi``), at most; its Monte Carlo error is about sd(null) / 10, under 0.005 bits on the
#: planted grids.
CORRECTION_PERMUTATIONS = 100
#: Stimuli × shuffles per unit that the correction may cost: the null's spread shrinks as
#: 1 / stimuli, so large designs need fewer shuffles for the same absolute error (at 50 000
#: stimuli, 10 shuffles leave an error of about 1e-4 bits for 100 levels).
CORRECTION_BUDGET = 100 * 2250
#: Fewest shuffles of the correction.
CORRECTION_MINIMUM = 10


def correction_permutations(n_permutations: int, n_stimuli: int) -> int:
    """Shuffles per unit for the restricted null mean of ``mi``: ``min(n_permutations, 100)``
    up to 2250 stimuli, then fewer (at least 10) so that stimuli × shuffles stays within
    :data:`CORRECTION_BUDGET`."""
    by_budget = max(CORRECTION_MINIMUM, -(-CORRECTION_BUDGET // max(1, n_stimuli)))
    return max(0, min(n_permutations, CORRECTION_PERMUTATIONS, by_budget))


#: Elements per block of the per-unit null (bounds memory at a few tens of MB).
BLOCK_ELEMENTS = 1 << 22


@dataclass(frozen=True)
class Strata:
    """The strata of one factor: the joint levels of the other factors of the design.

    ``codes (S,)`` the stratum of each stimulus; ``names`` the factors that make them. For each
    position of the stimuli sorted by stratum (stable): ``rank_in_stratum`` its rank within its
    stratum and ``scores_at_rank`` the normal score Φ⁻¹((k + 1) / (n_g + 1)) of that rank k in a
    stratum of n_g stimuli. ``movable``: the fraction of stimuli in strata holding 2 or more
    levels of the factor (the room a restricted shuffle has).
    """

    codes: np.ndarray
    names: tuple[str, ...]
    rank_in_stratum: np.ndarray
    scores_at_rank: np.ndarray
    movable: float

    def describe(self) -> str:
        joint = self.names[0] if len(self.names) == 1 else f"({', '.join(self.names)})"
        return f"within levels of {joint}"


def design_strata(
    factors: list[FactorCodes], compared: list[str], design: Sequence[FactorCodes] = ()
) -> tuple[Strata | None, ...]:
    """The strata of every factor: the joint levels of the other factors of the design.

    For a factor F these are the compared factors that share no member with it (size's are the
    positions, position's and x's the sizes), and then every other analysed factor or varied
    stimulus coordinate (``design``: shape, rotation, ...) that shares no member with F, is not
    a function of those already chosen, and is crossed with F (each of its levels holds F's
    levels in F's proportions): y's strata are (size, x); with four shapes per grid point,
    position's are (size, shape). A compared factor that determines F (position for the
    distance from the centre) is left out, since F cannot move within its levels. A factor left
    without strata (no other compared factor, or none within which it varies) is shuffled
    freely (None).
    """
    by_name = {f.name: f for f in [*factors, *design]}
    candidates = [f.name for f in [*factors, *design] if f.name not in compared]
    out: list[Strata | None] = []
    cache: dict[tuple[str, ...], np.ndarray] = {}
    for f in factors:
        chosen: list[str] = []
        covered: set[str] = set(f.members)
        for name in compared:
            g = by_name[name]
            # a factor that g determines (eccentricity of position) cannot move within g
            if name != f.name and not set(g.members) & set(f.members) and not determines(g, f):
                chosen.append(name)
                covered |= set(g.members)
        if not chosen:
            out.append(None)
            continue
        for name in candidates:
            g = by_name[name]
            if set(g.members) <= covered or set(g.members) & set(f.members):
                continue
            if crossed(f, g):
                chosen.append(name)
                covered |= set(g.members)
        names = tuple(chosen)
        if names not in cache:
            codes = np.zeros(len(f.codes), dtype=np.int64)
            for name in names:
                key = codes * by_name[name].n_levels + by_name[name].codes
                codes = np.unique(key, return_inverse=True)[1].reshape(-1).astype(np.int64)
            cache[names] = codes
        strata = _strata(cache[names], names, f)
        # no stratum holds two levels of f: the other factors determine it, nothing can move
        out.append(strata if strata.movable > 0 else None)
    return tuple(out)


def determines(g: FactorCodes, f: FactorCodes) -> bool:
    """Whether each level of ``g`` holds a single level of ``f`` (f is a function of g)."""
    return len(np.unique(g.codes * f.n_levels + f.codes)) == g.n_levels


def _strata(codes: np.ndarray, names: tuple[str, ...], f: FactorCodes) -> Strata:
    sizes = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    sorted_codes = np.sort(codes, kind="stable")
    rank = np.arange(len(codes)) - starts[sorted_codes]
    scores = special.ndtri((rank + 1.0) / (sizes[sorted_codes] + 1.0))
    levels_per = np.bincount(np.unique(codes * f.n_levels + f.codes) // f.n_levels)
    movable = float(sizes[levels_per >= 2].sum()) / max(1, len(codes))
    return Strata(codes, names, rank, scores, movable)


def restricted_shuffles(
    codes: np.ndarray, strata: Strata, n_permutations: int, seed: int, factor: str
) -> np.ndarray:
    """``(P, S)`` shuffles of ``codes`` within each stratum; they depend on (seed, factor) only."""
    return np.concatenate(
        list(restricted_shuffle_blocks(codes, strata, n_permutations, seed, factor))
    )


def restricted_shuffle_blocks(
    codes: np.ndarray, strata: Strata, n_permutations: int, seed: int, factor: str
):
    """The shuffles of :func:`restricted_shuffles` in blocks of rows (memory-bounded)."""
    rng = np.random.default_rng([seed, 3, zlib.crc32(factor.encode())])
    step = max(1, BLOCK_ELEMENTS // max(1, codes.shape[-1]))
    for start in range(0, n_permutations, step):
        yield permuted_codes(codes, min(step, n_permutations - start), rng, strata=strata.codes)


def within_order(scores: np.ndarray, strata: Strata) -> np.ndarray:
    """Each row's stimuli sorted by stratum, then by ``scores`` (strictly ordered: the copula
    scores, whose ties are already broken at random), ``(U, S)`` int64."""
    # scores lie in (-9, 9): a stratum offset of 32 keeps strata apart and the order exact
    keys = scores + 32.0 * strata.codes[None, :]
    return np.argsort(keys, axis=-1, kind="stable")


def within_values(order: np.ndarray, at_rank: np.ndarray) -> np.ndarray:
    """Scatter ``at_rank (S,)``, a value for each position of the stratum-sorted order, back to
    the stimuli: ``(U, S)``."""
    out = np.empty(order.shape, dtype=at_rank.dtype)
    np.put_along_axis(out, order, np.broadcast_to(at_rank, order.shape), axis=-1)
    return out


def flat_within(values: np.ndarray, order: np.ndarray, strata: Strata) -> np.ndarray:
    """True for units whose responses are constant within every stratum ``(U,)``: a function
    of the other factors only, with no within-stratum variation to test."""
    ordered = np.take_along_axis(values, order, axis=-1)
    first = np.flatnonzero(strata.rank_in_stratum == 0)
    last = np.concatenate([first[1:], [values.shape[-1]]]) - 1
    return (ordered[:, first] == ordered[:, last]).all(axis=-1)


def within_eta_squared(scores: np.ndarray, codes: np.ndarray, n_levels: int) -> np.ndarray:
    """η² of the factor on within-stratum normal scores ``(..., S)``: SS between the factor's
    levels over the total SS (the total is the same for every unit of a design)."""
    count, total, _ = _kernels.level_moments(scores, codes, n_levels)
    n = count.sum(axis=-1)
    grand = total.sum(axis=-1)
    squares = np.einsum("...s,...s->...", scores, scores)
    ss_total = squares - grand**2 / n
    ss_between = (total**2 / np.maximum(count, 1)).sum(axis=-1) - grand**2 / n
    return np.where(ss_total > 0, ss_between / np.where(ss_total > 0, ss_total, 1.0), 0.0)


def shared_within_null(canonical: np.ndarray, perms: np.ndarray, n_levels: int) -> np.ndarray:
    """Null of the within-stratum statistic ``(1, P)``, shared by every unit: the canonical unit
    ``(S,)`` (within-stratum scores in the stratum-sorted order, :func:`canonical_unit`)
    against the restricted shuffles."""
    return within_eta_squared(canonical[None, None, :], perms[None], n_levels)


def canonical_unit(strata: Strata) -> np.ndarray:
    """Within-stratum normal scores of a unit whose stimuli are already in rank order."""
    order = np.argsort(strata.codes, kind="stable")[None]
    return within_values(order, strata.scores_at_rank)[0]


def shuffle_matrix(perms: np.ndarray, n_levels: int) -> sparse.csr_array:
    """The one-hot of each shuffle's levels stacked ``(P·L, S)``: times responses ``(S, U)`` it
    gives every shuffle's per-level sums at once."""
    n_perm, n = perms.shape
    rows = (perms + (np.arange(n_perm) * n_levels)[:, None]).ravel()
    cols = np.tile(np.arange(n), n_perm)
    ones = np.ones(rows.size)
    return sparse.csr_array((ones, (rows, cols)), shape=(n_perm * n_levels, n))


def copula_null_mean(
    scores: np.ndarray, perms: np.ndarray, n_levels: int, matrix: sparse.csr_array | None = None
) -> np.ndarray:
    """Mean over the shuffles ``perms (P, S)`` of each unit's copula MI (maximum likelihood,
    as ``mi_raw``), ``(U,)`` in bits, from sparse products for the per-level moments."""
    n_perm, n = perms.shape
    columns = np.ascontiguousarray(scores.T)
    squares = columns * columns
    counts = np.bincount(perms[0], minlength=n_levels).astype(np.float64)
    grand = columns.sum(axis=0)
    ss_all = squares.sum(axis=0) - grand**2 / n
    tiny = np.finfo(np.float64).tiny
    h_all = 0.5 * np.log(np.maximum(ss_all / n, tiny))
    weights = counts / n
    matrix = shuffle_matrix(perms, n_levels) if matrix is None else matrix
    conditional = np.zeros(columns.shape[1])
    step = max(1, BLOCK_ELEMENTS // max(1, n_levels * columns.shape[1]))
    for start in range(0, n_perm, step):
        stop = min(start + step, n_perm)
        part = matrix[start * n_levels : stop * n_levels]
        total = (part @ columns).reshape(stop - start, n_levels, -1)
        square = (part @ squares).reshape(stop - start, n_levels, -1)
        ss_level = square - total**2 / counts[:, None]
        ss_level /= counts[:, None]
        np.maximum(ss_level, tiny, out=ss_level)
        np.log(ss_level, out=ss_level)
        conditional += np.einsum("plu,l->u", ss_level, 0.5 * weights)
    return (h_all - conditional / n_perm) / _kernels.LN2


def plugin_null_mean(bins: np.ndarray, n_bins: int, perms: np.ndarray, n_levels: int) -> np.ndarray:
    """Mean over the shuffles of each unit's plug-in MI on its own bins, ``(U,)`` in bits."""
    n_units, n = bins.shape
    total = np.zeros(n_units)
    step = max(1, BLOCK_ELEMENTS // max(1, n_units * n))
    for start in range(0, len(perms), step):
        block = perms[start : start + step]
        joint = _kernels.joint_counts(bins[:, None, :], n_bins, block[None], n_levels)
        total += _kernels.plugin_mi(joint).sum(axis=-1)
    return total / len(perms)


@dataclass(frozen=True)
class RestrictedNull:
    """What every block of units shares for one restricted factor: the within-stratum null
    ``(1, P)`` and the first shuffles for the marginal null mean (with their sparse one-hot)."""

    within: np.ndarray | None
    correction_perms: np.ndarray | None
    matrix: sparse.csr_array | None


def restricted_null(options, factor: FactorCodes, strata: Strata) -> RestrictedNull:
    """The shared part of a restricted factor's statistics, from ``options.n_permutations``
    shuffles within the strata (memory-bounded blocks)."""
    n_perm = options.n_permutations
    if not options.needs_null or n_perm < 1:
        return RestrictedNull(None, None, None)
    n_first = correction_permutations(n_perm, len(factor.codes))
    canonical = canonical_unit(strata)
    within_blocks: list[np.ndarray] = []
    first_blocks: list[np.ndarray] = []
    for block in restricted_shuffle_blocks(factor.codes, strata, n_perm, options.seed, factor.name):
        within_blocks.append(shared_within_null(canonical, block, factor.n_levels))
        kept = sum(len(b) for b in first_blocks)
        if kept < n_first:
            first_blocks.append(block[: n_first - kept])
    within = np.concatenate(within_blocks, axis=-1)
    first = np.ascontiguousarray(np.concatenate(first_blocks))
    matrix = shuffle_matrix(first, factor.n_levels) if options.estimator == "copula" else None
    return RestrictedNull(within, first, matrix)


@dataclass(frozen=True)
class RestrictedStatistics:
    """Per-unit results of a restricted factor, all ``(U,)``: the marginal MI's null mean, the
    within-stratum statistic (0 for a unit flat within every stratum) and its p-value."""

    null_mean: np.ndarray
    within: np.ndarray
    p_value: np.ndarray


def restricted_statistics(
    values: np.ndarray,
    strict_scores: np.ndarray,
    prepared,
    factor: FactorCodes,
    strata: Strata,
    null: RestrictedNull,
    options,
    cache: dict,
) -> RestrictedStatistics:
    """The marginal MI's restricted null mean and the within-stratum statistic with its
    permutation p-value, for a block of units ``values (U, S)``.

    ``strict_scores`` are the units' copula scores (strictly ordered, ties broken at random),
    ``prepared`` the table's bins/scores, ``cache`` a dict shared by the factors of one block
    (factors with the same strata share the within-stratum transform).
    """
    n_units = values.shape[0]
    nan = np.full(n_units, np.nan)
    if null.within is None:
        return RestrictedStatistics(nan, nan, nan)
    assert null.correction_perms is not None  # restricted_null sets it with within
    if options.correction == "shuffle":
        if options.estimator == "copula":
            null_mean = copula_null_mean(
                prepared.scores, null.correction_perms, factor.n_levels, null.matrix
            )
        else:
            null_mean = plugin_null_mean(
                np.ascontiguousarray(prepared.bins),
                prepared.n_bins,
                null.correction_perms,
                factor.n_levels,
            )
    else:
        null_mean = nan
    if strata.names not in cache:
        order = within_order(strict_scores, strata)
        transformed = within_values(order, strata.scores_at_rank)
        cache[strata.names] = (transformed, flat_within(values, order, strata))
    transformed, flat = cache[strata.names]
    raw = within_eta_squared(transformed, factor.codes, factor.n_levels)
    p_value, _ = pvalues_from_null(raw, np.zeros(n_units, dtype=np.int64), null.within)
    within = np.where(flat, 0.0, raw)
    p_value = np.where(flat, 1.0, p_value)
    return RestrictedStatistics(null_mean, within, p_value)


def restricted_family_wise(
    within: tuple[np.ndarray, np.ndarray],
    observed: np.ndarray,
    factor: FactorCodes,
    strata: Strata,
    null: RestrictedNull,
    options,
) -> tuple[np.ndarray, np.ndarray]:
    """Observed ``(U,)`` and null ``(U, P)`` standardised within-stratum statistics under
    restricted shuffles shared by every unit (the Westfall–Young maximum needs the same
    shuffles across units), standardised by the shared within-stratum null. ``within`` is the
    block's within-stratum transform and flat units, ``observed`` the statistic already
    computed (:func:`restricted_statistics`)."""
    transformed, flat = within
    perms = restricted_shuffles(
        factor.codes, strata, options.n_permutations, options.seed + 1, factor.name
    )

    def statistic(block: np.ndarray) -> np.ndarray:
        return within_eta_squared(transformed[:, None, :], block[None], factor.n_levels)

    # family-wise shuffles come with the within-stratum null (restricted_statistics filled
    # the block's within transform only when there is one)
    assert null.within is not None
    mean = float(null.within.mean())
    sd = float(null.within.std())
    sd = sd if sd > 0 else np.inf
    observed = np.where(flat, -np.inf, (observed - mean) / sd)
    null_stat = unit_null(statistic, perms, transformed.shape[0])
    return observed, np.where(flat[:, None], -np.inf, (null_stat - mean) / sd)
