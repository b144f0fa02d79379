"""What the embedded model's layers code about size and position, and whether its basis is special.

By default renders discs over the default run's grid (6 sizes 16-56 px x 7 x x 7 y, 40-184 px:
294 stimuli, one per cell, the regime of ``factorprobe run``); ``--shapes`` instead renders each
of the four shapes the network was trained on at every point of a 6 x 6 x 6 grid (864 stimuli;
the shapes are then the replicates of the two-way ANOVA) and adds ``shape`` to the factors.
Captures every FC layer of the embedded Swish CNN, computes the default unit table (restricted
null; ``--compare`` names the compared factors, default size and position) and prints, per layer:

- the classes of the two-way ANOVA size x position (pure / linear mixed / nonlinear mixed /
  none; BH per layer, alpha = 0.05; with one stimulus per cell the interaction is the error
  term and is not tested, so no unit is nonlinear mixed);
- the fraction of units with significant information (q < 0.05) about each factor, the median
  bias-corrected MI with position and the fraction of units at or below 0;
- the median selectivity index SI (over units with a significant compared factor), the fraction
  with SI exactly 1, and the medians of the unit table's eta_squared (size, position) and
  eta_squared_interaction;
- basis units vs 256 random unit-norm directions of the same layer (analysed with the same
  options): for SI, the medians, the fraction of units at or above the directions' 95th
  percentile (and that fraction for the directions themselves, the chance level), the fraction
  strictly above, the one-sided Mann-Whitney p-value and P(unit > direction); then the
  Mann-Whitney p and P(unit > direction) for the bias-corrected MI with size and with position.

Run: ``nice .venv/bin/python examples/embedded_layers.py [--shapes] [--compare size position]``
(under a minute on two cores).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from factorprobe.analysis.anova import two_way_anova
from factorprobe.analysis.basis import basis_comparison
from factorprobe.analysis.directions import random_directions
from factorprobe.analysis.table import unit_table
from factorprobe.probing import capture, load_model
from factorprobe.stimuli import grid, render

# the default run's grid (discs, one per cell) and the grid of --shapes (four shapes per cell)
DEFAULT_SIZES = [16.0, 24.0, 32.0, 40.0, 48.0, 56.0]  # px
DEFAULT_POSITIONS = [40.0, 64.0, 88.0, 112.0, 136.0, 160.0, 184.0]  # px, for x and for y
SHAPE_SIZES = np.linspace(16, 64, 6).round(1).tolist()
SHAPE_POSITIONS = np.linspace(48, 176, 6).round(1).tolist()
SHAPES = ["disc", "square", "triangle", "cross"]
N_DIRECTIONS = 256
N_PERMUTATIONS = 1000
SEED = 0


def measure(shapes: bool, compare: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Per layer: what the units code (first frame) and basis units vs random directions."""
    if shapes:
        space = grid(size=SHAPE_SIZES, x=SHAPE_POSITIONS, y=SHAPE_POSITIONS, shape=SHAPES)
        factors = ["size", "position", "shape"]
    else:
        space = grid(size=DEFAULT_SIZES, x=DEFAULT_POSITIONS, y=DEFAULT_POSITIONS, shape="disc")
        factors = ["size", "position"]
    acts = capture(load_model("embedded"), render(space, canvas=224), progress=False)
    options = {"compare": compare, "n_permutations": N_PERMUTATIONS, "seed": SEED}
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
        mi_position = table["mi"].sel(factor="position").values[in_layer]
        eta = table["eta_squared"].values[in_layer]
        coding.append(
            {
                "layer": layer,
                "units": int(in_layer.sum()),
                **{
                    k: (category == k).mean()
                    for k in ("pure", "linear_mixed", "nonlinear_mixed", "none")
                },
                **{f"q<.05 {f}": coded[:, i].mean() for i, f in enumerate(factors)},
                "MI position median": np.median(mi_position),
                "MI position <= 0": np.mean(mi_position <= 0),
                "median SI": np.nanmedian(si) if np.isfinite(si).any() else np.nan,
                "SI = 1": np.mean(si == 1.0),
                **{f"eta2 {f}": np.median(eta[:, factors.index(f)]) for f in ("size", "position")},
                "eta2 interaction": np.median(table["eta_squared_interaction"].values[in_layer]),
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
    coding = pd.DataFrame(coding).set_index("layer")
    return coding, pd.DataFrame(basis).set_index("layer"), acts.sizes["stimulus"]


def markdown(frame: pd.DataFrame) -> str:
    """The table as Markdown (fractions to 2 decimals, p-values to 2 significant digits)."""

    def cell(column: str, value: object) -> str:
        if column == "units":
            return str(int(value))
        if "p (" in column:
            return f"{value:.2g}"
        if column == "MI position median":
            return f"{value:+.3f}"
        return f"{value:.2f}"

    header = ["layer", *frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for layer, row in frame.iterrows():
        lines.append(
            "| " + " | ".join([str(layer), *(cell(c, row[c]) for c in frame.columns)]) + " |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", action="store_true", help="four shapes per grid point")
    parser.add_argument("--compare", nargs="+", default=["size", "position"])
    args = parser.parse_args()
    start = time.perf_counter()
    coding, basis, n_stimuli = measure(args.shapes, args.compare)
    design = "6 sizes x 6 x x 6 y x 4 shapes" if args.shapes else "6 sizes x 7 x x 7 y discs"
    print(
        f"embedded model; {design} = {n_stimuli} stimuli; compared: {', '.join(args.compare)}; "
        f"{N_DIRECTIONS} random directions per layer; {N_PERMUTATIONS} permutations; seed {SEED}"
    )
    print(markdown(coding))
    print()
    print(markdown(basis))
    print(f"({time.perf_counter() - start:.0f} s)")
