"""Plot cumulative ablation curves against their random-order band (mean ± sd)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.artist import Artist
from matplotlib.figure import Figure

__all__ = ["plot_ablation_curves"]

_WHERE = "plot_ablation_curves"
_STYLES = {"highest": "-", "lowest": "--"}
_YLABELS = {"bits": "bits", "fraction": "fraction of stimuli", "1": "held-out R²"}


def plot_ablation_curves(
    result: xr.Dataset,
    *,
    metrics: Sequence[str] | None = None,
    path: str | os.PathLike[str] | None = None,
    columns: int = 3,
    dpi: int = 150,
) -> Figure:
    """One panel per metric: each ranked curve over the random orders' mean ± sd band.

    Parameters
    ----------
    result : Dataset
        From :func:`factorprobe.interventions.ablation.cumulative_ablation`.
    metrics : sequence of str, optional
        Values of the ``metric`` coordinate to plot; default all.
    path : path-like, optional
        Also write the figure there (PNG, or any format matplotlib knows by the suffix),
        atomically.
    columns : int, default=3
        Panels per row.
    dpi : int, default=150
        Resolution of the written file.

    Returns
    -------
    matplotlib.figure.Figure
        Solid lines ablate the highest-ranked units first, dashed the lowest; the grey band is
        the random orders' mean ± sd, the dotted line the chance level (0 for V-information and
        for the R² of ``decoding_r2`` panels).

    Raises
    ------
    KeyError
        A metric that is not in the result (the message lists them).
    """
    from factorprobe._validation import check_int

    columns = check_int(columns, name="columns", where=_WHERE, minimum=1)
    available = [str(m) for m in result["metric"].values]
    chosen = available if metrics is None else list(metrics)
    unknown = [m for m in chosen if m not in available]
    if unknown or not chosen:
        raise KeyError(
            f"Unknown metric(s) {unknown!r} for {_WHERE}; metrics in this result: "
            f"{', '.join(repr(m) for m in available)}."
        )
    n_rows = -(-len(chosen) // columns)
    n_cols = min(columns, len(chosen))
    fig = Figure(figsize=(4.2 * n_cols, 3.4 * n_rows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(n_rows, n_cols, squeeze=False)).ravel()
    k = result["k"].values
    n_units = int(result.attrs.get("n_units", k.max()))
    colours = [f"C{i}" for i in range(result.sizes["ranking"])]
    for ax, metric in zip(axes, chosen, strict=False):
        sel = {"metric": metric}
        mean = result["random_mean"].sel(sel).values
        sd = result["random_sd"].sel(sel).values
        ax.fill_between(k, mean - sd, mean + sd, color="0.8", label="random ± sd")
        ax.plot(k, mean, color="0.45", lw=1, label="random mean")
        for colour, ranking in zip(colours, result["ranking"].values, strict=True):
            for direction in result["direction"].values:
                y = result["score"].sel({**sel, "ranking": ranking, "direction": direction}).values
                ax.plot(k, y, _STYLES.get(str(direction), "-"), color=colour, marker="o", ms=3,
                        label=f"{ranking}, {direction} first")  # fmt: skip
        chance = float(result["chance"].sel(sel))
        if np.isfinite(chance):
            ax.axhline(chance, color="0.3", lw=0.8, ls=":", label="chance")
        units = str(result["metric_units"].sel(sel).values)
        ax.set_title(metric, fontsize=10)
        ax.set_xlabel(f"units ablated (of {n_units})")
        ax.set_ylabel(_YLABELS.get(units, units))
        ax.grid(alpha=0.3)
    for ax in axes[len(chosen) :]:
        ax.set_visible(False)
    legend: dict[str, Artist] = {}
    for ax in axes[: len(chosen)]:
        for handle, text in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(text, handle)
    labels, handles = list(legend), list(legend.values())
    fig.legend(handles, labels, loc="outside lower center", ncol=min(4, len(labels)),
               fontsize=8, frameon=False)  # fmt: skip
    attrs = result.attrs
    fig.suptitle(
        f"Cumulative ablation of {attrs.get('model', '?')} layer {attrs.get('layer', '?')} "
        f"(to {attrs.get('method', '?')}); read-out: {attrs.get('readout', '?')}",
        fontsize=11,
    )
    if path is not None:
        from factorprobe.io.files import atomic_output

        final = Path(path)
        with atomic_output(final) as tmp:
            fig.savefig(tmp, dpi=dpi, format=final.suffix.lstrip(".") or "png")
    return fig
