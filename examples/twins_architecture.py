"""The architecture contrast of the twins: pooled vs flattened head (docs/twins.md).

The embedded Swish network (``"embedded"``: global mean pooling before fc1) and its twin whose
last feature map (128 × 7 × 7) is flattened into fc1 (``"embedded:flat"``, same seed, recipe
and data), on the default run's grid (6 sizes × 7 × 7 positions, 294 discs; x and y 40..184 px
in steps of 24). For every captured layer:

- the fraction of units coding size only, position only, both, and neither, where a unit codes
  a factor when the q-value of its test is below the table's alpha (the unit table with its
  defaults: factors size and position, restricted null, 1000 shuffles, alpha 0.05; see
  docs/estimators.md);
- the population decoders of x and y (:func:`factorprobe.analysis.decoding`, seed 0): held-out
  accuracy of the 7-level label (chance 1/7) and R² and RMSE (px) of the value read-out.

Prints both tables, writes them as CSV and draws the figure. 90 s on one core of a shared
machine (measured)::

    OMP_NUM_THREADS=1 nice .venv/bin/python examples/twins_architecture.py \
        --out twins-architecture --figure docs/figures/twins_architecture.png
"""

from __future__ import annotations

import argparse
import csv
import time
import warnings
from pathlib import Path

import numpy as np

import factorprobe as fp

MODELS = {"embedded": "pooled head (embedded)", "embedded:flat": "flattened head (embedded:flat)"}
CLASSES = ("size only", "position only", "both", "neither")
DECODED = ("x", "y")


def stimuli() -> object:
    """The default run's grid: 6 sizes × 7 × 7 positions, discs."""
    positions = [40, 64, 88, 112, 136, 160, 184]
    space = fp.stimuli.grid(size=[16, 24, 32, 40, 48, 56], x=positions, y=positions)
    return fp.stimuli.render(space)


def coding_fractions(table, model: str) -> list[dict]:
    """Per layer: the fraction of units in each class of :data:`CLASSES` (q < alpha)."""
    alpha = float(table.attrs["alpha"])
    rows = []
    for layer in dict.fromkeys(table["layer"].values):
        t = table.sel(unit=table["layer"] == layer)
        size = t["q_value"].sel(factor="size").values < alpha
        position = t["q_value"].sel(factor="position").values < alpha
        counts = dict(
            zip(
                CLASSES,
                (size & ~position, position & ~size, size & position, ~size & ~position),
                strict=True,
            )
        )
        row = {"model": model, "layer": str(layer), "units": int(size.size)}
        row.update({c: float(np.mean(v)) for c, v in counts.items()})
        rows.append(row)
    return rows


def decoders(dec, model: str) -> list[dict]:
    """Per layer and factor: held-out accuracy, chance, R² and RMSE (px) of the decoders."""
    return [
        {
            "model": model,
            "layer": str(layer),
            "factor": factor,
            "accuracy": float(dec["accuracy"].sel(layer=layer, factor=factor)),
            "chance": float(dec["chance"].sel(layer=layer, factor=factor)),
            "r2": float(dec["r2"].sel(layer=layer, factor=factor)),
            "rmse": float(dec["rmse"].sel(layer=layer, factor=factor)),
        }
        for layer in dec["layer"].values
        for factor in DECODED
    ]


def figure(coded: list[dict], decoded: list[dict], path: Path) -> None:
    """Stacked coding fractions per layer for each network, and the x/y R² per layer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4), layout="constrained")
    colours = dict(zip(CLASSES, ("C0", "C3", "C4", "0.85"), strict=True))
    for ax, model in zip(axes[:2], MODELS, strict=True):
        rows = [r for r in coded if r["model"] == model]
        layers = [r["layer"] for r in rows]
        bottom = np.zeros(len(rows))
        for c in CLASSES:
            values = np.array([r[c] for r in rows])
            ax.bar(layers, values, bottom=bottom, color=colours[c], label=c)
            bottom += values
        ax.set_title(MODELS[model], fontsize=10)
        ax.set_ylabel("fraction of the layer's units")
        ax.set_ylim(0, 1)
    axes[0].legend(fontsize=8, loc="lower left")
    ax = axes[2]
    for model, colour in zip(MODELS, ("C0", "C1"), strict=True):
        for factor, style in zip(DECODED, ("-", "--"), strict=True):
            rows = [r for r in decoded if r["model"] == model and r["factor"] == factor]
            ax.plot(
                range(len(rows)),
                [r["r2"] for r in rows],
                style,
                color=colour,
                marker="o",
                label=f"{factor}, {MODELS[model].split(' (')[0]}",
            )
    ax.set_xticks(range(5), ["pool / flat", "fc1", "fc2", "fc3", "classifier"])
    ax.set_ylabel("held-out R² of the linear read-out")
    ax.set_title("population decoders of x and y", fontsize=10)
    ax.axhline(0, color="0.3", lw=0.8, ls=":")
    ax.legend(fontsize=8)
    fig.suptitle(
        "Units coding size and position (q < 0.05, unit-table defaults), 294 discs", fontsize=10
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the CSVs")
    parser.add_argument("--figure", type=Path, default=None, help="write the figure here")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    stim = stimuli()
    print(f"{stim.sizes['stimulus']} stimuli (6 sizes x 7 x 7 positions, discs)\n")
    coded, decoded = [], []
    for model_name in MODELS:
        model = fp.probing.load_model(model_name)
        acts = fp.probing.capture(model, stim, progress=False)
        start = time.perf_counter()
        table = fp.analysis.unit_table(acts)
        table_s = time.perf_counter() - start
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence notes of the largest candidate Cs
            dec = fp.analysis.decoding(acts, list(DECODED), seed=0)
        print(
            f"{model_name}: unit table {table_s:.0f} s, decoding "
            f"{time.perf_counter() - start:.0f} s"
        )
        coded += coding_fractions(table, model_name)
        decoded += decoders(dec, model_name)
    for name, data in (("coding.csv", coded), ("decoding.csv", decoded)):
        with open(args.out / name, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(data[0]))
            writer.writeheader()
            writer.writerows(data)
    print("\nFraction of units coding (q < 0.05)\n")
    print(
        "| network | layer | units | " + " | ".join(CLASSES) + " |\n|---|---|---|---|---|---|---|"
    )
    for r in coded:
        print(
            f"| {r['model']} | {r['layer']} | {r['units']} | "
            + " | ".join(f"{r[c]:.2f}" for c in CLASSES)
            + " |"
        )
    print("\nDecoding x and y (accuracy of the 7-level label, chance 0.14; R², RMSE in px)\n")
    print("| network | layer | x accuracy | y accuracy | x R² | y R² | x RMSE | y RMSE |")
    print("|---|---|---|---|---|---|---|---|")
    for model_name in MODELS:
        rows = [r for r in decoded if r["model"] == model_name]
        for x, y in zip(rows[::2], rows[1::2], strict=True):
            print(
                f"| {model_name} | {x['layer']} | {x['accuracy']:.2f} | {y['accuracy']:.2f} "
                f"| {x['r2']:.3f} | {y['r2']:.3f} | {x['rmse']:.1f} | {y['rmse']:.1f} |"
            )
    if args.figure is not None:
        figure(coded, decoded, args.figure)
        print(f"\nfigure: {args.figure}")


if __name__ == "__main__":
    main()
