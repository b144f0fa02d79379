"""Neuron roles: one table of the measures seed 001 names, and how they correlate per layer.

The hypothesis (seed 001): units that *represent* features are near-linear; units that *pass
information along* rely on one input. :func:`role_table` puts the measures side by side per
unit (linearity in the factors, entropy, MI with each factor, and, when given, the Jacobian
measures of :func:`~factorprobe.interventions.jacobian_measures`, the PID of
:func:`~factorprobe.analysis.partial_information` or an ablation effect);
:func:`role_correlations` gives their Spearman correlations per layer with bootstrap
confidence intervals over units, so the hypothesis becomes a set of numbers that can fail.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from factorprobe._validation import as_rng, check_int, check_real
from factorprobe.analysis.information import entropy, mutual_information
from factorprobe.analysis.linearity import linearity
from factorprobe.analysis.quantize import check_responses
from factorprobe.dims import INDEX, LAYER, UNIT

__all__ = ["role_correlations", "role_table"]

VARIABLE = "variable"
OTHER_VARIABLE = "other_variable"


def role_table(
    acts: xr.DataArray,
    factors: Sequence[str] = ("size", "position"),
    *,
    jacobian: xr.Dataset | None = None,
    pid: xr.Dataset | None = None,
    ablation: xr.DataArray | None = None,
    n_bins: int = 8,
) -> xr.Dataset:
    """Per-unit role measures side by side (one row per unit, all layers).

    Parameters
    ----------
    acts : DataArray
        Responses with dims ``("stimulus", "unit")``, ``layer``/``index`` on ``unit``.
    factors : sequence of str, default=("size", "position")
        Factors of the linearity and of one ``mi_<factor>`` column each.
    jacobian : Dataset, optional
        From :func:`~factorprobe.interventions.jacobian_measures`; its ``gain``,
        ``input_participation`` and ``jacobian_variability`` join by (layer, index).
    pid : Dataset, optional
        From :func:`~factorprobe.analysis.partial_information` on the same units; adds
        ``pid_redundancy``, ``pid_synergy`` and ``pid_unique_<factor>``.
    ablation : DataArray, optional
        A per-unit ablation effect over ``unit`` with ``layer``/``index`` (e.g. the drop in
        decoding accuracy when the unit alone is removed), added as ``ablation_effect``.
    n_bins : int, default=8
        Equal-width bins of the entropy.

    Returns
    -------
    Dataset
        Over ``unit``: ``linearity`` (1), ``entropy`` (bits, equal-width bins),
        ``mi_<factor>`` (bits, Gaussian-copula MI, analytic bias correction), and the joined
        variables; NaN where a joined input lacks the unit.

    Raises
    ------
    ValueError
        If a joined input has no ``layer``/``index`` coordinates on ``unit``.
    """
    where = "role_table"
    acts = check_responses(acts, where=where)
    names = [factors] if isinstance(factors, str) else list(factors)
    out = linearity(acts, names)[["linearity"]]
    out["entropy"] = entropy(acts, n_bins=n_bins)
    for f in names:
        out[f"mi_{f}"] = mutual_information(acts, f, correction="analytic")
    keys = _keys(acts, where=where, what="acts")
    if jacobian is not None:
        for name in ("gain", "input_participation", "jacobian_variability"):
            out[name] = _joined(jacobian[name], keys, where=where, what="jacobian")
    if pid is not None:
        for name in ("pid_redundancy", "pid_synergy"):
            out[name] = _joined(pid[name], keys, where=where, what="pid")
        for f in pid["factor"].values:
            out[f"pid_unique_{f}"] = _joined(
                pid["pid_unique"].sel(factor=f), keys, where=where, what="pid"
            )
    if ablation is not None:
        out["ablation_effect"] = _joined(ablation, keys, where=where, what="ablation")
    out = out.drop_vars([c for c in out.coords if c not in acts.coords and c != UNIT])
    out.attrs = {"factors": ",".join(names), "mi": "copula, analytic correction"}
    return out


def role_correlations(
    roles: xr.Dataset,
    *,
    variables: Sequence[str] | None = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int | np.random.Generator | None = 0,
) -> xr.Dataset:
    """Spearman correlations between role measures per layer, with bootstrap CIs over units.

    Parameters
    ----------
    roles : Dataset
        From :func:`role_table` (a ``layer`` coordinate on ``unit``).
    variables : sequence of str, optional
        Variables to correlate; default every variable over ``unit``.
    n_boot : int, default=1000
        Bootstrap resamples of the units (percentile intervals).
    confidence : float, default=0.95
        Coverage of the intervals.
    seed : int, Generator or None, default=0
        Seed of the resamples.

    Returns
    -------
    Dataset
        ``spearman``, ``ci_low``, ``ci_high`` and ``n_units`` over ``("layer", "variable",
        "other_variable")``; a unit with a NaN in either variable is left out of that pair.
    """
    where = "role_correlations"
    n_boot = check_int(n_boot, name="n_boot", where=where, minimum=10)
    confidence = check_real(confidence, name="confidence", where=where, minimum=0.5, maximum=1.0)
    names = list(variables) if variables is not None else [
        v for v in roles.data_vars if roles[v].dims == (UNIT,)
    ]  # fmt: skip
    unknown = [v for v in names if v not in roles.data_vars]
    if unknown:
        raise KeyError(
            f"Unknown variable {unknown[0]!r} for {where}; valid variables: "
            f"{', '.join(repr(v) for v in roles.data_vars)}."
        )
    rng = as_rng(seed)
    layers = list(dict.fromkeys(str(v) for v in roles[LAYER].values))
    shape = (len(layers), len(names), len(names))
    rho, low, high, count = (np.full(shape, np.nan) for _ in range(4))
    tail = (1 - confidence) / 2
    for li, layer in enumerate(layers):
        values = np.stack([roles[v].values[roles[LAYER].values == layer] for v in names], 1)
        for i in range(len(names)):  # pairs of variables (a handful), vectorised over units
            for j in range(i, len(names)):
                pair = values[:, [i, j]]
                pair = pair[np.isfinite(pair).all(1)]
                count[li, i, j] = count[li, j, i] = len(pair)
                if len(pair) < 4:
                    continue
                point = _spearman(pair[None])[0]
                boot = _spearman(pair[rng.integers(0, len(pair), (n_boot, len(pair)))])
                lo, hi = np.nanquantile(boot, [tail, 1 - tail])
                rho[li, i, j] = rho[li, j, i] = point
                low[li, i, j] = low[li, j, i] = lo
                high[li, i, j] = high[li, j, i] = hi
    dims = (LAYER, VARIABLE, OTHER_VARIABLE)
    coords = {LAYER: layers, VARIABLE: names, OTHER_VARIABLE: names}
    ds = xr.Dataset(
        {
            "spearman": (dims, rho, {"description": "Spearman rank correlation over units",
                                     "units": "1"}),
            "ci_low": (dims, low, {"description": "bootstrap percentile lower bound",
                                   "units": "1"}),
            "ci_high": (dims, high, {"description": "bootstrap percentile upper bound",
                                     "units": "1"}),
            "n_units": (dims, count, {"description": "units with both values", "units": "1"}),
        },
        coords=coords,
    )  # fmt: skip
    ds.attrs = {"n_boot": n_boot, "confidence": confidence}
    return ds


def _spearman(pairs: np.ndarray) -> np.ndarray:
    """Spearman correlation of each resample ``(B, n, 2)``: Pearson on average ranks."""
    ranks = stats.rankdata(pairs, axis=1)
    ranks = ranks - ranks.mean(axis=1, keepdims=True)
    num = (ranks[..., 0] * ranks[..., 1]).sum(1)
    den = np.sqrt((ranks**2).sum(1).prod(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _keys(obj, *, where: str, what: str) -> pd.MultiIndex:
    if not all(c in obj.coords and obj[c].dims == (UNIT,) for c in (LAYER, INDEX)):
        raise ValueError(
            f"The {what!r} input of {where} needs 'layer' and 'index' coordinates on 'unit'."
        )
    return pd.MultiIndex.from_arrays(
        [np.asarray(obj[LAYER].values).astype(str), np.asarray(obj[INDEX].values)]
    )


def _joined(var: xr.DataArray, keys: pd.MultiIndex, *, where: str, what: str) -> xr.DataArray:
    series = pd.Series(
        np.asarray(var.values, dtype=np.float64), index=_keys(var, where=where, what=what)
    )
    return xr.DataArray(series.reindex(keys).to_numpy(), dims=UNIT, attrs=dict(var.attrs))
