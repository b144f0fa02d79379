"""A card per unit: its tuning, response maps, strongest and weakest stimuli, saliency, row.

:func:`unit_card` draws one unit from the files of a results folder: tuning to each factor of
``tuning/`` (at each level of another factor on a deterministic grid, else with bootstrap CIs),
its response maps (``response_maps/``, each with its range and the unit's q-value, marked when
not significant), and, from ``cards/<layer>_<index>.nc`` (written by ``factorprobe unit`` or
the run's cards stage, :mod:`factorprobe.pipeline.cards`), the strip of stimuli that drive it
most and least and the saliency on its top stimulus. :func:`unit_row` is its row of the unit
table with the data dictionary's words. :func:`cards_section` puts the cards into the HTML
report. Nothing here computes a measure or imports torch.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import Executor, Future
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from factorprobe.dims import FACTOR, INDEX, LAYER, UNIT
from factorprobe.io.results import CARDS, card_file
from factorprobe.report import _html_parts as part
from factorprobe.report._html_sections import Saved

__all__ = [
    "card_anchor",
    "card_html",
    "card_units",
    "cards_section",
    "submit_cards",
    "unit_card",
    "unit_row",
]

#: units per layer and factor that the report's cards cover
CARDS_PER_FACTOR = 1


def card_units(table: xr.Dataset, *, per_factor: int = CARDS_PER_FACTOR) -> list[tuple[str, int]]:
    """The units the report gives a card: per layer and factor, the ``per_factor`` significant
    units (q < the table's alpha) with the largest bias-corrected MI, without repeats."""
    alpha = float(table.attrs.get("alpha", 0.05))
    layers = table[LAYER].values.astype(str)
    chosen: dict[tuple[str, int], None] = {}
    for name in dict.fromkeys(layers):
        mask = np.flatnonzero(layers == name)
        for f in table[FACTOR].values:
            mi = np.nan_to_num(table["mi"].sel({FACTOR: f}).values[mask], nan=-np.inf)
            q = np.nan_to_num(table["q_value"].sel({FACTOR: f}).values[mask], nan=1.0)
            order = np.argsort(-mi, kind="stable")
            for i in order[q[order] < alpha][:per_factor]:
                chosen[(str(name), int(table[INDEX].values[mask[i]]))] = None
    return list(chosen)


def card_anchor(layer: str, index: int) -> str:
    """The HTML id of a unit's card (``card-<layer>-<index>``, characters made safe)."""
    safe = "".join(c if c.isalnum() else "-" for c in str(layer))
    return f"card-{safe}-{int(index)}"


def _position(table: xr.Dataset, layer: str, index: int) -> int:
    hits = np.flatnonzero(
        (table[LAYER].values.astype(str) == layer) & (table[INDEX].values == index)
    )
    if not hits.size:
        raise KeyError(f"Unknown unit {layer}:{index} in units.nc.")
    return int(hits[0])


def unit_row(results: str | os.PathLike[str] | Saved, layer: str, index: int) -> pd.DataFrame:
    """The unit's row of ``units.csv`` with the data dictionary's description and units.

    Parameters
    ----------
    results : path-like or Saved
        A results folder.
    layer, index : str, int
        The unit.

    Returns
    -------
    DataFrame
        One row per column of the unit table: ``value``, ``units``, ``description`` (from
        ``data_dictionary.csv`` when the folder has it).
    """
    from factorprobe.io.tables import unit_dataframe

    saved = results if isinstance(results, Saved) else Saved(Path(results))
    i = _position(saved.table, layer, index)
    row = unit_dataframe(saved.table.isel({UNIT: [i]})).iloc[0]
    frame = pd.DataFrame({"value": row.astype(object)})
    frame.index.name = "column"
    dictionary = saved.results / "data_dictionary.csv"
    if dictionary.is_file():
        words = pd.read_csv(dictionary)
        key = "column" if "column" in words else words.columns[0]
        words = words.set_index(key)
        for c in ("units", "description"):
            if c in words:
                frame[c] = words[c].reindex(frame.index).fillna("")
    return frame


def unit_card(results: str | os.PathLike[str] | Saved, layer: str, index: int) -> Figure:
    """Draw a unit's card from the files of a results folder.

    Parameters
    ----------
    results : path-like or Saved
        A results folder written by ``factorprobe run`` (or ``analyze``).
    layer, index : str, int
        The unit, e.g. ``("fc1", 17)``.

    Returns
    -------
    Figure
        Row 1: tuning to each factor with saved curves. Row 2: the response maps (range and
        q-value in each title, "NOT SIGNIFICANT" in red where q >= alpha) and the saliency on
        the top stimulus. Row 3: the stimuli that drive the unit most and least, with their
        activation. A row whose file is missing says which file and how to make it.

    Raises
    ------
    KeyError
        If the unit is not in ``units.nc``.

    Examples
    --------
    >>> from factorprobe.report import unit_card
    >>> fig = unit_card("factorprobe-results", "fc1", 17)  # doctest: +SKIP
    """
    from factorprobe.report.plots import plot_response_map
    from factorprobe.report.tuning_plots import draw_unit_tuning, fixed_figure

    saved = results if isinstance(results, Saved) else Saved(Path(results))
    table = saved.table
    i = _position(table, layer, index)
    label = f"{layer}[{index}]"
    curves = [c for f in ("size", "x", "y", *_other_tuning(saved)) if (c := saved.curves(f))]
    maps = saved.all_maps()
    present = {f: m for f, m in maps.items() if m is not None}
    inputs = saved.optional(card_file(layer, index))
    fig = fixed_figure(14.0, 10.5)
    fig.suptitle(_headline(table, i, label), fontsize=11, y=0.985)
    grid_top = fig.add_gridspec(1, max(1, len(curves)), left=0.05, right=0.98, top=0.90,
                                bottom=0.68, wspace=0.25)  # fmt: skip
    axes = [fig.add_subplot(grid_top[0, k]) for k in range(grid_top.ncols)]
    for ax, c in zip(axes, curves, strict=False):
        draw_unit_tuning(ax, c, maps, label)
    if not curves:
        axes[0].set_axis_off()
        axes[0].text(0.5, 0.5, "no tuning/*.nc in the results folder", ha="center")
    grid_mid = fig.add_gridspec(1, len(present) + 1, left=0.05, right=0.97, top=0.58,
                                bottom=0.33, wspace=0.45)  # fmt: skip
    cols = [fig.add_subplot(grid_mid[0, k]) for k in range(grid_mid.ncols)]
    alpha = float(table.attrs.get("alpha", 0.05))
    for ax, (f, grid) in zip(cols, present.items(), strict=False):
        plot_response_map(grid, label, ax=ax)
        one = grid.isel({UNIT: i}).values
        q = float(table["q_value"].sel({FACTOR: f}).values[i])
        mark = "" if q < alpha else "  NOT SIGNIFICANT"
        ax.set_title(f"{' × '.join(str(d) for d in grid.dims[1:])}: range "
                     f"{float(np.nanmax(one) - np.nanmin(one)):.3g} a.u.\nq({f}) = {q:.2g}{mark}",
                     fontsize=9, color="k" if q < alpha else "firebrick")  # fmt: skip
    _saliency(cols[-1], inputs, layer, index)
    _strip(fig, inputs, layer, index)
    return fig


def _other_tuning(saved: Saved) -> list[str]:
    folder = saved.results / "tuning"
    names = sorted(p.stem for p in folder.glob("*.nc")) if folder.is_dir() else []
    return [n for n in names if n not in ("size", "x", "y")]


def _headline(table: xr.Dataset, i: int, label: str) -> str:
    parts = []
    for f in table[FACTOR].values.astype(str):
        mi = float(table["mi"].sel({FACTOR: f}).values[i])
        q = float(table["q_value"].sel({FACTOR: f}).values[i])
        parts.append(f"MI {f} {mi:.3f} bits (q {q:.2g})")
    si = float(table["selectivity"].values[i]) if "selectivity" in table else np.nan
    preferred = str(table["preferred_factor"].values[i]) if "preferred_factor" in table else "?"
    return f"Unit {label}: " + ", ".join(parts) + f"; SI {si:.2f}; preferred {preferred}"


def _missing(ax, layer: str, index: int, what: str) -> None:
    ax.set_axis_off()
    ax.text(0.5, 0.5, f"{what}: no {card_file(layer, index)};\n`factorprobe unit RESULTS "
            f"{layer}:{index}` makes it", ha="center", va="center", fontsize=9,
            transform=ax.transAxes)  # fmt: skip


def _saliency(ax, inputs: xr.Dataset | None, layer: str, index: int) -> None:
    if inputs is None or "saliency" not in inputs:
        _missing(ax, layer, index, "saliency")
        return
    sal = inputs["saliency"].values
    limit = float(np.nanmax(np.abs(sal))) or 1.0
    image = ax.imshow(sal, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    scale = float(inputs.attrs.get("image_scale", 1))
    top = inputs["image"].values[0] / scale
    # the strip's images may be subsampled: place the outline on the saliency's pixel grid
    rows = np.linspace(0, sal.shape[0] - 1, top.shape[0])
    cols = np.linspace(0, sal.shape[1] - 1, top.shape[1])
    if top.max() > top.min():
        ax.contour(cols, rows, top, levels=[0.5 * (top.max() + top.min())], colors="k",
                   linewidths=0.7)  # fmt: skip
    ax.figure.colorbar(image, ax=ax, label="∂activation/∂pixel")
    ax.set_title(f"saliency on its top stimulus (outlined)\n±{limit:.2g} shown", fontsize=9)
    ax.set_xlabel("col (px)")
    ax.set_ylabel("row (px)")


def _strip(fig: Figure, inputs: xr.Dataset | None, layer: str, index: int) -> None:
    """The bottom row of a card: the stimuli that drive the unit most and least, tiled into one
    image (one axes: a card is drawn for many units, and axes are what drawing costs)."""
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.19))
    if inputs is None:
        _missing(ax, layer, index, "stimuli driving it most and least")
        return
    images = inputs["image"].values / float(inputs.attrs.get("image_scale", 1))
    n, height, width = images.shape
    gap = max(2, width // 12)
    tiles = np.ones((height, n * (width + gap) - gap))  # white between the tiles
    for k in range(n):
        tiles[:, k * (width + gap) : k * (width + gap) + width] = images[k]
    ax.imshow(tiles, cmap="gray", vmin=0, vmax=1, interpolation="nearest", aspect="equal")
    ax.set_axis_off()
    factors = [c for c in ("size", "x", "y", "shape", "rotation") if c in inputs.coords]
    for k in range(n):
        values = ", ".join(
            f"{c} {_short(inputs[c].values[k])}" for c in factors
            if np.unique(inputs[c].values).size > 1 or c in ("size", "x", "y")
        )  # fmt: skip
        ax.text(k * (width + gap) + width / 2, -height * 0.04,
                f"{inputs['rank'].values[k]}: {inputs['activation'].values[k]:.3g} a.u.\n{values}",
                ha="center", va="bottom", fontsize=7.5)  # fmt: skip
    fig.text(0.5, 0.25, "Stimuli that drive it most (left) and least (right); sizes and "
             "positions in px", ha="center", fontsize=10)  # fmt: skip


def _short(value: object) -> str:
    if isinstance(value, float | np.floating):
        return f"{float(value):g}"
    return str(value)


def card_html(saved: Saved | str, layer: str, index: int, dpi: int) -> str:
    """One card of the report: a ``<div>`` with the card's figure and its table row.

    ``saved`` may be the results folder's path (a worker process reads the folder once)."""
    if not isinstance(saved, Saved):
        saved = _saved(str(saved))
    fig = unit_card(saved, layer, index)
    row = unit_row(saved, layer, index)
    return (
        f'<div class="card" id="{part.text(card_anchor(layer, index))}">'
        + part.heading(3, f"Unit {layer}[{index}]")
        + part.image(part.png_bytes(fig, dpi=dpi), alt=f"card of unit {layer}[{index}]")
        + "<details><summary>its row of the unit table, with the data dictionary</summary>"
        + part.table(row.astype(str))
        + "</details></div>"
    )


@functools.lru_cache(maxsize=2)
def _saved(results: str) -> Saved:
    return Saved(Path(results))


def submit_cards(
    saved: Saved, units: list[tuple[str, int]], *, dpi: int, pool: Executor
) -> list[Future[str]]:
    """Start drawing the cards in ``pool`` (another process), to collect with
    :func:`cards_section` once the rest of the page is drawn."""
    return [pool.submit(card_html, str(saved.results), la, i, dpi) for la, i in units]


def cards_section(
    saved: Saved,
    units: list[tuple[str, int]],
    *,
    dpi: int,
    drawn: list[Future[str]] | None = None,
) -> str:
    """The report's "Unit cards" section: one card (figure and table row) per unit.

    ``drawn``: the cards from :func:`submit_cards`, in the order of ``units``; default they are
    drawn here."""
    if not units:
        return part.section("cards", "Unit cards", [part.note("No unit codes any factor.")])
    parts = [
        part.note(
            "One card per unit listed: the top unit of each layer and factor (significant by "
            "the table's test, largest bias-corrected MI). `factorprobe unit RESULTS LAYER:INDEX` "
            "draws any unit's card (and saves its stimuli and saliency); `factorprobe report "
            "RESULTS` then adds it here."
        )
    ]
    if drawn is None:
        parts += [card_html(saved, layer, index, dpi) for layer, index in units]
    else:
        parts += [future.result() for future in drawn]
    return part.section("cards", "Unit cards", parts)


def saved_cards(saved: Saved) -> list[tuple[str, int]]:
    """The units with a saved card input in ``cards/`` (e.g. from ``factorprobe unit``)."""
    folder = saved.results / CARDS
    found = []
    for path in sorted(folder.glob("*.nc")) if folder.is_dir() else []:
        with xr.open_dataset(path, engine="h5netcdf") as one:
            found.append((str(one.attrs.get("layer")), int(one.attrs.get("index", -1))))
    return found
