"""Plots of unit tables: selectivity scatter, per-layer histograms, units vs random directions.

Inputs are Datasets from :func:`factorprobe.analysis.unit_table` (over ``unit`` and ``factor``,
with a ``layer`` coordinate on ``unit``); outputs are :class:`matplotlib.figure.Figure` objects
built without ``pyplot`` (see :mod:`factorprobe.report.plots`, whose :func:`save_figure` writes
them to PNG). A table without a ``layer`` coordinate is drawn as one layer, "all units".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from factorprobe._validation import check_choice, check_int, check_real
from factorprobe.dims import FACTOR, LAYER, UNIT
from factorprobe.report._basis_panels import (
    comparison_text,
    draw_distributions,
    edges,
    saved_comparison,
)
from factorprobe.report.plots import new_figure

__all__ = ["plot_basis_vs_random", "plot_histograms", "plot_selectivity_scatter"]

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
    mappable = None
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
        ax.set_title(f"{name} ({int(mask.sum())} units, {int(blank.sum())} n.s.)", fontsize=10)
        ax.set_xlabel(f"MI with {x} (bits)")
        ax.set_ylabel(f"MI with {y} (bits)")
        ax.grid(alpha=0.3)
    for ax in axes[len(groups) :]:
        ax.set_axis_off()
    compared = str(table.attrs.get("compared", "")).replace(",", " vs ")
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
        bin_edges = edges(finite, bins)
        # bars side by side, so that no layer hides another
        ax.hist(
            [_finite(values[mask]) for _, mask in groups],
            bins=bin_edges,
            color=colours,
            histtype="bar",
            rwidth=0.9,
        )
        shown = np.logical_or.reduce([m for _, m in groups])
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


# ------------------------------------------------------------------------------ basis vs random


def plot_basis_vs_random(
    units: xr.Dataset,
    baseline: xr.Dataset,
    *,
    measure: str = "selectivity",
    factor: str | None = None,
    layer: str | Sequence[str] | None = None,
    kind: Literal["ecdf", "hist"] = "ecdf",
    percentile: float = 95.0,
    comparison: xr.Dataset | None = None,
) -> Figure:
    """A measure of the basis units against its distribution over random directions, per layer.

    Each panel overlays the distribution (ECDF or histogram) of the measure over a layer's
    basis units and over the pseudo-units of random directions of the same layer's activation
    space (:func:`factorprobe.analysis.directions.random_directions` through the same
    ``unit_table``), with a line at the baseline's ``percentile``. The box gives the numbers of
    :func:`factorprobe.analysis.directions.basis_comparison` (NaN values excluded on both
    sides): the fraction of basis units strictly above that line (also ``≥`` where values tie
    at it, as the selectivity index does at 1), the same fraction for the baseline itself (the
    chance level, about ``100 - percentile`` %), and the one-sided Mann–Whitney p-value.

    Parameters
    ----------
    units : Dataset
        Unit table of the layers' units (:func:`factorprobe.analysis.unit_table`).
    baseline : Dataset
        Unit table of the pseudo-units, with the measure and a ``layer`` coordinate naming the
        layer each direction lives in.
    measure : str, default="selectivity"
        A numeric variable of both tables.
    factor : str, optional
        For a measure over ``("unit", "factor")``: the factor to draw; default every factor
        (one row of panels each).
    layer : str or sequence of str, optional
        Layers to draw (one column each); default every layer of ``units``.
    kind : {"ecdf", "hist"}, default="ecdf"
        Empirical cumulative distributions, or density histograms on shared bins.
    percentile : float, default=95.0
        Percentile of the baseline drawn as the reference line, in (0, 100).
    comparison : Dataset, optional
        The box's numbers as the analysis saved them (``baseline/basis_comparison.nc``: over
        ``(comparison, layer)``, with ``measure`` and ``factor`` coordinates on
        ``comparison``, at the same ``percentile``); default computed here.

    Returns
    -------
    Figure

    Raises
    ------
    KeyError
        If the measure, a factor or a layer is missing from a table or from ``comparison``
        (the message lists the valid ones).
    ValueError
        For an unknown ``kind`` or a ``percentile`` outside (0, 100).

    References
    ----------
    Szegedy, C. et al. (2014). Intriguing properties of neural networks. ICLR.
    Bau, D. et al. (2017). Network dissection. CVPR (units vs random rotations).
    Morcos, A. S. et al. (2018). On the importance of single directions for generalization.
    ICLR.

    Examples
    --------
    >>> from factorprobe.analysis import planted_units, unit_table
    >>> from factorprobe.analysis.directions import random_directions
    >>> acts = planted_units(kinds=("size", "position"), n_units=4, noise=(0.5,), n_sizes=4,
    ...                      n_x=3, n_y=3, repeats=2)
    >>> pseudo = random_directions(acts, 16, seed=0)
    >>> fig = plot_basis_vs_random(unit_table(acts, n_permutations=50),
    ...                            unit_table(pseudo, n_permutations=50), measure="mi")
    >>> len(fig.axes)
    2
    """
    where = "plot_basis_vs_random"
    _check_table(units, (measure,), where=where)
    _check_table(baseline, (measure,), where=where, name="baseline")
    check_choice(kind, ("ecdf", "hist"), name="kind", where=where)
    percentile = check_real(percentile, name="percentile", where=where, minimum=0.0, maximum=100.0)
    if percentile in (0.0, 100.0):
        raise ValueError(
            f"The 'percentile' parameter of {where} must be in (0, 100), exclusive; "
            f"got {percentile}."
        )
    factors: list[str | None] = [None]
    if FACTOR in units[measure].dims:
        factors = [str(f) for f in units[FACTOR].values] if factor is None else [factor]
        for f in factors:
            _check_factor(units, f, name="factor", where=where)
            _check_factor(baseline, f, name="factor", where=where, table_name="baseline")
    units, baseline = _with_layer(units), _with_layer(baseline)
    groups = _layers(units, layer, where=where)
    base_groups = dict(_layers(baseline, None, where=where))
    for name, _ in groups:
        if name not in base_groups:
            raise KeyError(
                f"Layer {name!r} of the units is not in the baseline of {where}; baseline "
                f"layers: {', '.join(repr(k) for k in base_groups)} (pick one with 'layer')."
            )
    nrows, ncols = len(factors), len(groups)
    fig = new_figure(3.6 * ncols + 0.4, 3.0 * nrows + 0.9)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    units_label = _measure_units(units, measure)
    for r, f in enumerate(factors):
        basis = units[measure] if f is None else units[measure].sel({FACTOR: f})
        random = baseline[measure] if f is None else baseline[measure].sel({FACTOR: f})
        if comparison is None:
            from factorprobe.analysis.basis import basis_comparison

            stats = basis_comparison(basis, random, percentile=percentile)
        else:
            stats = saved_comparison(comparison, measure, f, percentile)
        for c, (name, mask) in enumerate(groups):
            ax = axes[r, c]
            a = _finite(basis.values[mask])
            b = _finite(random.values[base_groups[name]])
            draw_distributions(ax, a, b, kind)
            ax.set_title(name if f is None else f"{name} · {f}", fontsize=10)
            label = measure if f is None else f"{measure} · {f}"
            ax.set_xlabel(f"{label} ({units_label})")
            per = "" if units_label in MEASURE_UNITS.values() else f" (1/{units_label})"
            ax.set_ylabel("fraction ≤ value" if kind == "ecdf" else f"density{per}")
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
            row = stats.sel({LAYER: name})
            cut = float(row["baseline_percentile"])
            if np.isfinite(cut):
                ax.axvline(cut, color="C3", ls=":", lw=1.2)
            # an ECDF leaves its upper left empty; a histogram gets headroom there
            ax.text(
                0.03, 0.97, comparison_text(row, percentile), transform=ax.transAxes,
                ha="left", va="top", fontsize=7.5,
                bbox={"boxstyle": "round", "fc": "white", "ec": "0.8", "alpha": 0.9},
            )  # fmt: skip
            ax.grid(alpha=0.3)
    handles = [
        Line2D([], [], color="C0", lw=1.6, label="basis units"),
        Line2D([], [], color="0.4", lw=1.6, ls="--", label="random directions"),
        Line2D([], [], color="C3", lw=1.2, ls=":", label=f"random, P{percentile:g}"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize="small")
    fig.suptitle(f"{measure}: basis units vs random directions (NaN excluded)")
    return fig


# ------------------------------------------------------------------------------ helpers


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
