"""Report: figures of the analysis results, saved as PNG (and, with the HTML report, embedded).

Every plot function takes a labelled result and returns a :class:`matplotlib.figure.Figure`
built without pyplot (thread-safe and headless); :func:`save_figure` writes it atomically.
Importing this subpackage imports matplotlib.
"""

from __future__ import annotations

from factorprobe.report.ablation_plots import plot_ablation_curves
from factorprobe.report.cards import unit_card, unit_row
from factorprobe.report.html import layer_summary, write_html
from factorprobe.report.plots import (
    plot_response_map,
    plot_saliency,
    plot_tuning_curves,
    save_figure,
)
from factorprobe.report.table_plots import (
    plot_basis_vs_random,
    plot_histograms,
    plot_selectivity_scatter,
)

__all__ = [
    "layer_summary",
    "plot_ablation_curves",
    "plot_basis_vs_random",
    "plot_histograms",
    "plot_response_map",
    "plot_saliency",
    "plot_selectivity_scatter",
    "plot_tuning_curves",
    "save_figure",
    "unit_card",
    "unit_row",
    "write_html",
]
