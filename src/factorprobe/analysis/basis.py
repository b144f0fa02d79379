"""Is the neuron basis privileged? Units against a baseline of pseudo-units, per layer.

The baseline is usually the unit table of :func:`~factorprobe.analysis.directions.random_directions`
or :func:`~factorprobe.analysis.directions.principal_components` of the same activations
(DESIGN §5.12); see docs/directions.md for how to read the comparison.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from factorprobe._validation import check_choice, check_real
from factorprobe.analysis.directions import BASIS
from factorprobe.dims import LAYER, UNIT

__all__ = ["basis_comparison"]

Test = Literal["mannwhitney", "ks"]
TESTS: tuple[str, ...] = get_args(Test)
Missing = Literal["exclude", "zero"]
MISSING: tuple[str, ...] = get_args(Missing)

_COMPARISON = (
    *("fraction_above", "baseline_percentile", "baseline_fraction_above"),
    *("fraction_at_or_above", "baseline_fraction_at_or_above", "median_units"),
    *("median_baseline", "statistic", "p_value", "probability_greater"),
)


def basis_comparison(
    units: xr.Dataset | xr.DataArray,
    baseline: xr.Dataset | xr.DataArray,
    *,
    measure: str = "selectivity",
    percentile: float = 95.0,
    test: Test = "mannwhitney",
    missing: Missing = "exclude",
) -> xr.Dataset:
    """Per layer, how the basis units' ``measure`` compares with its distribution over a baseline.

    For each layer present in both inputs, with ``x`` the units' values and ``y`` the baseline's
    (pseudo-units from :func:`random_directions` or :func:`principal_components`):

    - ``baseline_percentile``: the ``percentile``-th percentile of ``y`` (linear interpolation);
    - ``fraction_above``: the fraction of ``x`` strictly above it; about ``1 − percentile/100``
      if units are exchangeable with the directions. ``baseline_fraction_above``, the same for
      ``y``, is that chance level for the data at hand;
    - ``fraction_at_or_above``, ``baseline_fraction_at_or_above``: the same with ``>=``. They
      differ when values tie at the percentile, as SI does: SI = 1 whenever the second factor's
      corrected MI is clipped at 0, and if more than ``100 − percentile`` % of the baseline is
      at 1, nothing is strictly above the percentile; read these against each other then;
    - ``median_units``, ``median_baseline``;
    - ``statistic``, ``p_value``: one-sided test of "units larger": Mann–Whitney U (U of the
      units, ties averaged) or Kolmogorov–Smirnov (sup of G_baseline − F_units), as in scipy;
      per layer, not corrected across layers. Under the null (the basis is a random rotation)
      the units are nearly independent draws of the directions' distribution (exactly so as
      the layer widens), so the p-value is an approximate guide;
    - ``probability_greater`` = U / (n_x n_y) = P(X > Y) + P(X = Y)/2, the common-language
      effect size (0.5: no difference), whichever the test.

    Missing values: a unit with no significant MI for any compared factor has SI (and
    modularity) NaN. ``missing="exclude"`` leaves them out of both sides (do the units that code
    something code it more exclusively than the directions that do?); ``"zero"`` counts them as
    0, which also penalises a basis with many silent units. ``n_units``, ``n_baseline`` count
    the values compared, ``n_missing_units``, ``n_missing_baseline`` the NaNs. A layer with no
    value on one side gets NaN statistics. See docs/directions.md.

    Parameters
    ----------
    units, baseline : Dataset or DataArray
        Unit tables (outputs of :func:`~factorprobe.analysis.unit_table`) or DataArrays of the
        measure with dims ``("unit",)``; both need a ``layer`` coordinate on ``unit``. A
        measure over ``(unit, factor)`` such as ``mi`` is passed as a DataArray,
        ``table["mi"].sel(factor="size")``.
    measure : str, default="selectivity"
        Variable of the unit tables to compare (ignored for DataArrays, whose name is recorded).
    percentile : float, default=95.0
        Percentile of the baseline, in (0, 100).
    test : {"mannwhitney", "ks"}, default="mannwhitney"
        One-sided two-sample test.
    missing : {"exclude", "zero"}, default="exclude"
        What NaN values mean (above).

    Returns
    -------
    Dataset
        Over ``layer`` (layers of ``units`` present in ``baseline``, in order): the variables
        above, in the units of the measure (fractions and counts unitless). Attrs: ``measure``,
        ``percentile``, ``test``, ``alternative="greater"``, ``missing``, ``baseline_basis``.

    Raises
    ------
    KeyError
        If ``measure`` is not a variable of a table, or the inputs share no layer.
    ValueError
        For bad options, a measure not over ``unit`` only, or no ``layer`` coordinate.
    TypeError
        If an input is neither a Dataset nor a DataArray.

    References
    ----------
    Mann, H. B. & Whitney, D. R. (1947). Ann. Math. Stat. 18, 50–60.
    McGraw, K. O. & Wong, S. P. (1992). A common language effect size statistic. Psychol.
    Bull. 111, 361–365.
    Bau, D. et al. (2017). Network dissection. CVPR (units vs random rotations).
    Morcos, A. S. et al. (2018). On the importance of single directions for generalization.
    ICLR.

    Examples
    --------
    >>> import xarray as xr
    >>> u = xr.DataArray([0.9, 0.8, 0.95, float("nan")], dims="unit",
    ...                  coords={"layer": ("unit", ["fc1"] * 4)})
    >>> b = xr.DataArray([0.1, 0.2, 0.3, 0.4, 0.5], dims="unit",
    ...                  coords={"layer": ("unit", ["fc1"] * 5)})
    >>> res = basis_comparison(u, b)
    >>> float(res["fraction_above"][0]), int(res["n_missing_units"][0])
    (1.0, 1)
    """
    where = "basis_comparison"
    percentile = check_real(percentile, name="percentile", where=where, minimum=0.0, maximum=100.0)
    if percentile in (0.0, 100.0):
        raise ValueError(
            f"The 'percentile' parameter of {where} must be in (0, 100), exclusive; "
            f"got {percentile}."
        )
    check_choice(test, TESTS, name="test", where=where)
    check_choice(missing, MISSING, name="missing", where=where)
    x_all = _measure(units, measure, "units", where)
    y_all = _measure(baseline, measure, "baseline", where)
    x_layers = list(map(str, pd.unique(np.asarray(x_all[LAYER].values).astype(str))))
    y_labels = np.asarray(y_all[LAYER].values).astype(str)
    shared = [name for name in x_layers if name in set(y_labels)]
    if not shared:
        raise KeyError(
            f"{where} found no layer in both inputs; units have layers {x_layers}, baseline "
            f"has {sorted(set(y_labels.tolist()))}."
        )
    x_labels = np.asarray(x_all[LAYER].values).astype(str)
    columns = [
        _compare_layer(
            np.asarray(x_all.values, dtype=float)[x_labels == name],
            np.asarray(y_all.values, dtype=float)[y_labels == name],
            percentile,
            test,
            missing,
        )
        for name in shared  # one iteration per layer; the work inside is vectorised
    ]
    ds = xr.Dataset(coords={LAYER: shared})
    for key in columns[0]:
        values = np.asarray([c[key] for c in columns])
        ds[key] = ((LAYER,), values)
    basis = (
        ",".join(map(str, pd.unique(np.asarray(baseline[BASIS].values).astype(str))))
        if BASIS in baseline.coords
        else "unknown"
    )
    ds.attrs = {
        "measure": str(x_all.name),
        "percentile": percentile,
        "test": test,
        "alternative": "greater",
        "missing": missing,
        "baseline_basis": basis,
    }
    return ds


def _measure(obj: object, measure: str, role: str, where: str) -> xr.DataArray:
    if isinstance(obj, xr.Dataset):
        if measure not in obj.data_vars:
            over_unit = [str(k) for k, v in obj.data_vars.items() if v.dims == (UNIT,)]
            raise KeyError(
                f"The 'measure' {measure!r} of {where} is not a variable of the {role} table; "
                f"variables over 'unit': {', '.join(repr(v) for v in over_unit)}."
            )
        values = obj[measure]
    elif isinstance(obj, xr.DataArray):
        values = obj if obj.name is not None else obj.rename(measure)
    else:
        raise TypeError(
            f"The {role!r} argument of {where} must be a unit table (xarray.Dataset) or a "
            f"DataArray over 'unit'; got {type(obj).__name__}."
        )
    if values.dims != (UNIT,):
        raise ValueError(
            f"The {role} measure {values.name!r} of {where} must have dims ('unit',); got "
            f"{values.dims}; select one value per unit first, e.g. "
            f"table[{values.name!r}].sel(factor='size')."
        )
    if LAYER not in values.coords or values[LAYER].dims != (UNIT,):
        raise ValueError(
            f"The {role} of {where} need a 'layer' coordinate on 'unit' to pair layers; add "
            "one with .assign_coords(layer=('unit', names))."
        )
    if values.dtype.kind not in "biuf":
        raise TypeError(f"The {role} measure of {where} must be numeric; got {values.dtype}.")
    return values


def _compare_layer(
    x: np.ndarray, y: np.ndarray, percentile: float, test: str, missing: str
) -> dict[str, float | int]:
    x_nan, y_nan = np.isnan(x), np.isnan(y)
    if missing == "zero":
        x, y = np.where(x_nan, 0.0, x), np.where(y_nan, 0.0, y)
    else:
        x, y = x[~x_nan], y[~y_nan]
    out: dict[str, float | int] = dict.fromkeys(_COMPARISON, np.nan) | {
        "n_units": int(x.size),
        "n_baseline": int(y.size),
        "n_missing_units": int(x_nan.sum()),
        "n_missing_baseline": int(y_nan.sum()),
    }
    if x.size == 0 or y.size == 0:
        return out
    threshold = float(np.percentile(y, percentile))
    u = stats.mannwhitneyu(x, y, alternative="greater")
    if test == "mannwhitney":
        statistic, p_value = float(u.statistic), float(u.pvalue)
    else:
        # scipy's alternative='less' is "CDF of x below CDF of y": x stochastically larger
        ks = stats.ks_2samp(x, y, alternative="less")
        statistic, p_value = float(ks.statistic), float(ks.pvalue)
    out |= {
        "fraction_above": float((x > threshold).mean()),
        "baseline_percentile": threshold,
        "baseline_fraction_above": float((y > threshold).mean()),
        "fraction_at_or_above": float((x >= threshold).mean()),
        "baseline_fraction_at_or_above": float((y >= threshold).mean()),
        "median_units": float(np.median(x)),
        "median_baseline": float(np.median(y)),
        "statistic": statistic,
        "p_value": p_value,
        "probability_greater": float(u.statistic) / (x.size * y.size),
    }
    return out
