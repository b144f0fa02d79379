"""What the unit-table plots share: argument checks, layer groups, units of measures.

Used by :mod:`factorprobe.report.table_plots` and :mod:`factorprobe.report.basis_plots`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr
from matplotlib import colormaps

from factorprobe.dims import FACTOR, LAYER, UNIT

ALL_UNITS = "all units"
# what a measure is in, where its attrs carry no "units" (DESIGN section 5)
MEASURE_UNITS = {
    "p_value": "probability",
    "q_value": "probability, BH",
    "p_fwer": "probability, FWER",
    "selectivity": "index",
    "selectivity_normalized": "index",
    "selectivity_min_normalized": "index",
    "selectivity_omega": "index",
    "modularity": "index",
    "mean_response_selectivity": "index",
    "omega_squared": "fraction of variance",
    "share": "fraction of MI",
}


def _check_table(table: xr.Dataset, needed: Sequence[str], *, where: str, name: str = "table"):
    if not isinstance(table, xr.Dataset) or UNIT not in table.dims:
        raise TypeError(
            f"The {name!r} parameter of {where} must be a unit table (a Dataset over 'unit' "
            f"from unit_table); got {type(table).__name__}."
        )
    for var in needed:
        if var not in table.data_vars:
            raise KeyError(
                f"Unknown variable {var!r} in the {name} of {where}; valid variables: "
                f"{', '.join(repr(str(v)) for v in table.data_vars)}."
            )


def _check_factor(
    table: xr.Dataset, value: str, *, name: str, where: str, table_name: str = "table"
) -> None:
    valid = [str(f) for f in table[FACTOR].values] if FACTOR in table.coords else []
    if value not in valid:
        raise KeyError(
            f"Unknown factor {value!r} for the {name!r} parameter of {where} "
            f"({table_name}); valid factors: {', '.join(repr(v) for v in valid)}."
        )


def _layers(
    table: xr.Dataset, layer: str | Sequence[str] | None, *, where: str
) -> list[tuple[str, np.ndarray]]:
    """(name, boolean mask over unit) per layer, in order of first appearance."""
    n = table.sizes[UNIT]
    if LAYER not in table.coords or table[LAYER].dims != (UNIT,):
        if layer is not None:
            raise KeyError(f"{where} got 'layer', but the table has no 'layer' coordinate.")
        return [(ALL_UNITS, np.ones(n, bool))]
    values = table[LAYER].values.astype(str)
    available = [str(v) for v in dict.fromkeys(values)]
    wanted = available if layer is None else _as_list(layer)
    for w in wanted:
        if w not in available:
            raise KeyError(
                f"Unknown layer {w!r} for {where}; valid layers: "
                f"{', '.join(repr(a) for a in available)}."
            )
    return [(w, values == w) for w in wanted]


def _with_layer(table: xr.Dataset) -> xr.Dataset:
    """The table with a ``layer`` coordinate (``"all units"`` where it has none)."""
    if LAYER in table.coords and table[LAYER].dims == (UNIT,):
        return table
    return table.assign_coords({LAYER: (UNIT, np.full(table.sizes[UNIT], ALL_UNITS))})


def _as_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _measure_units(table: xr.Dataset, name: str) -> str:
    units = str(table[name].attrs.get("units", ""))
    if units and units != "1":  # "1": dimensionless, in the UDUNITS convention
        return units
    return MEASURE_UNITS.get(name, "dimensionless")


def _estimator_note(table: xr.Dataset) -> str:
    est, corr = table.attrs.get("estimator"), table.attrs.get("correction")
    if est is None:
        return ""
    return f" ({est} MI" + (f", {corr}-corrected)" if corr and corr != "none" else ")")


def _layer_colours(k: int) -> list:
    base = colormaps["tab10" if k <= 10 else "tab20"]
    return [base(i % base.N) for i in range(k)]


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[np.isfinite(values)]
