"""Plots of neuron roles: role correlations per layer, and the PID atoms per layer.

Inputs are the labelled results of :func:`factorprobe.analysis.role_correlations` and of
:func:`factorprobe.analysis.partial_information` (or a unit table made with ``pid=``); outputs
are :class:`matplotlib.figure.Figure` objects built without ``pyplot``
(:func:`factorprobe.report.plots.save_figure` writes them to PNG). Nothing here computes a
measure: the figures draw numbers the analysis already gave.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.figure import Figure

from factorprobe.dims import FACTOR, LAYER, UNIT
from factorprobe.report.plots import new_figure

__all__ = ["plot_pid_atoms", "plot_role_correlations"]

ALL_UNITS = "all units"
_CORRELATION_VARIABLES = ("spearman", "ci_low", "ci_high")
_PID_VARIABLES = ("pid_redundancy", "pid_unique", "pid_synergy")
_ATOM_COLOURS = ("tab:purple", "tab:blue", "tab:orange", "tab:green")


def plot_role_correlations(
    correlations: xr.Dataset, *, pairs: Sequence[tuple[str, str]] | None = None
) -> Figure:
    """Forest plot of Spearman correlations between role measures, one marker per layer.

    Each row is a pair of measures; each layer's correlation is a marker with its bootstrap
    confidence interval as a horizontal bar, on a shared axis from −1 to 1 with 0 marked.

    Parameters
    ----------
    correlations : Dataset
        From :func:`factorprobe.analysis.role_correlations`: ``spearman``, ``ci_low`` and
        ``ci_high`` over ``("layer", "variable", "other_variable")``.
    pairs : sequence of (str, str), optional
        Pairs of measures to draw, top to bottom; default every pair of different variables.

    Returns
    -------
    Figure
        One axes: x = Spearman r over units (dimensionless, −1 to 1), y = pair; the legend
        names the layers and the interval's coverage (attrs ``confidence``).

    Raises
    ------
    KeyError
        If ``correlations`` lacks a variable above, or a pair names an unknown measure.
    """
    where = "plot_role_correlations"
    missing = [v for v in _CORRELATION_VARIABLES if v not in correlations.data_vars]
    if missing:
        raise KeyError(
            f"{where} needs role_correlations' output with 'spearman', 'ci_low' and 'ci_high'; "
            f"{missing[0]!r} is missing."
        )
    names = [str(v) for v in correlations["variable"].values]
    chosen = list(combinations(names, 2)) if pairs is None else [tuple(p) for p in pairs]
    for pair in chosen:
        unknown = [v for v in pair if v not in names]
        if len(pair) != 2 or unknown:
            raise KeyError(
                f"Unknown pair {pair!r} for {where}: each pair names 2 of the measures "
                f"{', '.join(repr(n) for n in names)}."
            )
    layers = [str(v) for v in correlations[LAYER].values]
    fig = new_figure(6.4, 0.9 + 0.32 * max(1, len(chosen)) * max(1, len(layers)) ** 0.5)
    ax = fig.add_subplot()
    colours = colormaps["viridis"](np.linspace(0.0, 0.85, max(1, len(layers))))
    # the first layer on top within each pair, as in the legend
    offsets = np.linspace(0.25, -0.25, len(layers)) if len(layers) > 1 else np.zeros(1)
    rows = np.arange(len(chosen))[::-1]
    for li, layer in enumerate(layers):
        values = {
            v: np.asarray([correlations[v].sel({LAYER: layer, "variable": a,
                                                "other_variable": b}).item()
                           for a, b in chosen])
            for v in _CORRELATION_VARIABLES
        }  # fmt: skip
        y = rows + offsets[li]
        err = np.stack(
            [values["spearman"] - values["ci_low"], values["ci_high"] - values["spearman"]]
        )
        ax.errorbar(
            values["spearman"], y, xerr=np.clip(err, 0.0, None), fmt="o", ms=4, capsize=2,
            color=colours[li], label=layer,
        )  # fmt: skip
    ax.axvline(0.0, color="0.5", lw=0.8, ls="--")
    ax.set_yticks(rows, [f"{a} vs {b}" for a, b in chosen])
    ax.set_xlim(-1.05, 1.05)
    ax.set_ylim(-0.6, len(chosen) - 0.4)
    confidence = correlations.attrs.get("confidence")
    coverage = f"{100 * float(confidence):.0f} % bootstrap CI" if confidence else "bootstrap CI"
    ax.set_xlabel(f"Spearman r over units (dimensionless; bars: {coverage})")
    ax.set_ylabel("pair of role measures")
    ax.legend(title="layer", fontsize="small", loc="best")
    ax.set_title("Role correlations per layer")
    return fig


def plot_pid_atoms(pid: xr.Dataset) -> Figure:
    """Stacked bars of the mean PID atoms per layer: redundancy, unique A, unique B, synergy.

    Positive means stack upwards from 0 and negative ones (possible after bias correction)
    downwards, so each bar's visible extent is the sum of its atoms' magnitudes; a black marker
    gives their signed sum, the mean I(R; A, B).

    Parameters
    ----------
    pid : Dataset
        From :func:`factorprobe.analysis.partial_information`, or a unit table made with
        ``unit_table(..., pid=(A, B))`` (its ``pid_factors`` attr names the two sources):
        ``pid_redundancy``, ``pid_synergy`` over ``unit`` and ``pid_unique`` over
        ``("unit", "factor")``, with a ``layer`` coordinate on ``unit`` (without one, all units
        are one bar).

    Returns
    -------
    Figure
        One axes: x = layer, y = mean information per unit in bits.

    Raises
    ------
    KeyError
        If a PID variable is missing.
    """
    missing = [v for v in _PID_VARIABLES if v not in pid.data_vars]
    if missing:
        raise KeyError(
            f"plot_pid_atoms needs partial_information's output or a unit table made with "
            f"pid=(A, B); {missing[0]!r} is missing."
        )
    factors = str(pid.attrs.get("pid_factors") or pid.attrs.get("factors", "")).split(",")
    if len(factors) != 2 or any(f not in pid[FACTOR].values for f in factors):
        factors = [str(f) for f in pid[FACTOR].values][:2]
    layer = pid[LAYER].values.astype(str) if LAYER in pid.coords else None
    layers = list(dict.fromkeys(layer)) if layer is not None else [ALL_UNITS]
    atoms = {
        "redundancy": pid["pid_redundancy"],
        **{f"unique {f}": pid["pid_unique"].sel({FACTOR: f}) for f in factors},
        "synergy": pid["pid_synergy"],
    }
    means = np.asarray([
        [np.nanmean(np.asarray(v.transpose(UNIT).values)[
            slice(None) if layer is None else layer == name]) for name in layers]
        for v in atoms.values()
    ])  # fmt: skip
    fig = new_figure(1.6 + 0.9 * len(layers), 3.6)
    ax = fig.add_subplot()
    x = np.arange(len(layers))
    up, down = np.zeros(len(layers)), np.zeros(len(layers))
    for (label, _), values, colour in zip(atoms.items(), means, _ATOM_COLOURS, strict=True):
        bottom = np.where(values >= 0, up, down)
        ax.bar(x, values, 0.6, bottom=bottom, color=colour, label=label)
        up, down = up + np.clip(values, 0, None), down + np.clip(values, None, 0)
    ax.plot(x, means.sum(axis=0), "k_", ms=22, mew=2, label="I(R; A, B)")
    ax.axhline(0.0, color="0.3", lw=0.8)
    ax.set_xticks(x, layers)
    ax.set_xlabel("layer")
    ax.set_ylabel("mean information per unit (bits)")
    ax.set_title(f"PID atoms, {' and '.join(factors)}")
    handles, labels = ax.get_legend_handles_labels()
    order = [*range(1, len(handles)), 0]  # the atoms in stacking order, then the total
    ax.legend(
        [handles[i] for i in order], [labels[i] for i in order],
        fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5),
    )  # fmt: skip
    return fig
