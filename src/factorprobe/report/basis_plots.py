"""Basis units against random directions of their layer: the distributions, per layer.

:func:`plot_basis_vs_random` (re-exported by :mod:`factorprobe.report.table_plots`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from factorprobe._validation import check_choice, check_real
from factorprobe.dims import FACTOR, LAYER
from factorprobe.report._basis_panels import (
    comparison_text,
    draw_distributions,
    saved_comparison,
)
from factorprobe.report._table_common import (
    MEASURE_UNITS,
    _check_factor,
    _check_table,
    _finite,
    _layers,
    _measure_units,
    _with_layer,
)
from factorprobe.report.plots import new_figure

__all__ = ["plot_basis_vs_random"]


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
        named = [str(f) for f in units[FACTOR].values] if factor is None else [factor]
        for checked in named:
            _check_factor(units, checked, name="factor", where=where)
            _check_factor(baseline, checked, name="factor", where=where, table_name="baseline")
        factors = [*named]
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
