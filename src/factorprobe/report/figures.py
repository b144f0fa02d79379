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

__all__ = ["FIGURES", "write_figures"]

PLOTS = "plots"
PLOTS_MODULE = "factorprobe.report.plots"
N_TUNING_UNITS = 6
HISTOGRAM_VARIABLES = ("mi", "selectivity", "modularity", "entropy")

FIGURES: dict[str, str] = {
    "selectivity_scatter.png": "MI with the first two compared factors per unit, one panel per "
    "layer, coloured by the selectivity index",
    "histograms.png": "distributions of mi (per factor), selectivity, modularity and entropy, "
    "one colour per layer",
    "tuning_<factor>.png": "tuning curves (mean and bootstrap CI per level) of the units with "
    "the largest bias-corrected MI for that factor (the first units when the factor is not in "
    "the unit table)",
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
    from factorprobe.report.plots import plot_tuning_curves, save_figure
    from factorprobe.report.table_plots import plot_histograms, plot_selectivity_scatter

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
    for curve_path in sorted((results / "tuning").glob("*.nc")):
        factor = curve_path.stem
        curves = load_netcdf(curve_path)
        units = _top_units(table, factor, curves.sizes["unit"])
        fig = plot_tuning_curves(curves, units)
        written.append(_save(save_figure, fig, out / f"tuning_{factor}.png"))
    return written


def _top_units(table: xr.Dataset, factor: str, n_units: int) -> list[int]:
    """Positions of the units with the largest bias-corrected MI for ``factor``."""
    k = min(N_TUNING_UNITS, n_units)
    if FACTOR in table.dims and factor in table[FACTOR].values:
        mi = np.nan_to_num(table["mi"].sel({FACTOR: factor}).values, nan=-np.inf)
        return [int(i) for i in np.argsort(-mi, kind="stable")[:k]]
    return list(range(k))


def _save(save_figure, fig, path: Path) -> Path:
    save_figure(fig, path)
    return path
