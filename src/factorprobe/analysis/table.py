"""The unit table: every information and selectivity measure of every unit, as one Dataset."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, get_args

import dask
import dask.array as da
import numpy as np
import xarray as xr
from dask.base import is_dask_collection

from factorprobe._validation import check_choice, check_int, check_real
from factorprobe.analysis import _kernels
from factorprobe.analysis._estimate import (
    CORRECTIONS,
    ESTIMATORS,
    SIGNIFICANCES,
    Correction,
    Estimation,
    Estimator,
    Significance,
    seed_int,
    unit_keys,
)
from factorprobe.analysis._restricted import correction_permutations
from factorprobe.analysis._table_pid import pid_attrs, pid_options, pid_sources, pid_variables
from factorprobe.analysis._table_stages import (
    FACTOR_VARIABLES,
    TABLE_LAYOUT,
    UNIT_ONLY,
    TablePlan,
    table_array,
    unit_statistics,
)
from factorprobe.analysis._table_variables import VARIABLES, ordered
from factorprobe.analysis.design import _stimulus_factors, check_dependence, factor_codes
from factorprobe.analysis.quantize import (
    QUANTIZERS,
    Quantizer,
    check_quantizer,
    check_responses,
    non_finite,
)
from factorprobe.dims import FACTOR, FACTOR_GROUPS, INDEX, LAYER, STIMULUS, UNIT
from factorprobe.scheduler import check_scheduler, compute

# the closed sets of unit_table's options, which the run configuration validates against
__all__ = ["CORRECTIONS", "ESTIMATORS", "NULLS", "QUANTIZERS", "SIGNIFICANCES", "unit_table"]

NONE = "none"
Null = Literal["restricted", "free"]
NULLS: tuple[str, ...] = get_args(Null)


def unit_table(
    acts: xr.DataArray,
    factors: Sequence[str] = ("size", "position"),
    *,
    compare: Sequence[str] | None = None,
    layers: str | Sequence[str] | None = None,
    estimator: Estimator = "copula",
    correction: Correction = "shuffle",
    significance: Significance = "permutation",
    null: Null = "restricted",
    n_permutations: int = 1000,
    n_bins: int = 8,
    quantizer: Quantizer = "quantile",
    threshold: float = 0.0,
    alpha: float = 0.05,
    family_wise: bool = False,
    pid: Sequence[str] | None = None,
    seed: int | np.random.Generator | None = 0,
    unit_chunk: int | None = None,
    scheduler: str | None = None,
) -> xr.Dataset:
    """Information, significance and selectivity of every unit for every factor (DESIGN §4–5).

    Parameters
    ----------
    acts : DataArray
        Responses with dims ``("stimulus", "unit")``, ``layer``/``index`` coordinates on ``unit``
        (optional) and the factors as coordinates on ``stimulus``.
    factors : sequence of str, default=("size", "position")
        Factors or groups (``position`` = joint ``(x, y)``) to measure.
    compare : sequence of str, optional
        Factors the selectivity measures compare. Default: the named factors except members of a
        named group (``x`` and ``y`` are left out when ``position`` is named).
    layers : str or sequence of str, optional
        Restrict the table to these layers (values of the ``layer`` coordinate); default all.
    estimator : {"copula", "plugin"}, default="copula"
        Estimator of the marginal MI (docs/estimators.md: "which estimator when").
    correction : {"shuffle", "analytic", "none"}, default="shuffle"
        Bias correction of ``mi``: minus the mean of the design's null (below), or
        Miller–Madow (plug-in) / the Gaussian-entropy correction (copula).
    significance : {"permutation", "gtest", "none"}, default="permutation"
        ``p_value`` from ``n_permutations`` shuffles (below), or from the likelihood-ratio (G)
        test of the marginal MI, which assumes free shuffles and enough expected counts.
    null : {"restricted", "free"}, default="restricted"
        The shuffles of the null. ``"restricted"``: a factor is shuffled only within its
        *strata*, the joint levels of the other compared factors that share no member with it
        and do not determine it, and of every other analysed factor or varied stimulus
        coordinate that the design crosses with it (size within positions; position within
        sizes, or within (size, shape) on a grid with several shapes; y within (size, x)), as
        in permutation tests for factorial designs (Anderson & ter Braak 2003). On a crossed
        grid this keeps the design's balance, so the corrected MI of an uncoded factor is
        centred on 0 (a free shuffle breaks the balance and drives it negative); on a design
        that is not crossed it keeps the factors' dependence, so the test asks whether the
        unit carries the factor beyond what the other factors explain. The test statistic is
        then ``eta_squared_within``, the factor's η² on normal scores of the responses ranked
        within each stratum (a normal-scores Friedman test), which sees a weak code riding on
        a strong one; units constant within every stratum get p = 1. A factor without strata
        (no other compared factor, or none within which it varies) is shuffled freely.
        ``"free"``: free shuffles of every factor and MI as the statistic (the behaviour
        before issue 12; valid for samples, not for a crossed design). The attrs ``null`` and
        ``statistic`` say what was used.
    n_permutations : int, default=1000
        Shuffles of the p-values (one null shared by all units). The restricted null mean of
        the marginal MI depends on the unit, so each unit's is estimated from the first
        ``min(n_permutations, 100)`` shuffles up to 2250 stimuli, fewer (at least 10) beyond,
        where the null is narrower, so that stimuli × shuffles stays at 225 000 (attrs
        ``correction_permutations``).
    n_bins, quantizer, threshold
        Quantisation of the response (see :func:`~factorprobe.analysis.quantize`).
    alpha : float, default=0.05
        Level of the q-values below which a factor counts as coded.
    family_wise : bool, default=False
        Add ``p_fwer``: Westfall–Young max-statistic adjusted p-values over the units and factors
        of each layer, on each unit's test statistic standardised by its null
        (``eta_squared_within`` under restricted shuffles shared by all units, or MI under free
        shuffles). Costs ``n_permutations`` × units × stimuli per factor.
    pid : pair of str or None, default=None
        Two factors of the table (e.g. ``("size", "position")``): add each unit's partial
        information decomposition about them, ``pid_redundancy``, ``pid_unique`` (over
        ``factor``, NaN for the other factors) and ``pid_synergy``, in bits, as
        :func:`~factorprobe.analysis.partial_information` gives them on the table's quantiser
        and seed, shuffle-corrected with ``min(n_permutations, 100)`` shuffles (as the
        restricted null means; 100 when the table draws none) unless ``correction="none"``
        (attrs ``pid_*``). Lazy on a dask-backed input, block by block along ``unit``. None:
        no PID columns.
    seed : int, Generator or None, default=0
        Seed of the shuffles (a factor's shuffles depend on the seed and its name only, so a
        table agrees with :func:`~factorprobe.analysis.mutual_information` given the same seed).
        The copula breaks ties by the seed and each unit's (layer, index), so results do not
        depend on chunking or layer selection.
    unit_chunk : int or None, default=None
        Units per dask task (every stimulus in each); None keeps a dask input's chunks along
        ``unit``. Each task works through its units in sub-blocks of about 2**19 responses
        (4 MB of float64, 13–22 MB of working memory), one per thread at a time, so memory
        is bounded by the number of stimuli, not by this (docs/scale.md).
    scheduler : str, distributed.Client or None, default=None
        None: a numpy input is computed now (its units spread over one thread per core,
        docs/estimators.md); a dask-backed input (e.g.
        :func:`~factorprobe.probing.open_activations`) gives a *lazy* Dataset of dask arrays,
        computed when asked (``.compute()``, ``.load()``, ``.to_dataframe()``) on dask's
        current scheduler. ``"threads"`` or ``"synchronous"`` (local dask schedulers), or the
        address of a ``dask.distributed`` scheduler (``"tcp://host:8786"``): the table is
        computed there, chunk by chunk, and returned in memory.

    Returns
    -------
    Dataset
        Over ``unit`` (with the input's ``layer``/``index`` coordinates) and ``factor``:
        ``mi`` (bias-corrected), ``mi_raw``, ``mi_null_mean``, ``p_value``, ``q_value`` (BH per
        layer), ``eta_squared_within`` (the test statistic), ``eta_squared`` (variance
        explained by the factor's level means), ``kl_selectivity``, ``omega_squared``,
        ``mean_response_selectivity``, ``share`` (compared factors), ``factor_entropy``; per
        unit ``entropy`` (equal-width bins), ``entropy_threshold`` (1 bit at ``threshold``),
        ``eta_squared_interaction`` (what the compared factors' main effects leave: their
        interaction, NaN unless crossed), ``selectivity`` (SI on
        bias-corrected bits), ``selectivity_normalized`` (on I / H(F)),
        ``selectivity_min_normalized`` (on I / min(H(R), H(F))), ``selectivity_omega`` (on ω²),
        ``modularity`` and ``preferred_factor`` (``"none"`` when no compared factor has
        q < alpha; then every selectivity measure is NaN). Values in bits; attrs record the
        estimator and its parameters. ``.to_dataframe()`` gives the tidy table.

    Raises
    ------
    KeyError
        For a factor that is not on ``stimulus`` or an unknown layer.
    ValueError
        For invalid options, NaN responses, one-level factors or levels with 1 stimulus.

    References
    ----------
    Amjad, R. A., Liu, K. & Geiger, B. C. (2018). Understanding individual neuron importance
    using information theory. arXiv:1804.06679.
    Ince, R. A. A. et al. (2017). Hum. Brain Mapp. 38, 1541–1573 (Gaussian copula).
    Panzeri, S. & Treves, A. (1996). Network 7, 87–107 (bias and shuffle correction).
    Benjamini, Y. & Hochberg, Y. (1995). J. R. Stat. Soc. B 57, 289–300.
    Westfall, P. H. & Young, S. S. (1993). Resampling-Based Multiple Testing. Wiley.
    Anderson, M. J. & ter Braak, C. J. F. (2003). J. Stat. Comput. Simul. 73, 85–113
    (restricted permutations in factorial designs).
    Friedman, M. (1937). J. Am. Stat. Assoc. 32, 675–701 (ranks within blocks).
    Ridgeway, K. & Mozer, M. C. (2018). NeurIPS (modularity).

    Examples
    --------
    >>> from factorprobe.analysis.planted import planted_units
    >>> acts = planted_units(kinds=("size", "position"), n_units=2, noise=(0.5,), seed=0)
    >>> table = unit_table(acts, n_permutations=200)
    >>> table["preferred_factor"].values.tolist()
    ['size', 'size', 'position', 'position']
    """
    where = "unit_table"
    scheduler = check_scheduler(scheduler, where=where)
    if unit_chunk is not None:
        unit_chunk = check_int(unit_chunk, name="unit_chunk", where=where, minimum=1)
    acts = check_responses(acts, where=where)
    acts = _select_layers(acts, layers)
    quantizer, n_bins, threshold = check_quantizer(
        acts, n_bins=n_bins, quantizer=quantizer, threshold=threshold, where=where
    )
    alpha = check_real(alpha, name="alpha", where=where, minimum=0.0, maximum=1.0)
    if not isinstance(family_wise, bool):
        raise TypeError(
            f"The 'family_wise' parameter of {where} must be a bool; got {family_wise!r}."
        )
    options = Estimation(
        estimator=estimator,
        correction=correction,
        significance=significance,
        n_permutations=n_permutations,
        quantizer=quantizer,
        n_bins=n_bins,
        threshold=threshold,
        seed=seed_int(seed),
        where=where,
    )
    if family_wise and significance != "permutation":
        raise ValueError(
            f"The 'family_wise' option of {where} needs significance='permutation'; "
            f"got significance={significance!r}."
        )
    names = _factor_names(factors, where=where)
    compared = _compared(names, compare, where=where)
    coded = [factor_codes(acts, f, where=where) for f in names]
    crossed = False
    if len(compared) > 1:
        dependence = check_dependence([coded[names.index(f)] for f in compared], stacklevel=3)
        # NaN between a factor and its own group: not crossed
        crossed = bool(np.all(dependence[~np.eye(len(compared), dtype=bool)] == 0.0))
    check_choice(null, NULLS, name="null", where=where)
    sources = pid_sources(pid, names, coded, where=where)
    plan = TablePlan.build(
        options,
        coded,
        family_wise,
        compared,
        restricted=null == "restricted",
        design=_design_coordinates(acts, coded) if null == "restricted" else [],
    )
    keys = unit_keys(*_unit_labels(acts), acts.sizes[UNIT])
    factor_entropy = np.asarray([_kernels.plugin_entropy(c.counts) for c in coded])
    finish = {
        "compared": np.asarray([names.index(f) for f in compared]),
        "factor_entropy": factor_entropy,
        "alpha": alpha,
        "significance": significance,
        "family_wise": family_wise,
        "crossed": crossed,
        "factor_df": np.asarray([c.n_levels - 1 for c in coded], dtype=np.float64),
        "n_stimuli": int(acts.sizes[STIMULUS]),
    }
    lazy = is_dask_collection(acts.data) or scheduler is not None
    blocks = _unit_blocks(acts, unit_chunk) if lazy else None
    if blocks is not None:
        table = _lazy_table(blocks, keys, plan, finish, _families(acts))
    else:
        table = table_array(unit_statistics(acts.values, keys, plan), _families(acts), **finish)

    data_vars: dict[str, tuple[Any, ...]] = {
        name: ((UNIT, FACTOR), table[:, :, i])
        for i, name in enumerate(FACTOR_VARIABLES)
        if family_wise or name != "p_fwer"
    }
    for name in UNIT_ONLY[:-1]:
        data_vars[name] = ((UNIT,), table[:, 0, TABLE_LAYOUT.index(name)])
    choices = np.asarray([*compared, NONE])
    preferred = table[:, 0, -1]
    if lazy:
        preferred = preferred.map_blocks(_preferred_names, choices, dtype=choices.dtype)
    else:
        preferred = _preferred_names(preferred, choices)
    data_vars["preferred_factor"] = ((UNIT,), preferred)
    data_vars["factor_entropy"] = ((FACTOR,), factor_entropy)
    if sources is not None:
        pid_settings = pid_options(options, int(acts.sizes[STIMULUS]))
        values = acts.values if blocks is None else blocks
        data_vars |= pid_variables(values, sources, names, pid_settings)
    described: dict[str, tuple[Any, ...]] = {
        name: (*data_vars[name], dict(zip(("description", "units"), VARIABLES[name], strict=True)))
        for name in ordered(data_vars)
    }
    coords = {k: v for k, v in acts.coords.items() if v.dims == (UNIT,)}
    ds = xr.Dataset(described, coords={**coords, FACTOR: names})
    ds.attrs = {
        **options.attrs(),
        "factors": ",".join(names),
        "compared": ",".join(compared),
        "alpha": alpha,
        "family_wise": int(family_wise),
        "n_stimuli": int(acts.sizes[STIMULUS]),
        "q_value_family": "layer" if LAYER in ds.coords else "all units",
        "null": _null_description(names, plan.strata),
        "statistic": (
            "p_value: eta_squared_within (normal scores of the within-stratum ranks) for factors "
            "with strata, else mi under free shuffles"
            if any(st is not None for st in plan.strata)
            else "p_value: mi under free shuffles"
        ),
        "crossed": int(crossed),
    }
    if sources is not None:
        ds.attrs |= pid_attrs(sources, pid_settings)
    if any(s is not None for s in plan.strata) and options.correction == "shuffle":
        ds.attrs["correction_permutations"] = correction_permutations(
            n_permutations, int(acts.sizes[STIMULUS])
        )
    if scheduler is not None:
        (ds,) = compute(ds, scheduler=scheduler)
    return ds


def _unit_blocks(acts: xr.DataArray, unit_chunk: int | None) -> da.Array:
    """The responses ``(U, S)`` as a dask array in blocks along ``unit``, every stimulus in a
    block (the table's and the PID's passes share these blocks)."""
    if is_dask_collection(acts.data):
        data = acts.data
    else:
        # blocks of about 64 MB of float64 responses, for the scheduler to spread
        n = max(1, acts.sizes[STIMULUS])
        data = da.from_array(acts.values, chunks=(unit_chunk or max(1, (8 << 20) // n), -1))
    if unit_chunk is not None:
        data = data.rechunk({0: unit_chunk})
    return data.rechunk({1: -1})


def _lazy_table(
    data: da.Array, keys: np.ndarray, plan: TablePlan, finish: dict, families: np.ndarray
):
    """The table as one dask array ``(U, K, len(TABLE_LAYOUT))``: the unit stage block by
    block along ``unit`` (every stimulus in a block), then the table stage on the small
    gathered ``(unit, factor)`` statistics."""
    key_blocks = da.from_array(keys[:, None], chunks=(data.chunks[0], 1))
    # one graph key for the plan (its factor codes are not copied into every task); the shared
    # nulls are computed by the first block that needs them, once per process
    shared = dask.delayed(plan, pure=True)
    stats = da.blockwise(
        _checked_unit_statistics,
        "ukv",
        data,
        "us",
        key_blocks,
        "uz",
        plan=shared,
        new_axes={"k": len(plan.factors), "v": plan.n_variables},
        dtype=np.float64,
        concatenate=True,
    )
    families = da.from_array(families[:, None], chunks=-1)
    return da.blockwise(
        table_array,
        "ukv",
        stats.rechunk({0: -1, 2: -1}),
        "ukw",
        families,
        "uz",
        new_axes={"v": len(TABLE_LAYOUT)},
        dtype=np.float64,
        concatenate=True,
        **finish,
    )


def _checked_unit_statistics(values: np.ndarray, keys: np.ndarray, plan: TablePlan) -> np.ndarray:
    # a dask-backed input is checked here, block by block, when it is computed
    kind, bad = non_finite(values) if values.dtype.kind == "f" else ("", None)
    if kind and bad is not None:
        raise ValueError(
            f"unit_table got {kind} responses for {int(bad.sum())} unit(s) of a chunk (unit "
            f"keys {keys[bad, 0][:5].tolist()}); drop or fill them first."
        )
    return unit_statistics(values, keys[:, 0], plan)


def _preferred_names(position: np.ndarray, choices: np.ndarray) -> np.ndarray:
    return choices[np.asarray(position, dtype=np.int64)]


def _design_coordinates(acts: xr.DataArray, coded: list) -> list:
    """Level codes of the stimulus coordinates that vary and are not analysed (shape,
    rotation, ...): candidate strata of the restricted null. A coordinate with a level of one
    stimulus (a continuous value) cannot stratify and is left out."""
    taken = {m for c in coded for m in c.members}
    out = []
    for name in _stimulus_factors(acts):
        if name in taken or acts[name].dtype.kind not in "biufUSO":
            continue
        try:  # one level, or a level of one stimulus: not a stratum
            out.append(factor_codes(acts, name, where="unit_table"))
        except (ValueError, TypeError):
            continue
    return out


def _null_description(names: list[str], strata: tuple) -> str:
    """Which shuffles each factor's null uses, e.g. ``"size: within levels of position; ..."``."""
    return "; ".join(
        f"{name}: {'free shuffles' if s is None else s.describe()}"
        for name, s in zip(names, strata, strict=True)
    )


def _select_layers(acts: xr.DataArray, layers: str | Sequence[str] | None) -> xr.DataArray:
    if layers is None:
        return acts
    wanted = [layers] if isinstance(layers, str) else list(layers)
    if LAYER not in acts.coords:
        raise KeyError("unit_table got 'layers', but the activations have no 'layer' coordinate.")
    available = list(dict.fromkeys(str(v) for v in acts[LAYER].values))
    unknown = [w for w in wanted if w not in available]
    if unknown:
        raise KeyError(
            f"Unknown layer {unknown[0]!r} for unit_table; valid layers: "
            f"{', '.join(repr(a) for a in available)}."
        )
    return acts.isel({UNIT: np.isin(acts[LAYER].values, wanted)})


def _factor_names(factors: Sequence[str], *, where: str) -> list[str]:
    if isinstance(factors, str):
        factors = [factors]
    names = list(factors)
    if not names or not all(isinstance(f, str) for f in names):
        raise ValueError(
            f"The 'factors' parameter of {where} must be a non-empty list of "
            f"factor names; got {factors!r}."
        )
    if len(set(names)) != len(names):
        raise ValueError(f"The 'factors' parameter of {where} names a factor twice; got {names}.")
    return names


def _compared(names: list[str], compare: Sequence[str] | None, *, where: str) -> list[str]:
    if compare is None:
        members = {m for g in names if g in FACTOR_GROUPS for m in FACTOR_GROUPS[g]}
        chosen = [f for f in names if f not in members]
        return chosen if len(chosen) > 1 else names
    chosen = [compare] if isinstance(compare, str) else list(compare)
    unknown = [f for f in chosen if f not in names]
    if unknown:
        raise ValueError(
            f"The 'compare' parameter of {where} must name factors of the table "
            f"({', '.join(repr(n) for n in names)}); got {unknown[0]!r}."
        )
    return chosen


def _families(acts: xr.DataArray) -> np.ndarray:
    if LAYER in acts.coords and acts[LAYER].dims == (UNIT,):
        return np.unique(acts[LAYER].values, return_inverse=True)[1].reshape(-1)
    return np.zeros(acts.sizes[UNIT], dtype=np.int64)


def _unit_labels(acts: xr.DataArray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The ``layer`` and ``index`` coordinates on ``unit``, where present."""
    found = [
        np.asarray(acts[name].values)
        if name in acts.coords and acts[name].dims == (UNIT,)
        else None
        for name in (LAYER, INDEX)
    ]
    return found[0], found[1]
