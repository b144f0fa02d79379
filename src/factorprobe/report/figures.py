"""Which figures a results folder gets: drawn from its saved tables into ``plots/*.png``.

Every figure is made from files :func:`factorprobe.pipeline.runner.analyze` wrote (``units.nc``,
``tuning/<factor>.nc``), never from the activations, so ``factorprobe report RESULTS`` redraws
them without rerunning anything. The figures themselves come from
:mod:`factorprobe.report.plots` and :mod:`factorprobe.report.table_plots`.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import xarray as xr

from factorprobe.dims import FACTOR
from factorprobe.io.files import load_netcdf
from factorprobe.io.results import MAP_VARIABLE, RESPONSE_MAPS

__all__ = ["FIGURES", "tuning_units", "write_figures"]

PLOTS = "plots"
PLOTS_MODULE = "factorprobe.report.plots"
N_TUNING_UNITS = 6
#: resolution of plots/*.png (the report embeds its own renderings)
DPI = 100
HISTOGRAM_VARIABLES = ("mi", "selectivity", "modularity", "entropy")

FIGURES: dict[str, str] = {
    "selectivity_scatter.png": "MI with the first two compared factors per unit, one panel per "
    "layer, coloured by the selectivity index",
    "histograms.png": "distributions of mi (per factor), selectivity, modularity and entropy, "
    "one colour per layer",
    "tuning_<factor>.png": "tuning of the units with the largest bias-corrected MI for that "
    "factor, among the significant ones for a factor of the unit table (a note when none is); "
    "on a deterministic grid at each level of another factor, else mean and bootstrap CI",
    "stimuli.png": "contact sheet of the stimuli (written by the capture stage)",
    "../ablation/ablation.png": "cumulative ablation curves against random orders (written by "
    "the ablation stage when the configuration has an [ablation] table)",
}


def write_figures(results: str | os.PathLike[str]) -> list[Path]:
    """Draw the standard figures of a results folder into ``results/plots``.

    Parameters
    ----------
    results : path-like
        A folder written by :func:`factorprobe.pipeline.runner.run` or
        :func:`factorprobe.pipeline.runner.analyze`.

    Returns
    -------
    list of Path
        The PNG files written (see :data:`FIGURES`); empty when :mod:`factorprobe.report.plots`
        is not installed.

    Raises
    ------
    FileNotFoundError
        If the folder has no ``units.nc``.
    """
    results = Path(results)
    path = results / "units.nc"
    if not path.is_file():
        raise FileNotFoundError(f"{str(results)!r} is not a results folder: it has no units.nc.")
    if importlib.util.find_spec(PLOTS_MODULE) is None:  # plots not installed in this version
        return []
    from factorprobe.report.plots import new_figure, save_figure, unit_labels
    from factorprobe.report.table_plots import plot_histograms, plot_selectivity_scatter
    from factorprobe.report.tuning_plots import plot_unit_tuning

    table = load_netcdf(path)
    out = results / PLOTS
    written = []
    compared = [c for c in str(table.attrs.get("compared", "")).split(",") if c]
    if len(compared) >= 2:
        fig = plot_selectivity_scatter(table, x=compared[0], y=compared[1])
        written.append(_save(save_figure, fig, out / "selectivity_scatter.png"))
    variables = [v for v in HISTOGRAM_VARIABLES if v in table.data_vars]
    if variables:
        fig = plot_histograms(table, variables=variables)
        written.append(_save(save_figure, fig, out / "histograms.png"))
    maps = {
        path.stem: load_netcdf(path)[MAP_VARIABLE]
        for path in sorted((results / RESPONSE_MAPS).glob("*.nc"))
    }
    for curve_path in sorted((results / "tuning").glob("*.nc")):
        factor = curve_path.stem
        curves = load_netcdf(curve_path)
        units, why = tuning_units(table, curves, factor)
        if units:
            fig = plot_unit_tuning(curves, maps, [unit_labels(curves)[i] for i in units])
            fig.suptitle(f"Tuning to {factor}: {why}", fontsize=10)
        else:
            fig = new_figure(6.0, 1.2)
            fig.text(0.5, 0.5, f"Tuning to {factor}: {why}", ha="center", va="center")
        written.append(_save(save_figure, fig, out / f"tuning_{factor}.png"))
    return written


def tuning_units(table: xr.Dataset, curves: xr.Dataset, factor: str) -> tuple[list[int], str]:
    """Positions of the units to draw for a factor's tuning, and how they were chosen.

    A factor of the unit table: the (up to :data:`N_TUNING_UNITS`) units with the largest
    bias-corrected MI among those significant for it (BH q < the table's alpha); none when no
    unit is. Another factor (x, y on the default run): the units with the largest MI with it,
    saved by the analysis in ``tuning/<factor>.nc`` (no per-unit test: the text says so).
    """
    k = min(N_TUNING_UNITS, curves.sizes["unit"])
    if FACTOR in table.dims and factor in table[FACTOR].values:
        alpha = float(table.attrs.get("alpha", 0.05))
        mi = np.nan_to_num(table["mi"].sel({FACTOR: factor}).values, nan=-np.inf)
        q = np.nan_to_num(table["q_value"].sel({FACTOR: factor}).values, nan=1.0)
        order = np.argsort(-mi, kind="stable")
        chosen = [int(i) for i in order[q[order] < alpha][:k]]
        if not chosen:
            return [], f"no unit codes {factor} at q < {alpha:g}; nothing to show"
        return chosen, f"the {len(chosen)} significant units (q < {alpha:g}) with most MI"
    if "mi" in curves:
        mi = np.nan_to_num(curves["mi"].values, nan=-np.inf)
        chosen = [int(i) for i in np.argsort(-mi, kind="stable")[:k]]
        return chosen, (
            f"the {len(chosen)} units with the most MI with {factor} (bias-corrected; "
            f"{factor} is not a factor of the unit table, so no per-unit test)"
        )
    return list(range(k)), f"the first {k} units (this analysis saved no MI with {factor})"


def _save(save_figure, fig, path: Path) -> Path:
    save_figure(fig, path, dpi=DPI)
    return path
