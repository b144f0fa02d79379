"""The report's first screen: per layer, which units code which factor, in words and one figure.

:func:`coding_counts` counts, from a saved unit table, the units of each layer that code each
factor by the table's test (BH q-value below its ``alpha``), those that code all the compared
factors (``both``), only one, or none (``neither``), with the median selectivity index and the
median variance share (one-way eta squared) per factor. :func:`first_screen_sentences` puts
those numbers, the population decoders' accuracy (``layers.nc``) and the comparison with random
directions (``baseline/basis_comparison.nc``) into one sentence per layer, and
:func:`plot_first_screen` draws them. Nothing is computed beyond counting and medians of saved
columns, so every number equals the table's (``tests/report/test_summary.py`` checks it against
``units.csv``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from factorprobe.dims import FACTOR, LAYER, UNIT

__all__ = ["coding_counts", "first_screen_sentences", "plot_first_screen"]

ALL_UNITS = "all units"
#: colours of the coding classes in the figure
CLASS_COLOURS = {"both": "#7b3294", "neither": "#bdbdbd"}
_FACTOR_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e")


def _layers(obj: xr.Dataset) -> np.ndarray:
    if LAYER in obj.coords and obj[LAYER].dims == (UNIT,):
        return obj[LAYER].values.astype(str)
    return np.full(obj.sizes[UNIT], ALL_UNITS)


def _compared(table: xr.Dataset) -> list[str]:
    factors = [str(f) for f in table[FACTOR].values]
    named = [c for c in str(table.attrs.get("compared", "")).split(",") if c in factors]
    return named if len(named) >= 2 else factors


def coding_counts(table: xr.Dataset) -> pd.DataFrame:
    """Per layer: how many units code each factor, all compared factors, only one, none.

    Parameters
    ----------
    table : Dataset
        A unit table with ``q_value`` over ``(unit, factor)``; ``selectivity`` and
        ``eta_squared`` are used when present.

    Returns
    -------
    DataFrame
        One row per layer (index ``layer``, in the units' order). Columns: ``units``;
        ``codes <f>`` per factor (units with q < alpha); with two or more compared factors
        (attrs ``compared``) ``both`` (q < alpha for every compared factor), ``only <f>`` per
        compared factor; ``neither`` (no factor of the table significant); ``median SI`` over
        the units that have one and ``units with SI``; ``median eta² <f>`` per factor (share of
        the response's variance explained by the factor's level means).

    Examples
    --------
    >>> from factorprobe.analysis import planted_units, unit_table
    >>> acts = planted_units(kinds=("size", "position"), n_units=2, noise=(0.3,), seed=0)
    >>> counts = coding_counts(unit_table(acts, n_permutations=50))
    >>> counts[["units", "codes size", "codes position"]].values.tolist()
    [[4, 3, 2]]
    """
    layers = _layers(table)
    factors = [str(f) for f in table[FACTOR].values]
    compared = _compared(table)
    alpha = float(table.attrs.get("alpha", 0.05))
    q = np.nan_to_num(table["q_value"].transpose(UNIT, FACTOR).values, nan=1.0)
    significant = pd.DataFrame(q < alpha, columns=factors)
    columns: dict[str, np.ndarray] = {"units": np.ones(len(layers), dtype=int)}
    for f in factors:
        columns[f"codes {f}"] = significant[f].to_numpy().astype(int)
    if len(compared) >= 2:
        every = significant[compared].all(axis=1).to_numpy()
        columns["both"] = every.astype(int)
        for f in compared:
            others = [g for g in compared if g != f]
            alone = significant[f].to_numpy() & ~significant[others].any(axis=1).to_numpy()
            columns[f"only {f}"] = alone.astype(int)
    columns["neither"] = (~significant.any(axis=1).to_numpy()).astype(int)
    frame = pd.DataFrame(columns, index=pd.Index(layers, name=LAYER))
    summary = frame.groupby(level=LAYER, sort=False).sum()
    if "selectivity" in table:
        si_values = pd.Series(table["selectivity"].values.astype(float), index=frame.index)
        summary["median SI"] = si_values.groupby(level=LAYER, sort=False).median()
        with_si = si_values.notna().groupby(level=LAYER, sort=False).sum()
        summary["units with SI"] = with_si.astype(int)
    if "eta_squared" in table:
        for f in factors:
            eta = pd.Series(
                table["eta_squared"].sel({FACTOR: f}).values.astype(float), index=frame.index
            )
            summary[f"median eta² {f}"] = eta.groupby(level=LAYER, sort=False).median()
    return summary


def _decoders(layers: xr.Dataset | None, name: str) -> str:
    if layers is None or "accuracy" not in layers or name not in layers[LAYER].values:
        return ""
    one = layers.sel({LAYER: name})
    parts = []
    for f in one[FACTOR].values.astype(str):
        acc, chance = float(one["accuracy"].sel({FACTOR: f})), float(one["chance"].sel({FACTOR: f}))
        if np.isfinite(acc):
            parts.append(f"{f} {acc:.2f} (chance {chance:.2f})")
    return "Population decoder accuracy: " + ", ".join(parts) + "." if parts else ""


def _directions(comparison: xr.Dataset | None, name: str) -> str:
    if comparison is None or name not in comparison[LAYER].values.astype(str):
        return ""
    one = comparison.sel({LAYER: name})
    labels = list(one["comparison"].values.astype(str))
    if "selectivity" not in labels:
        return ""
    row = one.sel(comparison="selectivity")
    above, chance = float(row["fraction_above"]), float(row["baseline_fraction_above"])
    n_base = int(row["n_baseline"]) if "n_baseline" in row else 0
    if not (np.isfinite(above) and np.isfinite(chance)):
        return "Random directions: no SI on one side (no unit or direction has one)."
    text = (
        f"Against {n_base} random directions of the layer: {above:.1%} of its units have an SI "
        f"above the directions' 95th percentile (chance {chance:.1%})"
    )
    if chance == 0:  # no direction exceeds the directions' own 95th percentile: ties at the top
        text += (
            f", which says nothing here: the directions' SI ties at its top value, so none can "
            f"be above it; medians: units {float(row['median_units']):.2f}, directions "
            f"{float(row['median_baseline']):.2f}"
        )
    return text + "."


def first_screen_sentences(
    counts: pd.DataFrame,
    *,
    layers: xr.Dataset | None = None,
    comparison: xr.Dataset | None = None,
) -> dict[str, str]:
    """One sentence per layer from :func:`coding_counts`, the decoders and the directions.

    Parameters
    ----------
    counts : DataFrame
        :func:`coding_counts` of the unit table.
    layers : Dataset, optional
        ``layers.nc``: decoder ``accuracy`` and ``chance`` over ``(layer, factor)``.
    comparison : Dataset, optional
        ``baseline/basis_comparison.nc``.

    Returns
    -------
    dict of str to str
        Layer name to its text; numbers are those of ``counts`` (counts as integers, medians
        to 2 decimals) and of the saved files.
    """
    columns = [str(c) for c in counts.columns]
    factors = [c.removeprefix("codes ") for c in columns if c.startswith("codes ")]
    out = {}
    for name, row in counts.iterrows():
        coded = ", ".join(f"{int(row[f'codes {f}'])} code {f}" for f in factors)
        text = f"{name}: of {int(row['units'])} units, {coded}"
        if "both" in row:
            only = ", ".join(f"{int(row[c])} {c}" for c in columns if c.startswith("only "))
            text += f"; {int(row['both'])} code both, {only}"
        text += f"; {int(row['neither'])} code neither."
        if "median SI" in row:
            si = row["median SI"]
            si_text = f"{si:.2f}" if np.isfinite(si) else "none"
            text += f" Median SI {si_text} ({int(row['units with SI'])} units with an SI)."
        shares = [c for c in columns if c.startswith("median eta² ")]
        if shares:
            text += (
                " Median variance share (η²): "
                + ", ".join(f"{c.removeprefix('median eta² ')} {row[c]:.2f}" for c in shares)
                + "."
            )
        for extra in (_decoders(layers, str(name)), _directions(comparison, str(name))):
            if extra:
                text += " " + extra
        out[str(name)] = text
    return out


def plot_first_screen(
    table: xr.Dataset,
    counts: pd.DataFrame,
    *,
    baseline: xr.Dataset | None = None,
    layers: xr.Dataset | None = None,
) -> Figure:
    """The first screen's figure: coding classes, SI, variance shares and decoders per layer.

    Parameters
    ----------
    table : Dataset
        The unit table (for the SI and eta-squared distributions).
    counts : DataFrame
        Its :func:`coding_counts`.
    baseline : Dataset, optional
        The unit table of the random directions (``baseline/random_directions.nc``): their SI
        is drawn beside the units'.
    layers : Dataset, optional
        ``layers.nc``: decoder accuracy and chance per layer and factor.

    Returns
    -------
    Figure
        Four panels: (a) units per coding class (stacked, counts printed), (b) SI per layer,
        units against random directions, (c) eta squared per factor and layer, (d) decoder
        accuracy per layer against chance.
    """
    from factorprobe.report.plots import new_figure

    names = [str(n) for n in counts.index]
    fig = new_figure(15.0, 3.9)
    ax_a, ax_b, ax_c, ax_d = fig.subplots(1, 4, width_ratios=[1.25, 1, 1, 1])
    columns = [str(c) for c in counts.columns]
    classes = ["both", *[c for c in columns if c.startswith("only ")], "neither"]
    classes = [c for c in classes if c in columns]
    colours = {
        c: CLASS_COLOURS.get(c, _FACTOR_COLOURS[k % len(_FACTOR_COLOURS)])
        for k, c in enumerate(classes)
    }
    ys = np.arange(len(names))
    left = np.zeros(len(names))
    for c in classes:
        share = counts[c].to_numpy() / counts["units"].to_numpy()
        ax_a.barh(ys, share, left=left, color=colours[c], label=c, height=0.7)
        for y, x0, w, n in zip(ys, left, share, counts[c].to_numpy(), strict=True):
            if w >= 0.08:
                ax_a.text(x0 + w / 2, y, str(int(n)), ha="center", va="center", fontsize=8,
                          color="white" if c != "neither" else "black")  # fmt: skip
        left += share
    ax_a.set_yticks(ys, names)
    ax_a.invert_yaxis()
    ax_a.set_xlim(0, 1)
    ax_a.set_xlabel("fraction of the layer's units (counts printed)")
    alpha = float(table.attrs.get("alpha", 0.05))
    ax_a.set_title(f"(a) which factors a unit codes (q < {alpha:g})", fontsize=10)
    ax_a.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.22), ncols=4)
    layer_of = _layers(table)
    if "selectivity" in table:
        si = table["selectivity"].values.astype(float)
        data = [si[(layer_of == n) & np.isfinite(si)] for n in names]
        positions = ys * 1.0
        _boxes(ax_b, data, positions - 0.18, "#1f77b4")
        if baseline is not None and "selectivity" in baseline:
            base_si = baseline["selectivity"].values.astype(float)
            base_of = _layers(baseline)
            base = [base_si[(base_of == n) & np.isfinite(base_si)] for n in names]
            _boxes(ax_b, base, positions + 0.18, "0.6")
        ax_b.set_yticks(ys, names)
        ax_b.invert_yaxis()
        ax_b.set_xlabel("selectivity index")
        ax_b.set_title("(b) SI: units (blue) vs random directions (grey)", fontsize=10)
    if "eta_squared" in table:
        factors = [str(f) for f in table[FACTOR].values]
        width = 0.8 / max(1, len(factors))
        for k, f in enumerate(factors):
            eta = table["eta_squared"].sel({FACTOR: f}).values.astype(float)
            data = [eta[(layer_of == n) & np.isfinite(eta)] for n in names]
            offset = (k - (len(factors) - 1) / 2) * width
            _boxes(ax_c, data, ys + offset, _FACTOR_COLOURS[k % len(_FACTOR_COLOURS)], width)
            ax_c.plot([], [], color=_FACTOR_COLOURS[k % len(_FACTOR_COLOURS)], lw=6, label=f)
        ax_c.set_yticks(ys, names)
        ax_c.invert_yaxis()
        ax_c.set_xlim(-0.02, 1.02)
        ax_c.set_xlabel("variance share η² (fraction)")
        ax_c.set_title("(c) variance explained per factor", fontsize=10)
        ax_c.legend(fontsize="x-small", loc="lower right")
    if layers is not None and "accuracy" in layers:
        shown = [n for n in names if n in layers[LAYER].values.astype(str)]
        for k, f in enumerate(layers[FACTOR].values.astype(str)):
            acc = [float(layers["accuracy"].sel({LAYER: n, FACTOR: f})) for n in shown]
            chance = [float(layers["chance"].sel({LAYER: n, FACTOR: f})) for n in shown]
            colour = _FACTOR_COLOURS[k % len(_FACTOR_COLOURS)]
            ax_d.plot(acc, range(len(shown)), "o-", color=colour, label=f)
            ax_d.plot(chance, range(len(shown)), ":", color=colour, lw=1)
        ax_d.set_yticks(range(len(shown)), shown)
        ax_d.invert_yaxis()
        ax_d.set_xlim(0, 1.02)
        ax_d.set_xlabel("accuracy, cross-validated (dotted: chance)", fontsize=9)
        ax_d.set_title("(d) population decoder", fontsize=10)
        ax_d.legend(fontsize="x-small", loc="lower right")
    else:
        ax_d.set_axis_off()
        ax_d.text(0.5, 0.5, "no decoding saved (layers.nc)", ha="center", va="center")
    for ax in (ax_b, ax_c, ax_d):
        ax.grid(alpha=0.3, axis="x")
    return fig


def _boxes(ax, data, positions, colour, width: float = 0.32) -> None:
    """Horizontal box plots; an empty group is skipped (nothing to draw)."""
    keep = [k for k, d in enumerate(data) if len(d)]
    if not keep:
        return
    parts = ax.boxplot(
        [data[k] for k in keep],
        positions=[positions[k] for k in keep],
        widths=width,
        orientation="horizontal",
        patch_artist=True,
        showfliers=False,
        manage_ticks=False,
    )
    for box in parts["boxes"]:
        box.set(facecolor=colour, alpha=0.6, edgecolor="0.2")
    for median in parts["medians"]:
        median.set(color="k")
