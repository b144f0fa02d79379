"""What the embedded model's layers code about size and position, and whether its basis is special.

Renders one object over a size × x × y grid, with each of the four shapes the network was trained
on at every grid point (the shapes are the replicates of the two-way ANOVA: a size or position
effect must hold across shapes to count), captures every FC layer of the embedded Swish CNN and
prints, per layer:

- the mixed-selectivity classes of the two-way ANOVA size × position (pure / linear mixed /
  nonlinear mixed / none; BH-corrected per layer, alpha = 0.05);
- the fraction of units with significant MI (q < 0.05) with size, position and shape;
- the median selectivity index SI (size vs position, over units with a significant MI);
- basis units vs 256 random unit-norm directions of the same layer: the fraction of units with SI
  at or above the directions' 95th percentile (and that fraction for the directions themselves,
  the chance level), the one-sided Mann–Whitney p-value and P(unit SI > direction SI).

Run: ``nice .venv/bin/python examples/embedded_layers.py`` (about a minute on two cores).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from factorprobe.analysis.anova import two_way_anova
from factorprobe.analysis.basis import basis_comparison
from factorprobe.analysis.directions import random_directions
from factorprobe.analysis.table import unit_table
from factorprobe.probing import capture, load_model
from factorprobe.stimuli import grid, render

SIZES = np.linspace(16, 64, 6).round(1).tolist()  # px
POSITIONS = np.linspace(48, 176, 6).round(1).tolist()  # px, for x and for y
SHAPES = ["disc", "square", "triangle", "cross"]
N_DIRECTIONS = 256
N_PERMUTATIONS = 1000
SEED = 0


def measure() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per layer: what the units code (first frame) and basis units vs random directions."""
    space = grid(size=SIZES, x=POSITIONS, y=POSITIONS, shape=SHAPES)
    acts = capture(load_model("embedded"), render(space, canvas=224), progress=False)
    factors = ["size", "position", "shape"]
    options = {"compare": ["size", "position"], "n_permutations": N_PERMUTATIONS, "seed": SEED}
    table = unit_table(acts, factors, **options)
    pseudo = random_directions(acts, N_DIRECTIONS, seed=SEED)
    pseudo_table = unit_table(pseudo, factors, **options)
    anova = two_way_anova(acts, ("size", "position"))
    by_si = basis_comparison(table, pseudo_table, measure="selectivity")
    by_mi = {
        f: basis_comparison(table["mi"].sel(factor=f), pseudo_table["mi"].sel(factor=f))
        for f in ("size", "position")
    }

    coding, basis = [], []
    for layer in map(str, by_si["layer"].values):
        in_layer = table["layer"].values == layer
        category = pd.Series(anova["category"].values[in_layer])
        coded = table["q_value"].values[in_layer] < 0.05
        si = table["selectivity"].values[in_layer]
        coding.append(
            {
                "layer": layer,
                "units": int(in_layer.sum()),
                **{
                    k: (category == k).mean()
                    for k in ("pure", "linear_mixed", "nonlinear_mixed", "none")
                },
                **{f"MI {f}": coded[:, i].mean() for i, f in enumerate(factors)},
                "median SI": np.nanmedian(si) if np.isfinite(si).any() else np.nan,
            }
        )
        c = by_si.sel(layer=layer)
        basis.append(
            {
                "layer": layer,
                "SI units": float(c["median_units"]),
                "SI rand": float(c["median_baseline"]),
                "SI >=p95": float(c["fraction_at_or_above"]),
                "SI >=p95 chance": float(c["baseline_fraction_at_or_above"]),
                "SI >p95": float(c["fraction_above"]),
                "SI p (MWU)": float(c["p_value"]),
                "SI P(u>r)": float(c["probability_greater"]),
                **{
                    f"MI {f} {k}": float(by_mi[f].sel(layer=layer)[v])
                    for f in ("size", "position")
                    for k, v in (("p (MWU)", "p_value"), ("P(u>r)", "probability_greater"))
                },
            }
        )
    return pd.DataFrame(coding).set_index("layer"), pd.DataFrame(basis).set_index("layer")


def markdown(frame: pd.DataFrame) -> str:
    """The table as Markdown (fractions to 2 decimals, p-values to 2 significant digits)."""

    def cell(column: str, value: object) -> str:
        if column == "units":
            return str(int(value))
        if "p (" in column:
            return f"{value:.2g}"
        return f"{value:.2f}"

    header = ["layer", *frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for layer, row in frame.iterrows():
        lines.append(
            "| " + " | ".join([str(layer), *(cell(c, row[c]) for c in frame.columns)]) + " |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    start = time.perf_counter()
    coding, basis = measure()
    print(
        f"embedded model; {len(SIZES)} sizes x {len(POSITIONS)} x x {len(POSITIONS)} y x "
        f"{len(SHAPES)} shapes = {len(SIZES) * len(POSITIONS) ** 2 * len(SHAPES)} stimuli; "
        f"{N_DIRECTIONS} random directions per layer; {N_PERMUTATIONS} permutations; seed {SEED}"
    )
    print(markdown(coding))
    print()
    print(markdown(basis))
    print(f"({time.perf_counter() - start:.0f} s)")
