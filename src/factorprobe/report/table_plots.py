"""Plots of unit tables: selectivity scatter, per-layer histograms, units vs random directions.

Inputs are Datasets from :func:`factorprobe.analysis.unit_table` (over ``unit`` and ``factor``,
with a ``layer`` coordinate on ``unit``); outputs are :class:`matplotlib.figure.Figure` objects
built without ``pyplot`` (see :mod:`factorprobe.report.plots`, whose :func:`save_figure` writes
them to PNG). A table without a ``layer`` coordinate is drawn as one layer, "all units".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from factorprobe._validation import check_int
from factorprobe.dims import FACTOR, UNIT
from factorprobe.report._basis_panels import (
    edges,
)
from factorprobe.report._table_common import (
    _as_list,
    _check_factor,
    _check_table,
    _estimator_note,
    _finite,
    _layer_colours,
    _layers,
    _measure_units,
)
from factorprobe.report.basis_plots import plot_basis_vs_random
from factorprobe.report.plots import new_figure

__all__ = ["plot_basis_vs_random", "plot_histograms", "plot_selectivity_scatter"]


#: a histogram whose values span less than this (relative to their size) says so, unbinned
NEAR_CONSTANT = 1e-3


# ------------------------------------------------------------------------------ scatter


def plot_selectivity_scatter(
    table: xr.Dataset,
    *,
    x: str = "size",
    y: str = "position",
    layer: str | Sequence[str] | None = None,
    color: str = "selectivity",
) -> Figure:
    """MI with one factor against MI with another, per unit, coloured by the selectivity index.

    One panel per layer, all on the same equal axes from 0 bits, with the diagonal (equal MI)
    for reference. Bias-corrected MI below 0 (indistinguishable from 0) is drawn at 0, as the
    selectivity index clips it. Units with no significant MI (selectivity NaN, preferred factor
    ``none``) are drawn grey as "not significant".

    Parameters
    ----------
    table : Dataset
        From :func:`factorprobe.analysis.unit_table`, with ``mi`` over ``("unit", "factor")``.
    x, y : str, default="size", "position"
        Factors of the table on the horizontal and vertical axes.
    layer : str or sequence of str, optional
        Layers to draw (values of the ``layer`` coordinate); default all.
    color : str, default="selectivity"
        A per-unit variable in [0, 1] for the colour, e.g. ``"selectivity_normalized"``.

    Returns
    -------
    Figure

    Raises
    ------
    KeyError
        If a factor, layer or variable is not in the table (the message lists the valid ones).

    Examples
    --------
    >>> from factorprobe.analysis import planted_units, unit_table
    >>> acts = planted_units(kinds=("size", "position"), n_units=3, noise=(0.5,), n_sizes=4,
    ...                      n_x=3, n_y=3, repeats=2)
    >>> fig = plot_selectivity_scatter(unit_table(acts, n_permutations=50))
    >>> fig.axes[0].get_xlabel()
    'MI with size (bits)'
    """
    where = "plot_selectivity_scatter"
    _check_table(table, ("mi", color), where=where)
    for name, value in (("x", x), ("y", y)):
        _check_factor(table, value, name=name, where=where)
    if UNIT not in table[color].dims or table[color].ndim != 1:
        raise ValueError(
            f"The 'color' parameter of {where} must be a per-unit variable; "
            f"{color!r} has dims {tuple(table[color].dims)}."
        )
    groups = _layers(table, layer, where=where)
    mi = table["mi"].clip(min=0.0)
    shown = np.logical_or.reduce([mask for _, mask in groups])
    top = float(mi.sel({FACTOR: [x, y]}).values[shown].max())
    limit = 1.05 * top if top > 0 else 0.1
    ncols = min(len(groups), 3)
    nrows = int(np.ceil(len(groups) / ncols))
    fig = new_figure(3.3 * ncols + 1.3, 3.3 * nrows + 0.9)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    cmap = colormaps["viridis"]
    mappable: PathCollection | None = None
    for ax, (name, mask) in zip(axes, groups, strict=False):
        xs = mi.sel({FACTOR: x}).values[mask]
        ys = mi.sel({FACTOR: y}).values[mask]
        c = table[color].values[mask].astype(float)
        blank = ~np.isfinite(c)
        ax.plot([0, limit], [0, limit], ls="--", color="0.5", lw=0.8, zorder=0)
        # clip_on=False: units at 0 bits (clipped) sit on the axes and stay whole
        ax.scatter(
            xs[blank], ys[blank], s=14, color="0.75", edgecolors="0.5", lw=0.4, clip_on=False
        )
        mappable = ax.scatter(
            xs[~blank], ys[~blank], c=c[~blank], s=18, cmap=cmap, vmin=0.0, vmax=1.0,
            edgecolors="k", lw=0.3, clip_on=False, zorder=3,
        )  # fmt: skip
        ax.set_xlim(0, limit)
        ax.set_ylim(0, limit)
        ax.set_aspect("equal")
        raw = table["mi"].sel({FACTOR: [x, y]}).values[mask]
        below = int((np.nan_to_num(raw, nan=0.0) < 0).any(axis=1).sum())
        clipped = f"\n{below} with MI < 0 drawn at 0 (clipped)" if below else ""
        ax.set_title(f"{name} ({int(mask.sum())} units, {int(blank.sum())} n.s.){clipped}",
                     fontsize=10)  # fmt: skip
        ax.set_xlabel(f"MI with {x} (bits)")
        ax.set_ylabel(f"MI with {y} (bits)")
        ax.grid(alpha=0.3)
    for ax in axes[len(groups) :]:
        ax.set_axis_off()
    compared = str(table.attrs.get("compared", "")).replace(",", " vs ")
    if mappable is None:  # not reached: _layers returns at least one group
        raise ValueError(f"{where} found no layer to draw.")
    fig.colorbar(
        mappable,
        ax=list(axes[: len(groups)]),
        label=f"{color}" + (f" ({compared})" if compared else ""),
        shrink=0.85,
    )
    handles = [
        Line2D([], [], ls="none", marker="o", color="0.75", mec="0.5", label="not significant"),
        Line2D([], [], ls="--", color="0.5", label="equal MI"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize="small")
    fig.suptitle(f"MI with {x} vs {y}{_estimator_note(table)}")
    return fig


# ------------------------------------------------------------------------------ histograms


def plot_histograms(
    table: xr.Dataset,
    *,
    variables: str | Sequence[str] | None = None,
    layer: str | Sequence[str] | None = None,
    bins: int = 20,
    ncols: int = 4,
) -> Figure:
    """Histogram of every numeric measure of a unit table, with one colour per layer.

    One panel per variable, and per factor for a variable over ``("unit", "factor")``; every
    layer's units are counted on the same bins, so the layers compare. NaN values (e.g. the
    selectivity of units without significant MI) are left out and counted in the panel title.

    Parameters
    ----------
    table : Dataset
        From :func:`factorprobe.analysis.unit_table`.
    variables : str or sequence of str, optional
        Variables to draw; default every numeric variable with a ``unit`` dimension.
    layer : str or sequence of str, optional
        Layers to draw; default all.
    bins : int, default=20
        Number of bins per panel (>= 2).
    ncols : int, default=4
        Panels per row (>= 1).

    Returns
    -------
    Figure
        The x axis of each panel is labelled with the variable's units (``attrs["units"]``,
        e.g. bits; probability, index or fraction for the dimensionless measures).

    Raises
    ------
    KeyError
        If a variable or layer is not in the table (the message lists the valid ones).

    Examples
    --------
    >>> from factorprobe.analysis import planted_units, unit_table
    >>> acts = planted_units(kinds=("size", "noise"), n_units=3, noise=(0.5,), n_sizes=4,
    ...                      n_x=3, n_y=3, repeats=2)
    >>> fig = plot_histograms(unit_table(acts, n_permutations=50), variables=["mi", "entropy"])
    >>> [ax.get_xlabel() for ax in fig.axes]
    ['bits', 'bits', 'bits']
    """
    where = "plot_histograms"
    _check_table(table, (), where=where)
    numeric = [
        str(v)
        for v, da in table.data_vars.items()
        if UNIT in da.dims and np.issubdtype(da.dtype, np.number) and da.ndim <= 2
    ]
    names = numeric if variables is None else _as_list(variables)
    for name in names:
        if name not in numeric:
            raise KeyError(
                f"Unknown variable {name!r} for {where}; valid variables: "
                f"{', '.join(repr(v) for v in numeric)}."
            )
    bins = check_int(bins, name="bins", where=where, minimum=2)
    ncols = check_int(ncols, name="ncols", where=where, minimum=1)
    groups = _layers(table, layer, where=where)
    panels = [
        (name, factor)
        for name in names
        for factor in (
            [str(f) for f in table[FACTOR].values] if FACTOR in table[name].dims else [None]
        )
    ]
    ncols = min(ncols, len(panels))
    nrows = int(np.ceil(len(panels) / ncols))
    fig = new_figure(2.9 * ncols, 2.3 * nrows + 0.6)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    colours = _layer_colours(len(groups))
    for ax, (name, factor) in zip(axes, panels, strict=False):
        da = table[name] if factor is None else table[name].sel({FACTOR: factor})
        values = da.transpose(UNIT).values.astype(float)
        finite = values[np.isfinite(values)]
        shown = np.logical_or.reduce([m for _, m in groups])
        kept = _finite(values[shown])
        if kept.size and np.ptp(kept) <= NEAR_CONSTANT * max(1.0, float(np.abs(kept).max())):
            ax.text(0.5, 0.5, f"near-constant:\nall {kept.size} units\n{np.median(kept):.3g}"
                    f" (range {np.ptp(kept):.1g})", ha="center", va="center", fontsize=9,
                    transform=ax.transAxes)  # fmt: skip
            ax.set_title(name if factor is None else f"{name} · {factor}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        bin_edges = edges(finite, bins)
        # bars side by side, so that no layer hides another
        ax.hist(
            [_finite(values[mask]) for _, mask in groups],
            bins=bin_edges,
            color=colours,
            histtype="bar",
            rwidth=0.9,
        )
        missing = int((~np.isfinite(values[shown])).sum())
        title = name if factor is None else f"{name} · {factor}"
        ax.set_title(title + (f" ({missing} NaN)" if missing else ""), fontsize=9)
        ax.set_xlabel(_measure_units(table, name), fontsize=8)
        ax.set_ylabel("number of units", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
    for ax in axes[len(panels) :]:
        ax.set_axis_off()
    handles = [Patch(color=c, label=label) for (label, _), c in zip(groups, colours, strict=True)]
    fig.legend(
        handles=handles, title="layer", loc="outside lower center", ncols=min(6, len(handles))
    )
    fig.suptitle(f"Unit measures per layer{_estimator_note(table)}")
    return fig
