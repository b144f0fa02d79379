"""Plots of unit responses: tuning curves with CI, 2-D response maps, saliency overlays.

Every function returns a :class:`matplotlib.figure.Figure` built directly (no ``pyplot``, no global
state, the Agg canvas), so plots are thread-safe, work headless and can be embedded by the HTML
report; :func:`save_figure` writes one to PNG atomically. Plots of unit tables (selectivity
scatter, histograms, basis units against random directions) are in
:mod:`factorprobe.report.table_plots`. The figure plumbing and labels live in
:mod:`factorprobe.report._plot_parts` and the response maps and saliency overlays in
:mod:`factorprobe.report.map_plots`; both are re-exported here.

Units are named ``layer[index]`` (e.g. ``fc1[3]``) from the ``layer`` and ``index`` coordinates
on ``unit``; functions that take ``units`` accept these labels or positions along ``unit``.
"""

from __future__ import annotations

from collections.abc import Sequence

import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from factorprobe.dims import LEVEL, UNIT

# the plumbing and label helpers other report modules import from here (explicit re-exports)
from factorprobe.report._plot_parts import FACTOR_UNITS as FACTOR_UNITS
from factorprobe.report._plot_parts import MAX_LISTED as MAX_LISTED
from factorprobe.report._plot_parts import MAX_TICKS as MAX_TICKS
from factorprobe.report._plot_parts import RESPONSE_LABEL as RESPONSE_LABEL
from factorprobe.report._plot_parts import UnitSpec as UnitSpec
from factorprobe.report._plot_parts import axes_or_new as axes_or_new
from factorprobe.report._plot_parts import describe_units as describe_units
from factorprobe.report._plot_parts import factor_label as factor_label
from factorprobe.report._plot_parts import fmt as fmt
from factorprobe.report._plot_parts import level_axis as level_axis
from factorprobe.report._plot_parts import new_figure as new_figure
from factorprobe.report._plot_parts import response_label as response_label
from factorprobe.report._plot_parts import save_figure as save_figure
from factorprobe.report._plot_parts import select_units as select_units
from factorprobe.report._plot_parts import thin_ticks as thin_ticks
from factorprobe.report._plot_parts import unit_labels as unit_labels
from factorprobe.report.map_plots import plot_response_map as plot_response_map
from factorprobe.report.map_plots import plot_saliency as plot_saliency

__all__ = ["plot_response_map", "plot_saliency", "plot_tuning_curves", "save_figure"]


# ------------------------------------------------------------------------------ tuning curves


def plot_tuning_curves(
    curves: xr.Dataset, units: UnitSpec = None, *, ax: Axes | None = None
) -> Figure:
    """Tuning curves: mean response per level with its bootstrap confidence band, per unit.

    Parameters
    ----------
    curves : Dataset
        From :func:`factorprobe.analysis.tuning_curves`: ``mean``, ``ci_low``, ``ci_high`` over
        ``("unit", "level")`` and the factor name in ``attrs["factor"]``.
    units : int, str or sequence of them, optional
        Units to draw, as labels ``"layer[index]"`` or positions along ``unit``; default the
        first 6.
    ax : Axes, optional
        Draw into this axes (of a larger figure) instead of a new figure.

    Returns
    -------
    Figure
        The figure holding the axes. A numeric factor is drawn at its level values (pixels for
        size, x, y); ``position`` (the joint ``(x, y)`` level) and categorical factors at equally
        spaced ticks labelled with the level values.

    Raises
    ------
    KeyError
        If a unit is unknown (the message lists the valid ones) or a variable is missing.

    Examples
    --------
    >>> from factorprobe.analysis import planted_units, tuning_curves
    >>> acts = planted_units(kinds=("size",), n_units=2, noise=(0.3,), n_sizes=5, n_x=3, n_y=3)
    >>> fig = plot_tuning_curves(tuning_curves(acts, "size", n_boot=100), ["planted[0]", 1])
    >>> fig.axes[0].get_xlabel()
    'size (px)'
    """
    where = "plot_tuning_curves"
    _require(curves, ("mean", "ci_low", "ci_high"), where=where)
    chosen = select_units(curves, units, where=where, default=6)
    factor = str(curves.attrs.get("factor", LEVEL))
    fig, ax = axes_or_new(ax, 6.4, 3.8)
    positions, labels, numeric = level_axis(curves, LEVEL, factor)
    names = unit_labels(curves)
    cmap = _qualitative(len(chosen))
    for k, i in enumerate(chosen):
        row = curves.isel({UNIT: i})
        colour = cmap[k]
        ax.fill_between(
            positions, row["ci_low"].values, row["ci_high"].values, color=colour, alpha=0.2, lw=0
        )
        ax.plot(positions, row["mean"].values, "o-", color=colour, ms=3, lw=1.5, label=names[i])
    if not numeric or len(positions) > MAX_TICKS:
        thin_ticks(ax, "x", positions, labels)
    ax.set_xlabel(factor_label(factor))
    ax.set_ylabel(f"mean {response_label(curves)}")
    ci = curves.attrs.get("ci")
    band = f"{float(ci):.0%} bootstrap CI" if ci is not None else "CI"
    ax.set_title(f"Tuning to {factor}: mean ± {band}")
    ax.legend(title="unit", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    ax.grid(alpha=0.3)
    return fig


# ------------------------------------------------------------------------------ helpers


def _require(ds: xr.Dataset, names: Sequence[str], *, where: str) -> None:
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"{where} needs a Dataset; got {type(ds).__name__}.")
    missing = [v for v in names if v not in ds]
    if missing:
        raise KeyError(
            f"{where} needs variables {', '.join(repr(v) for v in names)}; "
            f"{missing[0]!r} is missing (got {', '.join(repr(str(v)) for v in ds.data_vars)})."
        )


def _qualitative(k: int) -> list:
    from matplotlib import colormaps

    name = "tab10" if k <= 10 else "tab20"
    base = colormaps[name]
    return [base(i % base.N) for i in range(k)]
