"""The unit table: every information and selectivity measure of every unit, as one Dataset."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from factorprobe._validation import check_real
from factorprobe.analysis import _kernels, selectivity
from factorprobe.analysis._estimate import (
    Correction,
    Estimation,
    Estimator,
    Significance,
    factor_statistics,
    family_wise_null,
    prepare,
    seed_int,
)
from factorprobe.analysis.design import FactorCodes, factor_codes, factor_dependence
from factorprobe.analysis.quantize import Quantizer, check_quantizer, check_responses
from factorprobe.analysis.significance import benjamini_hochberg, max_statistic_pvalues
from factorprobe.dims import FACTOR, FACTOR_GROUPS, LAYER, UNIT

__all__ = ["unit_table"]

NONE = "none"


def unit_table(
    acts: xr.DataArray,
    factors: Sequence[str] = ("size", "position"),
    *,
    compare: Sequence[str] | None = None,
    layers: str | Sequence[str] | None = None,
    estimator: Estimator = "copula",
    correction: Correction = "shuffle",
    significance: Significance = "permutation",
    n_permutations: int = 1000,
    n_bins: int = 8,
    quantizer: Quantizer = "quantile",
    threshold: float = 0.0,
    alpha: float = 0.05,
    family_wise: bool = False,
    seed: int | np.random.Generator | None = 0,
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
        MI estimator (docs/estimators.md: "which estimator when"). The defaults (copula, shuffle
        correction, 1000-shuffle permutation p-values) are the configuration that recovered the
        preferred factor of planted units best at 5–10 stimuli per position level while keeping
        null p-values uniform for size and position; the G-test is not calibrated for position.
    correction : {"shuffle", "analytic", "none"}, default="shuffle"
        Bias correction of ``mi``: minus the permutation-null mean, or Miller–Madow (plug-in) /
        the Gaussian-entropy correction (copula).
    significance : {"permutation", "gtest", "none"}, default="permutation"
        ``p_value`` from ``n_permutations`` label shuffles, or from the likelihood-ratio (G)
        test, which is only calibrated with enough expected counts per cell.
    n_permutations : int, default=1000
        Label shuffles; one null is shared by all units with the same bin counts.
    n_bins, quantizer, threshold
        Quantisation of the response (see :func:`~factorprobe.analysis.quantize`).
    alpha : float, default=0.05
        Level of the q-values below which a factor counts as coded.
    family_wise : bool, default=False
        Add ``p_fwer``: Westfall–Young max-statistic adjusted p-values over the units and factors
        of each layer, on MI standardised by each unit's own null. Costs
        ``n_permutations`` × units × stimuli per factor.
    seed : int, Generator or None, default=0
        Seed of the shuffles (a factor's shuffles depend on the seed and its name only, so a
        table agrees with :func:`~factorprobe.analysis.mutual_information` given the same seed).

    Returns
    -------
    Dataset
        Over ``unit`` (with the input's ``layer``/``index`` coordinates) and ``factor``:
        ``mi`` (bias-corrected), ``mi_raw``, ``mi_null_mean``, ``p_value``, ``q_value`` (BH per
        layer), ``kl_selectivity``, ``omega_squared``, ``mean_response_selectivity``, ``share``
        (compared factors), ``factor_entropy``; per unit ``entropy``, ``selectivity`` (SI on
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
    Ridgeway, K. & Mozer, M. C. (2018). NeurIPS (modularity).

    Examples
    --------
    >>> from factorprobe.analysis import planted_units, unit_table
    >>> acts = planted_units(kinds=("size", "position"), n_units=2, noise=(0.5,), seed=0)
    >>> table = unit_table(acts, n_permutations=200)
    >>> table["preferred_factor"].values.tolist()
    ['size', 'size', 'position', 'position']
    """
    where = "unit_table"
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
    if len(compared) > 1:
        factor_dependence(acts, compared)

    values = np.asarray(acts.values, dtype=np.float64)
    prepared = prepare(values, options)
    n_stimuli = values.shape[1]
    bin_counts = _kernels.joint_counts(
        prepared.bins, prepared.n_bins, np.zeros(n_stimuli, np.int64), 1
    )[..., 0]
    h_r = _kernels.plugin_entropy(bin_counts)

    columns: dict[str, list[np.ndarray]] = {
        k: []
        for k in (
            "mi",
            "mi_raw",
            "mi_null_mean",
            "p_value",
            "kl_selectivity",
            "omega_squared",
            "mean_response_selectivity",
            "p_fwer",
        )
    }
    h_f = []
    fwer_null = []
    # a factor that is a function of another (x of position) gets its tables by summation
    cache: dict[str, tuple[FactorCodes, np.ndarray, tuple, tuple | None]] = {}
    for c in sorted(coded, key=lambda f: -f.n_levels):
        parent = next(
            (m for m in cache.values() if (merge := _coarsening(m[0], c)) is not None), None
        )
        if parent is None:
            joint = _kernels.joint_counts(prepared.bins, prepared.n_bins, c.codes, c.n_levels)
            moments = _kernels.level_moments(values, c.codes, c.n_levels)
            scores = (
                None
                if prepared.scores is None
                else _kernels.level_moments(prepared.scores, c.codes, c.n_levels)
            )
        else:
            # float BLAS is much faster than an integer matmul; counts stay exact
            joint = (parent[1].astype(np.float64) @ merge).astype(np.int64)
            moments = tuple(m @ merge for m in parent[2])
            scores = None if parent[3] is None else tuple(m @ merge for m in parent[3])
        cache[c.name] = (c, joint, moments, scores)
    for c in coded:
        _, joint, moments, scores = cache[c.name]
        stats = factor_statistics(
            prepared, c.codes, c.n_levels, options, c.name, joint=joint, score_moments=scores
        )
        columns["mi"].append(stats.mi)
        columns["mi_raw"].append(stats.mi_raw)
        columns["mi_null_mean"].append(stats.null_mean)
        columns["p_value"].append(stats.p_value)
        columns["kl_selectivity"].append(_kernels.kl_selectivity(stats.joint))
        columns["omega_squared"].append(selectivity.omega_from_moments(*moments))
        columns["mean_response_selectivity"].append(
            selectivity.mean_response_from_moments(*moments)
        )
        h_f.append(float(_kernels.plugin_entropy(c.counts)))
        if family_wise:
            fwer_null.append(
                family_wise_null(prepared, stats, c.codes, c.n_levels, options, c.name)
            )
    arrays = {k: np.stack(v, axis=1) for k, v in columns.items() if v}

    ds = xr.Dataset(coords={k: v for k, v in acts.coords.items() if v.dims == (UNIT,)})
    ds = ds.assign_coords({FACTOR: names})
    for name, array in arrays.items():
        ds[name] = ((UNIT, FACTOR), array)
    ds["factor_entropy"] = ((FACTOR,), np.asarray(h_f))
    ds["entropy"] = ((UNIT,), h_r)
    ds["q_value"] = benjamini_hochberg(ds["p_value"], by=LAYER)
    if family_wise:
        observed = np.stack([z for z, _ in fwer_null], axis=1)
        null = np.stack([n for _, n in fwer_null], axis=1)
        ds["p_fwer"] = ((UNIT, FACTOR), max_statistic_pvalues(observed, null, _families(ds)))
    _add_selectivity(ds, compared, alpha, significance)

    for name in ds.data_vars:
        description, units = VARIABLES[str(name)]
        ds[name].attrs.update(description=description, units=units)
    ds.attrs = {
        **options.attrs(),
        "factors": ",".join(names),
        "compared": ",".join(compared),
        "alpha": alpha,
        "family_wise": int(family_wise),
        "n_stimuli": int(n_stimuli),
        "q_value_family": "layer" if LAYER in ds.coords else "all units",
    }
    return ds[_order(ds)]


#: Every variable of the unit table: (description, units). The data dictionary of exported
#: tables is generated from these attrs, so a new variable must be described here.
VARIABLES: dict[str, tuple[str, str]] = {
    "mi": (
        "mutual information between the quantised response and the factor, bias-corrected "
        "(estimator and correction in the table attrs)",
        "bits",
    ),
    "mi_raw": ("mutual information before bias correction", "bits"),
    "mi_null_mean": ("mean mutual information over the permutation null (label shuffles)", "bits"),
    "p_value": (
        "significance of mi against the null of no dependence (test in the table attrs)",
        "1",
    ),
    "q_value": ("Benjamini-Hochberg q-value over all unit x factor tests of the layer", "1"),
    "p_fwer": ("family-wise adjusted p-value (Westfall-Young max-statistic over the layer)", "1"),
    "kl_selectivity": (
        "largest specific information: max over levels f of "
        "KL(p(R | F=f) || p(R)) (Amjad et al. 2018)",
        "bits",
    ),
    "entropy": ("entropy of the quantised response H(R)", "bits"),
    "factor_entropy": ("entropy of the factor H(F) over the stimuli", "bits"),
    "omega_squared": (
        "variance of the response explained by the factor, bias-corrected (one-way omega squared)",
        "1",
    ),
    "mean_response_selectivity": (
        "(mu_max - mu_rest) / (|mu_max| + |mu_rest|) over the factor's level means, in [0, 1]",
        "1",
    ),
    "share": (
        "the factor's share of the unit's information, I_k / sum_j I_j over the "
        "compared factors (clipped at 0)",
        "1",
    ),
    "selectivity": (
        "selectivity index (I1 - I2) / (I1 + I2) of the two largest bias-corrected "
        "MIs among the compared factors; NaN when no factor is significant",
        "1",
    ),
    "selectivity_normalized": ("selectivity index on I / H(F)", "1"),
    "selectivity_min_normalized": ("selectivity index on I / min(H(R), H(F))", "1"),
    "selectivity_omega": ("selectivity index on omega squared", "1"),
    "modularity": (
        "modularity 1 - sum_{k != k*} (I_k / I_k*)^2 / (K - 1) "
        "(Ridgeway & Mozer 2018); NaN when no factor is significant",
        "1",
    ),
    "preferred_factor": ("compared factor with the largest significant MI, or 'none'", ""),
}


def _add_selectivity(ds: xr.Dataset, compared: list[str], alpha: float, significance: str) -> None:
    sub = ds.sel({FACTOR: compared})
    mi = np.clip(sub["mi"].values, 0.0, None)
    coded = mi > 0 if significance == "none" else sub["q_value"].values < alpha
    any_coded = coded.any(axis=1)
    score = np.where(coded, mi, -np.inf)
    best = score.argmax(axis=1)
    preferred = np.where(any_coded, np.asarray(compared, dtype=object)[best], NONE)
    ds["preferred_factor"] = ((UNIT,), preferred.astype(str))

    h_f = sub["factor_entropy"].values
    h_r = ds["entropy"].values[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        min_norm = np.where(np.minimum(h_r, h_f) > 0, mi / np.minimum(h_r, h_f), 0.0)
    variants = {
        "selectivity": mi,
        "selectivity_normalized": mi / h_f,
        "selectivity_min_normalized": min_norm,
        "selectivity_omega": sub["omega_squared"].values,
    }
    for name, measure in variants.items():
        ds[name] = ((UNIT,), np.where(any_coded, selectivity.selectivity_kernel(measure), np.nan))
    ds["modularity"] = ((UNIT,), np.where(any_coded, selectivity.modularity_kernel(mi), np.nan))
    share = np.full(ds["mi"].shape, np.nan)
    positions = [list(ds[FACTOR].values).index(f) for f in compared]
    share[:, positions] = np.where(any_coded[:, None], selectivity.shares_kernel(mi), np.nan)
    ds["share"] = ((UNIT, FACTOR), share)


def _coarsening(parent: FactorCodes, child: FactorCodes) -> np.ndarray | None:
    """The (L_parent, L_child) 0/1 matrix if ``child`` is a function of ``parent``, else None."""
    if parent.n_levels <= child.n_levels:
        return None
    first = np.unique(parent.codes, return_index=True)[1]
    mapping = child.codes[first]
    if not np.array_equal(mapping[parent.codes], child.codes):
        return None
    merge = np.zeros((parent.n_levels, child.n_levels))
    merge[np.arange(parent.n_levels), mapping] = 1
    return merge


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


def _families(ds: xr.Dataset) -> np.ndarray:
    if LAYER in ds.coords and ds[LAYER].dims == (UNIT,):
        return np.unique(ds[LAYER].values, return_inverse=True)[1].reshape(-1)
    return np.zeros(ds.sizes[UNIT], dtype=np.int64)


def _order(ds: xr.Dataset) -> list[str]:
    core = [
        "mi",
        "mi_raw",
        "p_value",
        "q_value",
        "kl_selectivity",
        "entropy",
        "selectivity",
        "modularity",
        "preferred_factor",
    ]
    return core + [str(v) for v in ds.data_vars if v not in core]
