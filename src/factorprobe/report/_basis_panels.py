"""Panels of :func:`~factorprobe.report.table_plots.plot_basis_vs_random`: curves, box, numbers.

The numbers of a panel come either from :func:`factorprobe.analysis.basis_comparison`, computed
by the plot for a notebook, or from the comparison the analysis saved
(``baseline/basis_comparison.nc``), which the report passes so that it computes nothing.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

COMPARISON = "comparison"


def saved_comparison(
    comparison: xr.Dataset, measure: str, factor: str | None, percentile: float
) -> xr.Dataset:
    """The rows of a saved comparison for one measure (and factor), over ``layer``.

    Raises
    ------
    KeyError
        The comparison has no row for it (the message lists the rows it has).
    ValueError
        It was computed at another percentile than the plot draws.
    """
    saved = float(comparison.attrs.get("percentile", percentile))
    if saved != percentile:
        raise ValueError(
            f"The 'comparison' parameter of plot_basis_vs_random was computed at the "
            f"{saved:g}th percentile; got percentile={percentile:g}: pass {saved:g}."
        )
    rows = (comparison["measure"] == measure) & (comparison["factor"] == (factor or ""))
    if not bool(rows.any()):
        have = ", ".join(repr(str(c)) for c in comparison[COMPARISON].values)
        wanted = measure if factor is None else f"{measure} · {factor}"
        raise KeyError(
            f"The 'comparison' parameter of plot_basis_vs_random has no row {wanted!r}; it "
            f"has {have}."
        )
    return comparison.isel({COMPARISON: int(np.flatnonzero(rows.values)[0])})


def comparison_text(row: xr.Dataset, percentile: float) -> str:
    """The box of a basis-vs-random panel, from one layer of basis_comparison."""
    n = int(row["n_units"])
    missing = f"NaN: {int(row['n_missing_units'])} units, {int(row['n_missing_baseline'])} random"
    if n == 0 or int(row["n_baseline"]) == 0:
        return f"no finite values on one side\n{missing}"
    above = float(row["fraction_above"])
    text = f"> P{percentile:g}: {round(above * n)}/{n} units ({above:.0%})"
    text += f"\nrandom: {float(row['baseline_fraction_above']):.0%}"
    at = float(row["fraction_at_or_above"])
    if at != above:
        chance = float(row["baseline_fraction_at_or_above"])
        text += f"\n≥ P{percentile:g}: units {at:.0%}, random {chance:.0%}"
    return text + f"\nMann–Whitney p = {float(row['p_value']):.2g}\n{missing}"


def edges(values: np.ndarray, bins: int) -> np.ndarray:
    """``bins + 1`` equal-width bin edges over the values (a padded interval when constant)."""
    if values.size == 0:
        return np.linspace(0.0, 1.0, bins + 1)
    low, high = float(values.min()), float(values.max())
    if high <= low:
        pad = 0.5 if low == 0 else 0.05 * abs(low)
        low, high = low - pad, high + pad
    return np.linspace(low, high, bins + 1)


def draw_distributions(ax, basis: np.ndarray, random: np.ndarray, kind: str) -> None:
    """ECDFs (or density histograms) of the basis units' and the directions' values."""
    if kind == "ecdf":
        for v, style in ((basis, {"color": "C0"}), (random, {"color": "0.4", "ls": "--"})):
            if v.size:
                ax.ecdf(v, lw=1.6, **style)
        ax.set_ylim(0, 1.02)
        return
    shared = edges(np.concatenate([basis, random]), 20)
    for v, style in ((basis, {"color": "C0"}), (random, {"color": "0.4", "ls": "--"})):
        if v.size:
            ax.hist(v, bins=shared, density=True, histtype="step", lw=1.6, **style)
    ax.set_ylim(0, 1.6 * ax.get_ylim()[1])
