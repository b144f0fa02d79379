"""The report's top units per factor: their table rows, tuning and response maps.

Units are chosen among those significant for the factor (BH q < the table's alpha) by their
bias-corrected MI; a factor no unit codes gets a sentence, not noise. Tuning is drawn at each
level of another factor on a deterministic grid (:mod:`factorprobe.report.tuning_plots`), with
bootstrap CIs otherwise; each response map prints its range and q-value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from factorprobe.dims import FACTOR, FACTOR_GROUPS, UNIT
from factorprobe.io.results import response_map_file, tuning_file
from factorprobe.report import _html_parts as part

# the report's reader of a results folder (_html_sections.Saved, which imports this module)
Saved = Any

__all__ = ["AT_LEVELS", "top_units"]

#: how a note tells the reader to get a missing file back
RECREATE = "`factorprobe analyze RESULTS` re-creates it"
#: the caption of tuning drawn at each level of another factor
AT_LEVELS = (
    "One stimulus per cell of a deterministic grid: the spread of a marginal tuning curve over "
    "the other factors' levels is their effect, not uncertainty, so no bootstrap CI is drawn. "
    "Each thin line is the unit's tuning at one level of another factor (purple: its first "
    "level, yellow: its last, as each panel's title says), the "
    "black line their mean."
)


def top_units(saved: Saved, table: xr.Dataset, name: str, *, top: int, dpi: int) -> list[str]:
    from factorprobe.io.tables import unit_dataframe
    from factorprobe.report.plots import unit_labels

    frame = unit_dataframe(table)
    labels = np.asarray(unit_labels(table))
    factors = [str(f) for f in table[FACTOR].values]
    keep = ["layer", "index"]
    keep += [f"{m}_{f}" for m in ("mi", "q_value") for f in factors if f"{m}_{f}" in frame]
    keep += [c for c in ("selectivity", "preferred_factor") if c in frame]
    alpha = float(table.attrs.get("alpha", 0.05))
    parts = [
        part.heading(3, f"Top {top} units per factor (largest bias-corrected MI, significant only)")
    ]
    for f in factors:
        mi = np.nan_to_num(table["mi"].sel({FACTOR: f}).values, nan=-np.inf)
        significant = np.nan_to_num(table["q_value"].sel({FACTOR: f}).values, nan=1.0) < alpha
        order = np.argsort(-mi, kind="stable")
        chosen = order[significant[order]][:top]
        parts.append(part.heading(4, f"{f}"))
        if not len(chosen):
            parts.append(part.note(f"No unit of this layer codes {f} (q < {alpha:g})."))
            continue
        parts += [
            part.note(
                f"{int(significant.sum())} of {len(mi)} units code {f} at q < {alpha:g} "
                f"({table.attrs.get('null', 'null in the table attrs')})."
            ),
            part.table(frame.iloc[chosen][keep], index=False),
        ]
        links = [
            (str(frame["layer"].iloc[i]), int(frame["index"].iloc[i]))
            for i in chosen
            if (str(frame["layer"].iloc[i]), int(frame["index"].iloc[i])) in saved.carded
        ]
        if links:
            parts.append(part.card_links(links))
        figures, absent = [], []
        chosen_labels = labels[chosen].tolist()
        tuning, lacking, at_levels = _tuning_figure(saved, f, chosen_labels)
        absent += lacking
        if tuning is not None:
            figures.append(
                part.image(
                    part.png_bytes(tuning, dpi=dpi),
                    alt=f"tuning curves of the top units for {f} in layer {name}",
                    caption=AT_LEVELS
                    if at_levels
                    else "Mean response per level with its "
                    "bootstrap CI (the design has replicates: the band is uncertainty).",
                )
            )
        maps = _map_figure(saved, f, chosen_labels, table)
        if maps is None:
            absent.append(response_map_file(f))
        else:
            figures.append(
                part.image(
                    part.png_bytes(maps, dpi=dpi),
                    alt=f"response maps of the top units for {f} in layer {name}",
                    caption="Mean response per cell of two factors (other factors pooled); "
                    "each map has its own colour scale, its range printed above it.",
                )
            )
        if figures:
            parts.append(part.row(figures))
        if absent:
            parts.append(
                part.note(
                    f"Not drawn: {', '.join(absent)} {'is' if len(absent) == 1 else 'are'} not "
                    f"in the results folder ({RECREATE}; "
                    "tuning curves only for the factors of [analysis] tuning, response maps "
                    "only where the stimuli vary the factor's pair)."
                )
            )
    return parts


def _tuning_figure(saved: Saved, factor: str, labels: list[str]):
    """Tuning figure of the units (one row per member of a group), the tuning files missing,
    and whether it shows tuning at each level of another factor (a deterministic grid)."""
    from factorprobe.report.tuning_plots import (
        conditional_map,
        draw_unit_tuning,
        fixed_figure,
        is_deterministic_grid,
        plot_unit_tuning,
    )

    members = FACTOR_GROUPS.get(factor, (factor,))
    curves = [c for c in (saved.curves(m) for m in members) if c is not None]
    lacking = [tuning_file(m) for m in members if saved.curves(m) is None]
    if not curves:
        return None, lacking, False
    maps = saved.all_maps()
    at_levels = all(
        is_deterministic_grid(c) and conditional_map(maps, str(c.attrs.get("factor"))) is not None
        for c in curves
    )
    if len(curves) == 1:
        return plot_unit_tuning(curves[0], maps, labels), lacking, at_levels
    fig = fixed_figure(4.2 * len(labels), 3.4 * len(curves), top=0.8, hspace=0.75)
    axes = fig.subplots(len(curves), len(labels), squeeze=False)
    for row, c in zip(axes, curves, strict=True):
        for ax, label in zip(row, labels, strict=True):
            draw_unit_tuning(ax, c, maps, label)
    return fig, lacking, at_levels


def _map_figure(saved: Saved, factor: str, labels: list[str], table: xr.Dataset):
    """The units' response maps, each titled with its range and the unit's q-value (marked
    when not significant)."""
    from factorprobe.report.plots import plot_response_map, unit_labels
    from factorprobe.report.tuning_plots import fixed_figure

    maps = saved.maps(factor)
    if maps is None:
        return None
    alpha = float(table.attrs.get("alpha", 0.05))
    where = {label: i for i, label in enumerate(unit_labels(table))}
    fig = fixed_figure(4.4 * len(labels), 3.6, top=0.55, bottom=0.6, wspace=0.55)
    for ax, label in zip(fig.subplots(1, len(labels), squeeze=False)[0], labels, strict=True):
        plot_response_map(maps, label, ax=ax)
        (i,) = select_positions(maps, label)
        one = maps.isel({UNIT: i}).values
        span = float(np.nanmax(one) - np.nanmin(one))
        q = float(table["q_value"].sel({FACTOR: factor}).values[where[label]])
        mark = "" if q < alpha else "  NOT SIGNIFICANT"
        ax.set_title(
            f"{label}: range {span:.3g} a.u., q({factor}) = {q:.2g}{mark}",
            fontsize=9,
            color="k" if q < alpha else "firebrick",
        )
    return fig


def select_positions(maps: xr.DataArray, label: str) -> list[int]:
    from factorprobe.report.plots import select_units

    return select_units(maps, [label], where="report", default=1)
