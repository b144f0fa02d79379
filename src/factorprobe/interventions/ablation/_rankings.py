"""Rankings for cumulative ablation: one value per unit of a layer, and the orders they give.

A ranking is given as a unit-table column name (``"mi"``, or ``"mi:size"`` with its factor), a
DataArray over ``unit`` (matched by the ``layer`` and ``index`` coordinates), or a plain array of
the layer's width; several as a mapping from label to any of these, or a list of names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from factorprobe._options import ABLATION_DIRECTIONS
from factorprobe.dims import FACTOR, INDEX, LAYER, UNIT

__all__ = ["DIRECTIONS", "Ranking", "ablation_order", "resolve_rankings"]

DIRECTIONS: tuple[str, ...] = ABLATION_DIRECTIONS
_WHERE = "cumulative_ablation"

TableFn = Callable[[list[str]], xr.Dataset]


@dataclass(frozen=True)
class Ranking:
    """One ranking: its label, the factor it is about ('' for none) and one value per unit."""

    label: str
    factor: str
    values: np.ndarray


def resolve_rankings(
    ranking: object,
    *,
    factor: str | None,
    layer: str,
    n_units: int,
    table: TableFn,
) -> list[Ranking]:
    """Resolve the ``ranking`` argument into labelled per-unit values (``table`` made lazily)."""
    if isinstance(ranking, xr.Dataset):
        raise TypeError(
            f"The 'ranking' parameter of {_WHERE} must be one variable, e.g. "
            f"table['mi'].sel(factor='size'), not a whole Dataset."
        )
    specs: list[tuple[str | None, object]]
    if isinstance(ranking, Mapping):
        if not ranking:
            raise ValueError(f"The 'ranking' parameter of {_WHERE} is an empty mapping.")
        specs = [(str(k), v) for k, v in ranking.items()]
    elif isinstance(ranking, list | tuple) and ranking and all(isinstance(r, str) for r in ranking):
        specs = [(None, r) for r in ranking]
    else:
        specs = [(None, ranking)]
    out = [_one(label, spec, factor, layer, n_units, table) for label, spec in specs]
    labels = [r.label for r in out]
    if len(set(labels)) != len(labels):
        raise ValueError(
            f"The rankings of {_WHERE} need distinct labels; got {labels!r}; pass a mapping "
            f"from label to ranking."
        )
    return out


def _one(
    label: str | None, spec: object, factor: str | None, layer: str, n: int, table: TableFn
) -> Ranking:
    if isinstance(spec, str):
        return _from_column(label, spec, factor, layer, n, table)
    if isinstance(spec, xr.DataArray):
        return _from_dataarray(label, spec, factor, layer, n)
    try:
        values = np.asarray(spec, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"The 'ranking' parameter of {_WHERE} must be a unit-table column name, a "
            f"DataArray over 'unit' or an array of {n} values; got {type(spec).__name__}."
        ) from err
    if values.shape != (n,):
        raise ValueError(
            f"A ranking array for layer {layer!r} of {_WHERE} needs one value per unit, shape "
            f"({n},); got shape {values.shape}."
        )
    return Ranking(label or "custom", "", values)


def _from_column(
    label: str | None, spec: str, factor: str | None, layer: str, n: int, table: TableFn
) -> Ranking:
    column, _, named = spec.partition(":")
    if named and factor is not None and named != factor:
        raise ValueError(
            f"Ranking {spec!r} of {_WHERE} names factor {named!r} but factor={factor!r}; give "
            f"the factor once."
        )
    chosen = named or factor
    ds = table([chosen] if chosen else [])
    if column not in ds.data_vars:
        valid = ", ".join(repr(v) for v in ds.data_vars if ds[v].dtype.kind in "fiu")
        raise KeyError(f"Unknown unit-table column {column!r} for {_WHERE}; valid: {valid}.")
    values = ds[column]
    if FACTOR in values.dims:
        if not chosen:
            raise ValueError(
                f"Column {column!r} of the unit table has one value per factor; name one, e.g. "
                f"ranking='{column}:size' or factor='size' in {_WHERE}."
            )
        values = values.sel({FACTOR: chosen})
    elif chosen:
        raise ValueError(
            f"Column {column!r} of the unit table has one value per unit, not per factor; "
            f"drop the factor {chosen!r} from the ranking of {_WHERE}."
        )
    default = f"{column}:{chosen}" if chosen else column
    ranked = _from_dataarray(label or default, values, None, layer, n)
    return Ranking(ranked.label, chosen or "", ranked.values)


def _from_dataarray(
    label: str | None, spec: xr.DataArray, factor: str | None, layer: str, n: int
) -> Ranking:
    if FACTOR in spec.dims:
        if factor is None:
            raise ValueError(
                f"The ranking DataArray of {_WHERE} has a 'factor' dimension; select one, e.g. "
                f"table['mi'].sel(factor='size'), or pass factor='size'."
            )
        spec = spec.sel({FACTOR: factor})
    if spec.dims != (UNIT,):
        raise ValueError(
            f"The ranking DataArray of {_WHERE} must have the single dimension 'unit'; got "
            f"dims {spec.dims}."
        )
    if LAYER in spec.coords:
        names = np.asarray(spec[LAYER].values).astype(str)
        if layer not in names:
            raise ValueError(
                f"The ranking DataArray of {_WHERE} has no units of layer {layer!r}; its layers: "
                f"{', '.join(repr(v) for v in dict.fromkeys(names.tolist()))}."
            )
        spec = spec.isel({UNIT: np.flatnonzero(names == layer)})
    values = np.asarray(spec.values, dtype=np.float64)
    if INDEX in spec.coords:
        index = np.asarray(spec[INDEX].values)
        if sorted(index.tolist()) != list(range(n)):
            raise ValueError(
                f"The ranking DataArray of {_WHERE} must cover units 0..{n - 1} of layer "
                f"{layer!r} once each (its 'index' coordinate); got {index.size} units."
            )
        values = values[np.argsort(index)]
    elif values.shape != (n,):
        raise ValueError(
            f"The ranking DataArray of {_WHERE} needs {n} values for layer {layer!r}; got "
            f"{values.size}."
        )
    chosen = factor
    if chosen is None and FACTOR in spec.coords and spec[FACTOR].ndim == 0:
        chosen = str(spec[FACTOR].values)
    name = str(spec.name) if spec.name is not None else "ranking"
    return Ranking(label or (f"{name}:{chosen}" if chosen else name), chosen or "", values)


def ablation_order(values: np.ndarray, direction: str, rng: np.random.Generator) -> np.ndarray:
    """Unit indices in ablation order: highest (or lowest) values first, NaN values last.

    Ties are broken in a seeded random order, so that equal values (many units with MI 0) are
    not ablated by their position in the layer.
    """
    shuffled = rng.permutation(values.size)
    v = values[shuffled]
    key = -v if direction == "highest" else v
    key = np.where(np.isnan(key), np.inf, key)
    return shuffled[np.argsort(key, kind="stable")]


def check_directions(directions: Sequence[str]) -> tuple[str, ...]:
    """The directions as a tuple, each one of :data:`DIRECTIONS`, none twice."""
    if isinstance(directions, str):
        directions = (directions,)
    out = tuple(directions)
    bad = [d for d in out if d not in DIRECTIONS]
    if bad or not out or len(set(out)) != len(out):
        raise ValueError(
            f"The 'directions' parameter of {_WHERE} must name each of 'highest', 'lowest' at "
            f"most once; got {directions!r}."
        )
    return out
