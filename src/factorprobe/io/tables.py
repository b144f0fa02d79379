"""Exported tables: the unit table as one row per unit, its data dictionary, layer-level tables.

The wide unit table has one row per layer × unit: the unit's coordinates (``unit``, ``layer``,
``index``, ...), then every per-unit measure once (``entropy``, ``selectivity``, ...), then every
per-factor measure as one column per factor, named ``<measure>_<factor>`` (``mi_size``,
``mi_position``, ``p_value_size``, ...). The data dictionary is generated from the variables'
``description`` (or ``long_name``) and ``units`` attrs, so a measure the analysis adds is
described where it is computed; only the coordinates that label units are described here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from factorprobe.dims import FACTOR, INDEX, LAYER, UNIT

__all__ = ["data_dictionary", "layer_dataframe", "unit_dataframe"]

# The one place that describes the coordinates labelling units (the analysis describes measures).
_COORDINATES: dict[str, tuple[str, str]] = {
    UNIT: ("position of the unit among all captured units (all layers)", ""),
    LAYER: ("layer the unit belongs to (module path, or 'pool' for pooled features)", ""),
    INDEX: ("unit number within its layer, from 0", ""),
    "run": ("name of the run (configuration) the row comes from", ""),
}
_UNDESCRIBED = "(no description attr on this variable)"


def unit_dataframe(table: xr.Dataset) -> pd.DataFrame:
    """The unit table as a wide DataFrame: one row per unit, one column per measure and factor.

    Parameters
    ----------
    table : Dataset
        From :func:`factorprobe.analysis.unit_table`: variables over ``unit``, ``factor``,
        ``(unit, factor)``, with coordinates on ``unit``.

    Returns
    -------
    DataFrame
        Columns: the ``unit`` coordinates, the per-unit measures, then ``<measure>_<factor>`` for
        every per-factor measure (a ``factor``-only variable such as ``factor_entropy`` is
        repeated on every row). Values in the table's units (bits for information).

    Raises
    ------
    ValueError
        If two variables would give the same column name.

    Examples
    --------
    >>> from factorprobe.analysis import planted_units, unit_table
    >>> t = unit_table(planted_units(kinds=("size",), n_units=1, seed=0), n_permutations=20)
    >>> [c for c in unit_dataframe(t).columns if c.startswith("mi_")][:2]
    ['mi_size', 'mi_position']
    """
    n = table.sizes[UNIT]
    factors = [str(f) for f in table[FACTOR].values] if FACTOR in table.dims else []
    columns: dict[str, np.ndarray] = {UNIT: np.asarray(table[UNIT].values)}
    labels = [c for c in (LAYER, INDEX) if c in table.coords]
    labels += [str(c) for c in table.coords if c not in (UNIT, LAYER, INDEX)]
    for name in labels:
        if table[name].dims == (UNIT,):
            columns[name] = np.asarray(table[name].values)
    for name in _per_unit(table):
        columns[name] = np.asarray(table[name].values)
    for name in _per_factor(table):
        var = table[name].transpose(*[d for d in (UNIT, FACTOR) if d in table[name].dims])
        for j, f in enumerate(factors):
            column = _column(name, f)
            if column in columns:
                raise ValueError(f"Two unit-table variables give the column {column!r}.")
            values = var.values[:, j] if UNIT in var.dims else np.repeat(var.values[j], n)
            columns[column] = np.asarray(values)
    frame = pd.DataFrame(columns)
    for name, values in columns.items():
        if values.dtype.kind in "UO":
            frame[name] = frame[name].astype(str)
    return frame


def data_dictionary(table: xr.Dataset) -> pd.DataFrame:
    """Describe every column of :func:`unit_dataframe`: meaning, units and dtype.

    Parameters
    ----------
    table : Dataset
        The unit table (its variables' ``description``/``long_name`` and ``units`` attrs are read).

    Returns
    -------
    DataFrame
        Columns ``column``, ``description``, ``units`` (``bits``, ``1`` for dimensionless, empty
        for labels), ``dtype``, ``variable`` (the Dataset variable) and ``factor`` (empty for
        per-unit columns), one row per column of :func:`unit_dataframe`, in the same order.
    """
    frame = unit_dataframe(table)
    factors = [str(f) for f in table[FACTOR].values] if FACTOR in table.dims else []
    rows = []
    for name in frame.columns:
        variable, factor = _source(table, name, factors)
        if variable in table.data_vars:
            attrs = table[variable].attrs
            text = str(attrs.get("description") or attrs.get("long_name") or _UNDESCRIBED)
            units = str(attrs.get("units", ""))
        else:
            attrs = table[variable].attrs if variable in table.coords else {}
            known = _COORDINATES.get(variable, (_UNDESCRIBED, ""))
            text = str(attrs.get("description") or attrs.get("long_name") or known[0])
            units = str(attrs.get("units", known[1]))
        if factor:
            text = f"{text} [factor {factor!r}]"
        rows.append(
            {
                "column": name,
                "description": text,
                "units": units,
                "dtype": str(frame[name].dtype),
                "variable": variable,
                "factor": factor,
            }
        )
    return pd.DataFrame(rows)


def layer_dataframe(layers: xr.Dataset) -> pd.DataFrame:
    """Layer-level results over ``(layer, factor)`` as a tidy DataFrame (one row per pair).

    Parameters
    ----------
    layers : Dataset
        E.g. :func:`factorprobe.analysis.decoding`'s result; only its ``(layer, factor)``
        variables are kept.

    Returns
    -------
    DataFrame
        Columns ``layer``, ``factor`` and one per variable.
    """
    keep = [v for v in layers.data_vars if set(layers[v].dims) == {LAYER, FACTOR}]
    frame = layers[keep].transpose(LAYER, FACTOR).to_dataframe().reset_index()
    return frame[[LAYER, FACTOR, *[str(k) for k in keep]]]


def _per_unit(table: xr.Dataset) -> list[str]:
    return [str(v) for v in table.data_vars if table[v].dims == (UNIT,)]


def _per_factor(table: xr.Dataset) -> list[str]:
    return [str(v) for v in table.data_vars if FACTOR in table[v].dims]


def _column(variable: str, factor: str) -> str:
    return f"{variable}_{factor}"


def _source(table: xr.Dataset, column: str, factors: list[str]) -> tuple[str, str]:
    if column in table.variables and (column in table.coords or table[column].dims == (UNIT,)):
        return column, ""
    for variable in _per_factor(table):
        for f in factors:
            if column == _column(variable, f):
                return variable, f
    return column, ""
