"""The estimation core: I(R; F) for all units and one factor, with bias correction and p-values.

One frozen :class:`Estimation` holds the validated options; :func:`prepare` turns responses into
what the estimator needs (bins, copula scores), once per call; :func:`factor_statistics` returns
the raw and corrected MI, the permutation or analytic p-value and the null mean for one factor.
Everything here is NumPy on ``(U, S)`` arrays, with no labels.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from factorprobe._validation import as_rng, check_choice, check_int
from factorprobe.analysis import _kernels, significance
from factorprobe.analysis._kernels import copula as _copula
from factorprobe.analysis.quantize import (
    QUANTIZERS,
    bins_kernel,
    effective_bins,
    quantile_bins_columns,
)

Estimator = Literal["plugin", "copula"]
Correction = Literal["shuffle", "analytic", "none"]
Significance = Literal["permutation", "gtest", "none"]
ESTIMATORS: tuple[str, ...] = get_args(Estimator)
CORRECTIONS: tuple[str, ...] = get_args(Correction)
SIGNIFICANCES: tuple[str, ...] = get_args(Significance)


@dataclass(frozen=True)
class Estimation:
    """Validated estimator options (see :func:`factorprobe.analysis.mutual_information`)."""

    estimator: str = "copula"
    correction: str = "shuffle"
    significance: str = "permutation"
    n_permutations: int = 1000
    quantizer: str = "quantile"
    n_bins: int = 8
    threshold: float = 0.0
    seed: int = 0
    where: str = "mutual_information"

    def __post_init__(self) -> None:
        check_choice(self.estimator, ESTIMATORS, name="estimator", where=self.where)
        check_choice(self.correction, CORRECTIONS, name="correction", where=self.where)
        check_choice(self.significance, SIGNIFICANCES, name="significance", where=self.where)
        check_choice(self.quantizer, QUANTIZERS, name="quantizer", where=self.where)
        minimum = 1 if self.needs_null else 0
        check_int(self.n_permutations, name="n_permutations", where=self.where, minimum=minimum)

    @property
    def needs_null(self) -> bool:
        return self.correction == "shuffle" or self.significance == "permutation"

    @property
    def bins(self) -> int:
        return effective_bins(self.quantizer, self.n_bins)

    def attrs(self) -> dict[str, object]:
        """The options as NetCDF-safe attributes."""
        out: dict[str, object] = {
            "units": "bits",
            "estimator": self.estimator,
            "correction": self.correction,
            "significance": self.significance,
            "quantizer": self.quantizer,
            "n_bins": self.bins,
            "seed": self.seed,
        }
        if self.needs_null:
            out["n_permutations"] = self.n_permutations
        if self.quantizer == "threshold":
            out["threshold"] = self.threshold
        return out


def seed_int(seed: int | np.random.Generator | None) -> int:
    """An integer seed from a seed, Generator or None, so every chunk can rebuild the shuffles."""
    if seed is not None and not isinstance(seed, np.random.Generator):
        as_rng(seed)  # type check with the house message
        return int(seed)
    return int(as_rng(seed).integers(2**63 - 1))


def factor_rng(seed: int, factor: str) -> np.random.Generator:
    """The shuffles of a factor depend on the seed and the factor's name only."""
    return np.random.default_rng([seed, 0, zlib.crc32(factor.encode())])


def unit_keys(layer: np.ndarray | None, index: np.ndarray | None, n_units: int) -> np.ndarray:
    """An int64 key per unit from its ``layer`` and ``index`` coordinates (else its position):
    the copula's tie-breaking depends on (seed, key) only, so on no chunking or selection."""
    if layer is None or index is None:
        return np.arange(n_units, dtype=np.int64)
    names, inverse = np.unique(np.asarray(layer).astype(str), return_inverse=True)
    crc = np.asarray([zlib.crc32(name.encode()) for name in names], dtype=np.int64)
    return (crc[inverse.reshape(-1)] << 32) + np.asarray(index, dtype=np.int64)


@dataclass(frozen=True)
class Prepared:
    """Responses in the form the estimators use: bins always, copula scores when needed."""

    bins: np.ndarray
    n_bins: int
    constant: np.ndarray
    scores: np.ndarray | None


def prepare(
    values: np.ndarray,
    options: Estimation,
    keys: np.ndarray | None = None,
    columns: np.ndarray | None = None,
) -> Prepared:
    """Quantise (and copula-normalise) responses ``(U, S)``; one sort serves both.

    ``keys (U,)`` name the units for the copula's tie-breaking (see :func:`unit_keys`), so a
    unit's scores do not depend on the block of units it is computed with. ``columns``, the
    same responses stimuli first ``(S, U)`` and C-contiguous, may be passed: plug-in quantile
    bins are then made there (:func:`~factorprobe.analysis.quantize.quantile_bins_columns`) and
    returned as a transposed view, the same values laid out for the packed counts.
    """
    if columns is not None and options.estimator == "plugin" and options.quantizer == "quantile":
        bins, constant = quantile_bins_columns(columns, options.n_bins)
        return Prepared(bins.T, options.bins, constant, None)
    values = np.ascontiguousarray(values)
    scores = ordered = None
    if options.estimator == "copula":
        scores, ordered = _copula.rank_scores(values, options.seed, keys)
    elif options.quantizer == "quantile":
        ordered = np.sort(values, axis=-1)
    bins = bins_kernel(values, options.quantizer, options.n_bins, options.threshold, ordered)
    if ordered is not None:
        constant = ordered[..., 0] == ordered[..., -1]
    else:
        constant = (values == values[..., :1]).all(axis=-1)
    return Prepared(bins, options.bins, constant, scores)


@dataclass(frozen=True)
class FactorStatistics:
    """Per-unit results for one factor, all ``(U,)`` except the bins × levels ``table``."""

    mi: np.ndarray
    mi_raw: np.ndarray
    p_value: np.ndarray
    null_mean: np.ndarray
    table: _kernels.Contingency
    null_group: np.ndarray | None = None
    null: np.ndarray | None = None


def factor_statistics(
    prepared: Prepared,
    codes: np.ndarray,
    n_levels: int,
    options: Estimation,
    factor: str,
    joint: np.ndarray | None = None,
    score_moments: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    bin_counts: np.ndarray | None = None,
    known_null: tuple[np.ndarray, np.ndarray] | None = None,
) -> FactorStatistics:
    """Raw and corrected I(R; F), p-value and null mean for every unit and one factor.

    ``joint``, the bins × levels counts, may be passed when already known (a coarser factor's
    table is a sum over a finer one's); so may ``score_moments``, the per-level moments of the
    copula scores, ``bin_counts (U, B)``, the same for every factor, and ``known_null``, null
    distributions computed before (see :func:`shared_nulls`).
    """
    if joint is None:
        joint = _kernels.level_counts(prepared.bins, prepared.n_bins, codes, n_levels)
    # every unit sees all stimuli, so the level marginals are the factor's level counts
    level_counts = np.broadcast_to(
        np.bincount(codes, minlength=n_levels), (*joint.shape[:-2], n_levels)
    )
    table = _kernels.Contingency(joint, n_b=bin_counts, n_f=level_counts)
    occupied = (
        table.occupied() if "analytic" in (options.correction, options.significance) else None
    )
    n_units = joint.shape[0]
    if options.estimator == "plugin":
        mi_raw = table.mi()
    else:
        assert prepared.scores is not None  # prepare makes the scores for the copula
        if score_moments is None:
            score_moments = _kernels.level_moments(prepared.scores, codes, n_levels)
        mi_raw = _copula.gaussian_discrete_mi(
            prepared.scores, codes, n_levels, bias_correct=False, moments=score_moments
        )
    p_value = np.full(n_units, np.nan)
    null_mean = np.full(n_units, np.nan)
    group = null = None
    if options.needs_null:
        if options.estimator == "plugin":
            group, null = significance.shared_plugin_null(
                table.n_b, shuffles(codes, options, factor), n_levels, known=known_null
            )
        else:
            null = (
                known_null[1]
                if known_null is not None
                else copula_null(codes, n_levels, options, factor)
            )
            group = np.zeros(n_units, dtype=np.int64)
        perm_p, null_mean = significance.pvalues_from_null(mi_raw, group, null)
        if options.significance == "permutation":
            p_value = perm_p
    if options.significance == "gtest":
        if options.estimator == "plugin":
            p_value = table.gtest(mi_raw, occupied)
        else:
            p_value = _copula_lr_pvalue(mi_raw, codes.shape[-1], n_levels)

    if options.correction == "shuffle":
        mi = mi_raw - null_mean
    elif options.correction == "analytic":
        if options.estimator == "plugin":
            mi = mi_raw - table.miller_madow(occupied)
        else:
            assert prepared.scores is not None  # prepare makes the scores for the copula
            mi = _copula.gaussian_discrete_mi(
                prepared.scores, codes, n_levels, bias_correct=True, moments=score_moments
            )
    else:
        mi = mi_raw.copy()
    # a constant unit carries no information whatever the estimator's offsets say
    constant = prepared.constant
    mi = np.where(constant, 0.0, mi)
    mi_raw = np.where(constant, 0.0, mi_raw)
    if options.significance != "none":
        p_value = np.where(constant, 1.0, p_value)
    return FactorStatistics(mi, mi_raw, p_value, null_mean, table, group, null)


def shuffles(codes: np.ndarray, options: Estimation, factor: str):
    """A factory of the factor's shuffles in blocks of rows (memory-bounded, same stream)."""
    return lambda: significance.permutation_blocks(
        codes, options.n_permutations, factor_rng(options.seed, factor)
    )


def copula_null(codes: np.ndarray, n_levels: int, options: Estimation, factor: str) -> np.ndarray:
    """Null copula MI ``(1, P)``: every unit's scores are a rearrangement of the same vector."""
    scores = _copula.canonical_scores(codes.shape[-1])
    blocks = [
        _copula.gaussian_discrete_mi(scores, perms, n_levels, bias_correct=False)
        for perms in shuffles(codes, options, factor)()
    ]
    return np.concatenate(blocks)[None]


def shared_nulls(
    options: Estimation, codes: np.ndarray, n_levels: int, factor: str
) -> tuple[np.ndarray, np.ndarray] | None:
    """Null distributions of one factor known before seeing any unit: the copula's (shared by
    every unit), or the plug-in null of the bin counts that quantile bins give untied responses.

    Computed once and passed to every block of units; ``(profiles (G, B) or empty, null (G, P))``.
    """
    if not options.needs_null:
        return None
    if options.estimator == "copula":
        return np.zeros((1, 0), np.int64), copula_null(codes, n_levels, options, factor)
    if options.quantizer != "quantile":
        return None
    n = codes.shape[-1]
    profile = np.bincount(np.arange(n) * options.n_bins // n, minlength=options.n_bins)[None]
    _, null = significance.shared_plugin_null(profile, shuffles(codes, options, factor), n_levels)
    return profile, null


def _copula_lr_pvalue(mi_raw: np.ndarray, n: int, n_levels: int) -> np.ndarray:
    from scipy import stats

    return stats.chi2.sf(2.0 * n * _kernels.LN2 * mi_raw, 2 * (n_levels - 1))


def permuted_statistic(
    prepared: Prepared, perms: np.ndarray, n_levels: int, estimator: str
) -> np.ndarray:
    """Raw MI of every unit under each shuffle of a block ``perms (p, S)``: ``(U, p)``."""
    if estimator == "plugin":
        joint = _kernels.joint_counts(
            prepared.bins[:, None, :], prepared.n_bins, perms[None], n_levels
        )
        return _kernels.plugin_mi(joint)
    assert prepared.scores is not None  # prepare makes the scores for the copula
    return _copula.gaussian_discrete_mi(
        prepared.scores[:, None, :], perms[None], n_levels, bias_correct=False
    )


def null_scale(stats: FactorStatistics) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each unit's shared null, ``(U,)`` each."""
    assert stats.null is not None and stats.null_group is not None  # kept when a null is needed
    mean = stats.null.mean(axis=1)[stats.null_group]
    sd = stats.null.std(axis=1)[stats.null_group]
    return mean, np.where(sd > 0, sd, np.inf)


def family_wise_null(
    prepared: Prepared,
    stats: FactorStatistics,
    codes: np.ndarray,
    n_levels: int,
    options: Estimation,
    factor: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Observed ``(U,)`` and null ``(U, P)`` standardised MI under shuffles shared by all units.

    Each unit's MI is standardised by its own (shared-profile) null, z = (I − μ) / σ, so units
    and factors with different null distributions compete fairly in the family's maximum.
    """
    rng = np.random.default_rng([options.seed, 2, zlib.crc32(factor.encode())])
    perms = significance.permuted_codes(codes, options.n_permutations, rng)
    n_units = prepared.bins.shape[0]
    null_mi = significance.unit_null(
        lambda block: permuted_statistic(prepared, block, n_levels, options.estimator),
        perms,
        n_units,
    )
    mean, sd = null_scale(stats)
    observed = np.where(prepared.constant, -np.inf, (stats.mi_raw - mean) / sd)
    null = np.where(prepared.constant[:, None], -np.inf, (null_mi - mean[:, None]) / sd[:, None])
    return observed, null
