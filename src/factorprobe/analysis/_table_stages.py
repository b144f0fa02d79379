"""The two stages of the unit table, as NumPy on plain arrays (no labels).

The *unit stage* (:func:`unit_statistics`) computes everything that depends on one unit's
responses only, for a block of units ``(u, S)``: raw and corrected MI, permutation or analytic
p-values, null means, KL and mean-response selectivity, ω², the response entropy and, for the
family-wise correction, the unit's standardised null. It gives the same numbers for a unit
whichever block it is in (shuffles depend on the seed and factor name, the copula's tie-breaking
on the unit's key), so a dask array chunked along ``unit`` can run it chunk by chunk.

The *table stage* (:func:`table_statistics`) needs all units of a layer at once: BH q-values
per layer, the max-statistic adjustment, and the per-unit selectivity measures that depend on
the q-values. Its inputs are the small ``(unit, factor)`` outputs of the unit stage.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from factorprobe.analysis import _kernels, _restricted, selectivity
from factorprobe.analysis._coarsen import coarsen, coarsening
from factorprobe.analysis._estimate import (
    Estimation,
    factor_statistics,
    family_wise_null,
    prepare,
    shared_nulls,
)
from factorprobe.analysis._kernels import copula as _copula
from factorprobe.analysis.design import FactorCodes
from factorprobe.analysis.quantize import bins_kernel, effective_bins
from factorprobe.analysis.significance import max_statistic_pvalues

#: Per-(unit, factor) outputs of the unit stage, in the order of its last axis.
UNIT_VARIABLES: tuple[str, ...] = (
    "mi",
    "mi_raw",
    "mi_null_mean",
    "p_value",
    "kl_selectivity",
    "omega_squared",
    "mean_response_selectivity",
    "entropy",
    "eta_squared_within",
    "eta_squared",
    "entropy_threshold",
)
#: Positions of the family-wise statistics after those (observed z, then the null z).
FWER_OBSERVED = len(UNIT_VARIABLES)
#: Response values per sub-block of the unit stage: about 4 MB of float64, so that a block's
#: copies, sorted rows, bins and bins × levels tables stay in the shared CPU cache.
UNIT_BLOCK_VALUES = 1 << 19
#: Most threads the unit stage uses (one per available core, at most this many; see
#: :func:`n_threads`).
MAX_THREADS = 8


@dataclass(frozen=True)
class TablePlan:
    """What the unit stage computes: options, factor codes and how factors nest."""

    options: Estimation
    factors: tuple[FactorCodes, ...]
    family_wise: bool = False
    #: per factor in computing order: (factor position, parent position or -1, merge or None)
    steps: tuple = field(default=(), compare=False)
    #: per factor, null distributions known before any unit is seen (see ``with_nulls``)
    nulls: tuple = field(default=(), compare=False)
    #: per factor counted directly (not summed from another): its float64 and uint64 one-hot
    #: matrices (:func:`~factorprobe.analysis._kernels.plugin.level_onehot`), else None
    onehots: tuple = field(default=(), compare=False)
    #: field width of the packed bins counts (see ``_kernels.pack_bins``), None to bincount
    field_bits: int | None = field(default=None, compare=False)
    #: per factor: its strata (:class:`~factorprobe.analysis._restricted.Strata`) or None
    strata: tuple = ()
    #: per factor: the shared part of its restricted null, or None (see ``with_nulls``)
    restricted: tuple = field(default=(), compare=False)
    _memo: _NullMemo = field(default_factory=lambda: _NullMemo(), compare=False, repr=False)

    @classmethod
    def build(
        cls,
        options: Estimation,
        factors: list[FactorCodes],
        family_wise: bool,
        compared: list[str] | None = None,
        *,
        restricted: bool = True,
        design: Sequence[FactorCodes] = (),
    ) -> TablePlan:
        steps = []
        done: list[int] = []
        # a factor that is a function of another (x of position) gets its tables by summation
        for k in sorted(range(len(factors)), key=lambda i: -factors[i].n_levels):
            parent = next(
                ((p, m) for p in done if (m := coarsening(factors[p], factors[k])) is not None),
                (-1, None),
            )
            steps.append((k, parent[0], parent[1]))
            done.append(k)
        roots = {k for k, parent, _ in steps if parent < 0}
        onehots = tuple(
            tuple(_kernels.level_onehot(c.codes, c.n_levels, t) for t in (np.float64, np.uint64))
            if k in roots
            else None
            for k, c in enumerate(factors)
        )
        top = max(int(c.counts.max()) for c in factors)
        strata = (
            _restricted.design_strata(list(factors), list(compared), list(design))
            if restricted and compared
            else (None,) * len(factors)
        )
        return cls(
            options,
            tuple(factors),
            family_wise,
            tuple(steps),
            onehots=onehots,
            field_bits=_kernels.field_bits(options.bins, top),
            strata=strata,
        )

    def with_nulls(self) -> TablePlan:
        """This plan with the shared null distributions computed, once per process: the first
        block to need them computes them while the others wait (so that no thread is left free
        to read ahead chunks that would then wait in memory)."""
        if self.nulls:
            return self
        with self._memo.lock:
            if self._memo.nulls is None:
                self._memo.nulls = tuple(
                    shared_nulls(self.options, c.codes, c.n_levels, c.name) if s is None else None
                    for c, s in zip(self.factors, self.strata, strict=True)
                )
                self._memo.restricted = tuple(
                    None if s is None else _restricted.restricted_null(self.options, c, s)
                    for c, s in zip(self.factors, self.strata, strict=True)
                )
        assert self._memo.nulls is not None and self._memo.restricted is not None  # filled above
        return replace(self, nulls=self._memo.nulls, restricted=self._memo.restricted)

    def factor_options(self, k: int) -> Estimation:
        """The options of factor ``k``'s marginal statistics: a restricted factor's shuffle
        correction and permutation p-values come from :mod:`._restricted` instead."""
        if self.strata[k] is None:
            return self.options
        return replace(
            self.options,
            correction="none" if self.options.correction == "shuffle" else self.options.correction,
            significance=(
                "none" if self.options.significance == "permutation" else self.options.significance
            ),
        )

    @property
    def n_variables(self) -> int:
        """Length of the unit stage's last axis."""
        extra = 1 + self.options.n_permutations if self.family_wise else 0
        return len(UNIT_VARIABLES) + extra


class _NullMemo:
    """The shared nulls of a plan, computed once per process (a new, empty memo when pickled)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.nulls: tuple | None = None
        self.restricted: tuple | None = None

    def __reduce__(self):
        return (_NullMemo, ())


def unit_statistics(values: np.ndarray, keys: np.ndarray | None, plan: TablePlan) -> np.ndarray:
    """The unit stage for a block of units: ``(u, S)`` responses to ``(u, K, V)`` float64.

    ``V`` runs over :data:`UNIT_VARIABLES` (``entropy`` repeated over factors), then, with the
    family-wise correction, the observed standardised MI and its ``P`` null values. Units are
    processed in sub-blocks of about :data:`UNIT_BLOCK_VALUES` response values, spread over
    :func:`n_threads` threads (NumPy releases the GIL in its sorts, comparisons and sums). Each
    sub-block is computed independently and written to its own rows, so the result does not
    depend on the number of threads or sub-blocks.
    """
    plan = plan.with_nulls()
    n_units, n = values.shape
    threads = n_threads()
    n_blocks = -(-n_units * max(n, 1) // UNIT_BLOCK_VALUES)
    if n_blocks <= 1:
        return _unit_block(values, keys, plan)
    # equal blocks, as many as a multiple of the threads, so that the threads finish together
    n_blocks = min(n_units, -(-n_blocks // threads) * threads)
    bounds = np.linspace(0, n_units, n_blocks + 1).astype(np.int64)
    out = np.empty((n_units, len(plan.factors), plan.n_variables))

    def fill(block: int) -> None:
        rows = slice(bounds[block], bounds[block + 1])
        out[rows] = _unit_block(values[rows], None if keys is None else keys[rows], plan)

    # list() re-raises the first error of any block
    list(_executor().map(fill, range(n_blocks)))
    return out


def n_threads() -> int:
    """Threads of the unit stage: the cores this process may use (its CPU affinity), at most
    ``OMP_NUM_THREADS`` when that is set to a positive integer, and at most :data:`MAX_THREADS`.

    ``OMP_NUM_THREADS`` counts because dask's nanny sets it to 1 in each worker process: there
    the worker's own threads already cover the cores, and a pool of one thread per core in every
    worker would oversubscribe the machine. The shared pool (:func:`_executor`) is sized once per
    process, at its first use.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, _omp_threads() or MAX_THREADS, MAX_THREADS))


def _omp_threads() -> int | None:
    """``OMP_NUM_THREADS`` as a positive integer (its first entry, for a nested list such as
    ``"4,2"``), or None when it is unset or not a positive integer."""
    value = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


_POOL: list[ThreadPoolExecutor] = []
_POOL_LOCK = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """One pool per process, shared by every caller (dask's threads included), so that the
    threads never outnumber the cores; a forked child starts a pool of its own."""
    with _POOL_LOCK:
        if not _POOL:
            _POOL.append(ThreadPoolExecutor(n_threads(), thread_name_prefix="factorprobe"))
        return _POOL[0]


def _forget_pool() -> None:
    _POOL.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _unit_block(values: np.ndarray, keys: np.ndarray | None, plan: TablePlan) -> np.ndarray:
    options = plan.options
    values = np.asarray(values, dtype=np.float64)
    # stimuli first for the per-level sums and the bins (a copy of whole rows when the data
    # came stimuli first)
    columns = np.ascontiguousarray(values.T)
    prepared = prepare(values, options, keys, columns)
    # ω² and the mean-response index need per-level sums and each unit's total sum of squares
    sum_squares = np.einsum("su,su->u", columns, columns)[:, None]
    tables = _level_tables(prepared, columns, plan)
    # every factor's table sums to the same bin counts over its levels: take the smallest
    bin_counts = min(tables, key=lambda t: t[0].shape[-1])[0].sum(axis=-1, dtype=np.int64)
    n_units = values.shape[0]
    out = np.empty((n_units, len(plan.factors), plan.n_variables))
    strict = None
    within_cache: dict = {}
    var = {name: i for i, name in enumerate(UNIT_VARIABLES)}
    for k, (joint, sums, scores) in enumerate(tables):
        c = plan.factors[k]
        stats = factor_statistics(
            prepared,
            c.codes,
            c.n_levels,
            plan.factor_options(k),
            c.name,
            joint=joint,
            score_moments=scores,
            bin_counts=bin_counts,
            known_null=plan.nulls[k],
        )
        moments = (np.broadcast_to(c.counts, sums.shape), sums, sum_squares)
        mi, null_mean, p_value = stats.mi, stats.null_mean, stats.p_value
        eta_squared_within = np.full(n_units, np.nan)
        strata = plan.strata[k]
        # without shuffles (analytic correction, G-test) the restricted path has nothing to do
        if strata is not None and plan.restricted[k].within is not None:
            if strict is None:
                strict = (
                    prepared.scores
                    if prepared.scores is not None
                    else _copula.rank_scores(values, options.seed, keys)[0]
                )
            restricted = _restricted.restricted_statistics(
                values, strict, prepared, c, strata, plan.restricted[k], options, within_cache
            )
            # a constant unit is flat within every stratum: its statistic is 0 and p = 1 already
            eta_squared_within = restricted.within
            if options.correction == "shuffle":
                null_mean = restricted.null_mean
                mi = np.where(prepared.constant, 0.0, stats.mi_raw - null_mean)
            if options.significance == "permutation":
                p_value = restricted.p_value
        out[:, k, var["mi"]] = mi
        out[:, k, var["mi_raw"]] = stats.mi_raw
        out[:, k, var["mi_null_mean"]] = null_mean
        out[:, k, var["p_value"]] = p_value
        out[:, k, var["kl_selectivity"]] = stats.table.kl_selectivity()
        out[:, k, var["omega_squared"]] = selectivity.omega_from_moments(*moments)
        out[:, k, var["mean_response_selectivity"]] = selectivity.mean_response_from_moments(
            *moments
        )
        out[:, k, var["eta_squared_within"]] = eta_squared_within
        out[:, k, var["eta_squared"]] = selectivity.eta_from_moments(*moments)
        if plan.family_wise:
            if strata is None:
                observed, null = family_wise_null(
                    prepared, stats, c.codes, c.n_levels, options, c.name
                )
            else:
                observed, null = _restricted.restricted_family_wise(
                    within_cache[strata.names],
                    eta_squared_within,
                    c,
                    strata,
                    plan.restricted[k],
                    options,
                )
            out[:, k, FWER_OBSERVED] = observed
            out[:, k, FWER_OBSERVED + 1 :] = null
    # entropies on fixed quantisers (DESIGN §5.2): on the table's quantile bins every untied
    # unit would have log2(n_bins)
    for name, quantizer in (("entropy", "uniform"), ("entropy_threshold", "threshold")):
        bins = bins_kernel(values, quantizer, options.n_bins, options.threshold)
        n_bins = effective_bins(quantizer, options.n_bins)
        out[:, :, var[name]] = _kernels.bin_entropy(bins, n_bins)[:, None]
    return out


def _level_tables(prepared, columns: np.ndarray, plan: TablePlan) -> list[tuple]:
    """Per factor: the bins × levels counts ``(u, B, L)``, the per-level response sums
    ``(u, L)`` and (copula) the per-level score moments, a coarser factor's summed from a finer
    one's. With packed bins (:func:`~factorprobe.analysis._kernels.plugin.pack_bins`) the sums of
    packed words are coarsened, per level and not per bin, and unpacked at the end."""
    width = plan.field_bits
    words = None if width is None else _kernels.pack_bins(prepared.bins, prepared.n_bins, width)
    found: dict[int, tuple] = {}
    counts: np.ndarray | list[np.ndarray]
    scores: tuple[np.ndarray, ...] | None
    for k, parent, merge in plan.steps:
        c = plan.factors[k]
        if parent < 0:
            dense, packed = plan.onehots[k]
            if words is None:
                counts = _kernels.joint_counts(prepared.bins, prepared.n_bins, c.codes, c.n_levels)
            else:
                counts = _kernels.packed_level_sums(words, packed)
            sums = _kernels.level_sums(columns, c.codes, c.n_levels, onehot=dense)
            scores = (
                None
                if prepared.scores is None
                else _kernels.level_moments(prepared.scores, c.codes, c.n_levels)
            )
        else:
            p_counts, p_sums, p_scores = found[parent]
            if words is None:
                counts = coarsen(p_counts, merge)
            else:
                counts = [coarsen(word, merge, axis=0) for word in p_counts]
            sums = coarsen(p_sums, merge)
            scores = None if p_scores is None else tuple(coarsen(m, merge) for m in p_scores)
        found[k] = (counts, sums, scores)
    if width is not None:  # words were packed
        found = {
            k: (_kernels.unpack_counts(counts, prepared.n_bins, width), *rest)
            for k, (counts, *rest) in found.items()
        }
    return [found[k] for k in range(len(plan.factors))]


def table_statistics(
    unit_stats: np.ndarray,
    families: np.ndarray,
    compared: np.ndarray,
    factor_entropy: np.ndarray,
    *,
    alpha: float,
    significance: str,
    family_wise: bool,
    crossed: bool = False,
    factor_df: np.ndarray | None = None,
    n_stimuli: int = 0,
) -> dict[str, np.ndarray]:
    """The table stage: q-values, p_fwer and the selectivity measures of every unit.

    ``unit_stats (U, K, V)`` from :func:`unit_statistics`; ``families (U,)`` integer layer of
    each unit; ``compared`` the positions of the compared factors; ``factor_entropy (K,)``.
    Returns arrays over ``(U, K)`` or ``(U,)``; ``preferred`` is the position of the preferred
    factor in ``compared``, or -1 for none.
    """
    out = {name: unit_stats[:, :, i] for i, name in enumerate(UNIT_VARIABLES)}
    for name in ("entropy", "entropy_threshold"):
        out[name] = unit_stats[:, 0, UNIT_VARIABLES.index(name)]
    p = out["p_value"]
    q = np.empty_like(p)
    for fam in np.unique(families):
        members = families == fam
        q[members] = _kernels.benjamini_hochberg(p[members].reshape(-1)).reshape(p[members].shape)
    out["q_value"] = q
    if crossed and len(compared) > 1:
        assert factor_df is not None  # given whenever the design is crossed
        out["omega_squared"] = _additive_omega(out["eta_squared"], compared, factor_df, n_stimuli)
    if family_wise:
        out["p_fwer"] = max_statistic_pvalues(
            unit_stats[:, :, FWER_OBSERVED], unit_stats[:, :, FWER_OBSERVED + 1 :], families
        )

    mi = np.clip(out["mi"][:, compared], 0.0, None)
    coded = mi > 0 if significance == "none" else q[:, compared] < alpha
    any_coded = np.any(coded, axis=1)
    out["preferred"] = np.where(any_coded, np.where(coded, mi, -np.inf).argmax(axis=1), -1)
    h_f = factor_entropy[compared]
    h_r = out["entropy"][:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        min_norm = np.where(np.minimum(h_r, h_f) > 0, mi / np.minimum(h_r, h_f), 0.0)
    variants = {
        "selectivity": mi,
        "selectivity_normalized": mi / h_f,
        "selectivity_min_normalized": min_norm,
        "selectivity_omega": out["omega_squared"][:, compared],
    }
    for name, measure in variants.items():
        out[name] = np.where(any_coded, selectivity.selectivity_kernel(measure), np.nan)
    out["modularity"] = np.where(any_coded, selectivity.modularity_kernel(mi), np.nan)
    share = np.full(p.shape, np.nan)
    share[:, compared] = np.where(any_coded[:, None], selectivity.shares_kernel(mi), np.nan)
    out["share"] = share
    # in a crossed design the compared factors' main effects are orthogonal: what they leave of
    # the variance is their interaction (and, with replicates, the noise)
    main = out["eta_squared"][:, compared].sum(axis=1)
    out["eta_squared_interaction"] = (
        np.clip(1.0 - main, 0.0, 1.0) if crossed and len(compared) > 1 else np.full(len(p), np.nan)
    )
    return out


def _additive_omega(
    eta: np.ndarray, compared: np.ndarray, factor_df: np.ndarray, n_stimuli: int
) -> np.ndarray:
    """ω² of every factor from the additive model of the compared factors (a crossed design):
    its residual, the compared factors' interaction (the error term with one stimulus per cell)
    plus any replicate noise, is the error. As fractions of SS_total, with e = MS_error /
    SS_total: ω²_k = (η²_k − df_k e) / (1 + e)."""
    df_error = n_stimuli - 1 - factor_df[compared].sum()
    residual = np.clip(1.0 - eta[:, compared].sum(axis=1), 0.0, 1.0)
    e = residual / df_error if df_error > 0 else np.full(len(eta), np.nan)
    omega = (eta - factor_df[None, :] * e[:, None]) / (1.0 + e[:, None])
    return np.clip(omega, 0.0, 1.0)


#: Variables of :func:`table_array` over ``(unit, factor)``, then those over ``unit`` (repeated
#: over factors); ``preferred`` is the position in the compared factors, -1 for none.
FACTOR_VARIABLES = (
    "mi",
    "mi_raw",
    "mi_null_mean",
    "p_value",
    "q_value",
    "kl_selectivity",
    "omega_squared",
    "mean_response_selectivity",
    "share",
    "p_fwer",
    "eta_squared_within",
    "eta_squared",
)
UNIT_ONLY = (
    "entropy",
    "entropy_threshold",
    "eta_squared_interaction",
    "selectivity",
    "selectivity_normalized",
    "selectivity_min_normalized",
    "selectivity_omega",
    "modularity",
    "preferred",
)
TABLE_LAYOUT = FACTOR_VARIABLES + UNIT_ONLY


def table_array(unit_stats: np.ndarray, families: np.ndarray, **kwargs) -> np.ndarray:
    """:func:`table_statistics` stacked into one ``(U, K, len(TABLE_LAYOUT))`` float array (a
    single output for a dask task); ``p_fwer`` is NaN without the family-wise correction."""
    columns = table_statistics(unit_stats, families.reshape(-1), **kwargs)
    n_units, n_factors = columns["mi"].shape
    out = np.full((n_units, n_factors, len(TABLE_LAYOUT)), np.nan)
    for i, name in enumerate(TABLE_LAYOUT):
        if name in columns:
            value = columns[name]
            out[:, :, i] = value if np.ndim(value) == 2 else np.asarray(value)[:, None]
    return out
