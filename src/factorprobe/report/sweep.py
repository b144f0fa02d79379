"""A sweep's report: its runs side by side, per layer, in one self-contained ``report.html``.

:func:`sweep_frame` reads each run's unit table (``units.nc``) and decoders (``layers.nc``) and
gives, per run and layer, the fractions of units that code each factor, all the compared
factors (``both``, "mixed") or none, by the table's test
(:func:`factorprobe.report.summary.coding_counts`, so the numbers equal the runs' own first
screens), and the decoders' accuracy. :func:`write_sweep_html` draws them as grouped bars, one
colour per run, so "does this model code position more than that one" is one glance, and links
each run's own report. It only reads files.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from factorprobe.dims import FACTOR, LAYER
from factorprobe.io.files import atomic_output, load_netcdf
from factorprobe.report import _html_parts as part
from factorprobe.report.summary import coding_counts

__all__ = ["plot_sweep", "sweep_frame", "write_sweep_html"]

REPORT = "report.html"


def sweep_frame(runs: Sequence[str | os.PathLike[str]]) -> pd.DataFrame:
    """Per run and layer: fractions of units coding each factor, both, neither; decoders.

    Parameters
    ----------
    runs : list of path-like
        Results folders (each with ``units.nc``; ``layers.nc`` used when present). The run's
        name is the folder's name.

    Returns
    -------
    DataFrame
        Index ``(run, layer)``; columns ``units``, ``codes <f>`` and ``both`` / ``neither`` as
        fractions of the layer's units (the counts of
        :func:`~factorprobe.report.summary.coding_counts` divided by ``units``), ``median SI``,
        and ``accuracy <f>`` / ``chance <f>`` per decoded factor.
    """
    frames = []
    for folder in (Path(r) for r in runs):
        table = load_netcdf(folder / "units.nc")
        counts = coding_counts(table)
        shares = counts.copy()
        for c in map(str, counts.columns):
            if c.startswith(("codes ", "only ")) or c in ("both", "neither"):
                shares[c] = counts[c] / counts["units"]
        layers_path = folder / "layers.nc"
        if layers_path.is_file():
            layers = load_netcdf(layers_path)
            if "accuracy" in layers:
                for f in layers[FACTOR].values.astype(str):
                    for v in ("accuracy", "chance"):
                        values = layers[v].sel({FACTOR: f}).to_series()
                        shares[f"{v} {f}"] = values.reindex(shares.index.astype(str)).to_numpy()
        shares.index = pd.MultiIndex.from_product([[folder.name], shares.index],
                                                  names=["run", LAYER])  # fmt: skip
        frames.append(shares)
    return pd.concat(frames, sort=False)


def plot_sweep(frame: pd.DataFrame) -> Figure:
    """Grouped bars per layer (one colour per run): fraction coding each factor, both, and
    decoder accuracy per factor (chance as a tick on each bar)."""
    from factorprobe.report.tuning_plots import fixed_figure

    runs = list(dict.fromkeys(frame.index.get_level_values("run")))
    layers = list(dict.fromkeys(frame.index.get_level_values(LAYER)))
    columns = [str(c) for c in frame.columns]
    panels = [c for c in columns if c.startswith("codes ")]
    panels += [c for c in ("both", "neither") if c in columns]
    panels += [c for c in columns if c.startswith("accuracy ")]
    ncols = min(4, len(panels))
    nrows = int(np.ceil(len(panels) / ncols))
    fig = fixed_figure(3.6 * ncols, 2.9 * nrows + 0.6, top=0.4, bottom=0.9, hspace=0.75,
                       wspace=0.3, left=0.9)  # fmt: skip
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    width = 0.8 / len(runs)
    colours = [f"C{k % 10}" for k in range(len(runs))]
    for ax, column in zip(axes, panels, strict=False):
        for k, run in enumerate(runs):
            one = frame.loc[run].reindex(layers)
            xs = np.arange(len(layers)) + (k - (len(runs) - 1) / 2) * width
            ax.bar(xs, one[column].to_numpy(dtype=float), width=width * 0.95, color=colours[k],
                   label=run)  # fmt: skip
            chance = column.replace("accuracy ", "chance ")
            if column.startswith("accuracy ") and chance in one:
                ax.plot(xs, one[chance].to_numpy(dtype=float), "_", color="k", ms=10)
        ax.set_xticks(np.arange(len(layers)), layers, rotation=30, ha="right", fontsize=8)
        ax.set_ylim(0, 1.02)
        kind = "decoder accuracy" if column.startswith("accuracy") else "fraction of units"
        ax.set_title(column.replace("codes ", "coding ").replace("accuracy ", "decoding "),
                     fontsize=10)  # fmt: skip
        ax.set_ylabel(kind, fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    for ax in axes[len(panels) :]:
        ax.set_axis_off()
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncols=min(6, len(runs)), title="run",
               fontsize="small")  # fmt: skip
    return fig


def write_sweep_html(
    root: str | os.PathLike[str],
    runs: Sequence[str | os.PathLike[str]],
    *,
    dpi: int = 90,
) -> Path:
    """Write ``root/report.html``: the sweep's runs side by side, per layer.

    Parameters
    ----------
    root : path-like
        The sweep's folder.
    runs : list of path-like
        Its runs' results folders.
    dpi : int, default=90
        Resolution of the figure.

    Returns
    -------
    Path
        The HTML file (self-contained; the runs' own reports are linked relative to it).
    """
    root = Path(root)
    frame = sweep_frame(runs)
    alpha = _alpha(runs)
    png = part.png_bytes(plot_sweep(frame), dpi=dpi)
    links = "".join(
        f'<li><a href="{part.text(Path(r).name)}/{REPORT}">{part.text(Path(r).name)}</a></li>'
        for r in runs
    )
    body = [
        part.note(
            "Per run and layer: the fraction of units coding each factor by the run's own test "
            f"(BH q < {alpha} per layer, as in each run's first screen), coding all compared "
            "factors (both, mixed) or none, the median SI, and the population decoders' "
            "cross-validated accuracy with its chance level (black tick). Fractions, not "
            "counts: layers differ in width."
        ),
        part.image(png, alt="runs side by side per layer"),
        part.table(frame),
        part.heading(3, "Each run's own report"),
        f"<ul>{links}</ul>",
    ]
    subtitle = [
        f"{len(runs)} runs: {', '.join(Path(r).name for r in runs)}",
        f"written {datetime.now(UTC).isoformat(timespec='seconds')} from the runs' saved tables",
    ]
    section = part.section("sweep", "Runs side by side", body)
    document = part.page(f"factorprobe sweep: {root.resolve().name}", subtitle,
                         [("sweep", "Runs side by side")], section)  # fmt: skip
    path = root / REPORT
    with atomic_output(path) as tmp:
        tmp.write_text(document, encoding="utf-8")
    return path


def _alpha(runs: Sequence[str | os.PathLike[str]]) -> str:
    values = set()
    for r in runs:
        with xr.open_dataset(Path(r) / "units.nc", engine="h5netcdf") as table:
            values.add(str(table.attrs.get("alpha", 0.05)))
    return " / ".join(sorted(values))
