"""Tuning at each level of another factor: what a marginal tuning curve hides on a grid.

On a deterministic grid (one stimulus per cell, no noise) the spread of a marginal tuning curve
over the other factors' levels is their effect, not uncertainty, so a bootstrap CI of the level
means would mislabel it. :func:`plot_tuning_at_levels` draws the unit's response to one factor
at each level of the other factor of a saved 2-D response map instead (one thin line per level,
the mean over them bold). :func:`conditional_map` picks, among the saved maps, one that holds
the factor. Both only read saved results (``response_maps/<factor>.nc``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from factorprobe.dims import FACTOR_GROUPS, UNIT
from factorprobe.report.plots import (
    axes_or_new,
    factor_label,
    fmt,
    select_units,
    unit_labels,
)

__all__ = [
    "conditional_map",
    "draw_unit_tuning",
    "fixed_figure",
    "is_deterministic_grid",
    "plot_tuning_at_levels",
    "plot_unit_tuning",
]


def conditional_map(
    maps: Mapping[str, xr.DataArray | None], factor: str
) -> tuple[xr.DataArray, str] | None:
    """A saved response map over ``factor`` and another factor, and that other factor.

    A map whose other factor is not of the same group is preferred (for ``x``: size × x over
    x × y), since the group's own members are the factor's closest relatives.

    Parameters
    ----------
    maps : mapping of str to DataArray or None
        Saved response maps by the factor they were saved for (``response_maps/<f>.nc``).
    factor : str
        A factor that is a dimension of the maps (``size``, ``x``, ``y``).

    Returns
    -------
    (DataArray, str) or None
        The map and the other factor, or None when no saved map holds ``factor``.
    """
    group = {m for members in FACTOR_GROUPS.values() if factor in members for m in members}
    found = []
    for grid in maps.values():
        if grid is None or factor not in grid.dims:
            continue
        (other,) = (d for d in grid.dims if d not in (UNIT, factor))
        found.append((other in group, grid, str(other)))
    if not found:
        return None
    found.sort(key=lambda item: item[0])
    return found[0][1], found[0][2]


def plot_tuning_at_levels(
    grid: xr.DataArray,
    unit: int | str,
    factor: str,
    *,
    ax: Axes | None = None,
    pooled: str = "",
    colorbar: bool = True,
) -> Figure:
    """A unit's mean response to ``factor`` at each level of the map's other factor.

    Parameters
    ----------
    grid : DataArray
        A response map (:func:`factorprobe.analysis.response_map`) over ``("unit", a, b)`` with
        ``factor`` one of ``a``, ``b``.
    unit : int or str
        The unit, as a label ``"layer[index]"`` or a position along ``unit``.
    factor : str
        The factor along the horizontal axis.
    ax : Axes, optional
        Draw into this axes instead of a new figure.
    pooled : str, default=""
        The factors the map pools over, named in the title (e.g. ``"y"``).
    colorbar : bool, default=True
        A colour bar of the other factor's levels; without it the title names the colours of
        its first and last level (cheaper in figures of many panels).

    Returns
    -------
    Figure
        One line per level of the other factor (coloured by its value, with a colour bar), the
        mean over those levels in black; responses in the activation's units.

    Raises
    ------
    KeyError
        If the unit is unknown or ``factor`` is not a dimension of ``grid``.

    Examples
    --------
    >>> from factorprobe.analysis import planted_units, response_map
    >>> acts = planted_units(kinds=("conjunctive",), n_units=1, noise=(0.1,), n_sizes=4)
    >>> fig = plot_tuning_at_levels(response_map(acts, ("size", "x")), 0, "size")
    >>> fig.axes[0].get_xlabel()
    'size (px)'
    """
    where = "plot_tuning_at_levels"
    if factor not in grid.dims:
        raise KeyError(
            f"The 'factor' parameter of {where} must be a dimension of the map; got {factor!r} "
            f"(dims {tuple(str(d) for d in grid.dims)})."
        )
    (i,) = select_units(grid, unit if isinstance(unit, str) else [unit], where=where, default=1)
    (other,) = (str(d) for d in grid.dims if d not in (UNIT, factor))
    one = grid.isel({UNIT: i}).transpose(other, factor)
    fig, ax = axes_or_new(ax, 4.6, 3.4)
    xs = np.asarray(grid[factor].values, dtype=float)
    levels = np.asarray(grid[other].values)
    numeric = np.issubdtype(levels.dtype, np.number)
    values = levels.astype(float) if numeric else np.arange(levels.size, dtype=float)
    norm = Normalize(float(values.min()), float(values.max()) or 1.0)
    cmap = colormaps["viridis"]
    for k in range(levels.size):
        ax.plot(xs, one.values[k], "-", color=cmap(norm(values[k])), lw=1.0, alpha=0.85)
    ax.plot(xs, np.nanmean(one.values, axis=0), "o-", color="k", lw=2.0, ms=3,
            label=f"mean over {other}")  # fmt: skip
    if colorbar:
        bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.02)
        bar.set_label(factor_label(other), fontsize=9)
        if not numeric:
            bar.set_ticks(values.tolist(), labels=[fmt(v) for v in levels])
    span = float(np.nanmax(one.values) - np.nanmin(one.values))
    ax.set_xlabel(factor_label(factor))
    ax.set_ylabel("mean activation (a.u.)")
    pooled_note = f", {pooled} pooled" if pooled else ""
    scale = "" if colorbar else f"\n{other} {fmt(levels[0])} purple → {fmt(levels[-1])} yellow"
    ax.set_title(
        f"{unit_labels(grid)[i]}: {factor} at each {other}{pooled_note}\n"
        f"range {span:.3g} a.u.{scale}",
        fontsize=8.5,
    )
    ax.legend(fontsize="x-small", loc="best")
    ax.grid(alpha=0.3)
    return fig


def fixed_figure(width: float, height: float, **margins: float) -> Figure:
    """A Figure with fixed margins in inches (``left``, ``right``, ``bottom``, ``top``) and
    spacing (``wspace``, ``hspace``), without constrained layout (a report of many multi-panel
    figures spends most of its time in the layout engine), on its own Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    inch = {"left": 0.75, "right": 0.2, "bottom": 0.55, "top": 0.6, **margins}
    fig.subplots_adjust(
        left=inch["left"] / width, right=1 - inch["right"] / width,
        bottom=inch["bottom"] / height, top=1 - inch["top"] / height,
        wspace=inch.get("wspace", 0.35), hspace=inch.get("hspace", 0.6),
    )  # fmt: skip
    return fig


def is_deterministic_grid(curves: xr.Dataset) -> bool:
    """Whether the saved curves come from a grid with one stimulus per cell (attrs
    ``replicates`` = 1, written by the analysis); unknown (older files) counts as not."""
    return int(curves.attrs.get("replicates", 0)) == 1


def plot_unit_tuning(
    curves: xr.Dataset,
    maps: Mapping[str, xr.DataArray | None],
    units: list[str],
    *,
    panel: tuple[float, float] = (4.2, 3.2),
) -> Figure:
    """One panel per unit: tuning at each level of another factor on a deterministic grid,
    else the mean per level with its bootstrap CI.

    Parameters
    ----------
    curves : Dataset
        Saved tuning curves of one factor (``tuning/<factor>.nc``).
    maps : mapping of str to DataArray or None
        The saved response maps (:func:`conditional_map` picks one holding the factor).
    units : list of str
        Unit labels ``"layer[index]"``.
    panel : (float, float), default=(4.2, 3.2)
        Width and height of one panel, inches.

    Returns
    -------
    Figure
    """
    fig = fixed_figure(panel[0] * len(units), panel[1], top=0.8)
    axes = fig.subplots(1, len(units), squeeze=False)[0]
    for ax, label in zip(axes, units, strict=True):
        draw_unit_tuning(ax, curves, maps, label)
    return fig


def draw_unit_tuning(
    ax: Axes, curves: xr.Dataset, maps: Mapping[str, xr.DataArray | None], label: str
) -> None:
    """One panel of :func:`plot_unit_tuning` (a unit's tuning to the curves' factor) in ``ax``."""
    from factorprobe.report.plots import plot_tuning_curves

    factor = str(curves.attrs.get("factor", ""))
    found = conditional_map(maps, factor) if is_deterministic_grid(curves) else None
    if found is None:
        plot_tuning_curves(curves, [label], ax=ax)
        ax.set_title(f"{label}: {ax.get_title()}", fontsize=9)
        return
    grid, other = found
    varied = [v for v in str(curves.attrs.get("varied", "")).split(",") if v]
    pooled = ", ".join(v for v in varied if v not in (factor, other))
    plot_tuning_at_levels(grid, label, factor, ax=ax, pooled=pooled, colorbar=False)
