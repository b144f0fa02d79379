"""Cumulative ablation of the embedded model's FC layers, ranked by MI with size and with the
distance from the canvas centre.

First the intact network: cross-validated decoding (:func:`factorprobe.analysis.decoding`) of
size, x, y, position and eccentricity (distance of the object's centre from the canvas centre,
px) from every layer, as labels and as values, which shows what position information the FC
layers carry. Then, for each fully connected hidden layer, units are ranked by their
bias-corrected MI (unit table defaults) with size and with eccentricity, ablated to zero
highest-first and lowest-first, and compared with 5 random orders. Prints, per layer and
ranking, the mean over the interior grid (0 < k < 128) of each metric: ranked highest-first,
ranked lowest-first, random mean ± sd; then the double-dissociation numbers on decoding
accuracy and on the R² of the value read-out. Takes about six minutes on two CPU cores::

    nice .venv/bin/python examples/embedded_ablation.py [--out DIR]

``--out DIR`` also writes each layer's result (NetCDF) and plot (PNG).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

import factorprobe as fp
from factorprobe.interventions.ablation import cumulative_ablation, double_dissociation
from factorprobe.io.files import atomic_output
from factorprobe.report.ablation_plots import plot_ablation_curves

LAYERS = ("fc1", "fc2", "fc3")
FACTORS = ("size", "eccentricity")
METRICS = (
    "task_accuracy",
    "decoding_accuracy:size",
    "decoding_accuracy:eccentricity",
    "decoding_r2:size",
    "decoding_r2:eccentricity",
)
CENTRE = 112  # px: the centre of the 224 px canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="write results and plots here")
    args = parser.parse_args()

    positions = [64, 88, 112, 136, 160]
    space = fp.stimuli.grid(size=[24, 40, 56], x=positions, y=positions,
                            shape=["disc", "square", "triangle", "cross"])  # fmt: skip
    stim = fp.stimuli.render(space)
    distance = np.hypot(stim["x"].values - CENTRE, stim["y"].values - CENTRE)
    stim = stim.assign_coords(eccentricity=("stimulus", np.round(distance, 1)))
    model = fp.probing.load_model("embedded")
    print(f"{len(space)} stimuli (3 sizes x 25 positions x 4 shapes), embedded model\n")

    start = time.perf_counter()
    acts = fp.probing.capture(model, stim, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notes of the largest candidate Cs
        dec = fp.analysis.decoding(acts, ["size", "x", "y", "position", "eccentricity"], seed=0)
    print(f"Intact network, decoding from every layer ({time.perf_counter() - start:.0f} s)\n")
    print("| layer | factor | accuracy | chance | V-info (bits) | R² | RMSE (px) | sd (px) |")
    print("|---|---|---|---|---|---|---|---|")
    for layer in dec["layer"].values:
        for factor in dec["factor"].values:
            d = dec.sel(layer=layer, factor=factor)
            print(f"| {layer} | {factor} | {float(d['accuracy']):.3f} | {float(d['chance']):.3f} "
                  f"| {float(d['v_information']):.3f} | {float(d['r2']):.3f} "
                  f"| {float(d['rmse']):.1f} | {float(d['sd_factor']):.1f} |")  # fmt: skip

    rows, dissociations = [], []
    for layer in LAYERS:
        start = time.perf_counter()
        result = cumulative_ablation(model, stim, layer, ["mi:size", "mi:eccentricity"],
                                     factors=list(FACTORS), seed=0)  # fmt: skip
        seconds = time.perf_counter() - start
        if args.out is not None:
            with atomic_output(args.out / f"ablation_{layer}.nc") as tmp:
                result.to_netcdf(tmp, engine="h5netcdf")
            plot_ablation_curves(result, metrics=list(METRICS),
                                 path=args.out / f"ablation_{layer}.png")  # fmt: skip
        interior = result["k"].values[(result["k"] > 0) & (result["k"] < result.attrs["n_units"])]
        mean_k = {"k": interior}
        for ranking in result["ranking"].values:
            for metric in METRICS:
                score = result["score"].sel(ranking=ranking, metric=metric).sel(mean_k).mean("k")
                rand = result["random"].sel(metric=metric).sel(mean_k).mean("k")
                intact = float(result["score"].sel(k=0, metric=metric).isel(ranking=0, direction=0))
                rows.append((layer, str(ranking), metric, intact,
                             float(score.sel(direction="highest")),
                             float(score.sel(direction="lowest")),
                             float(rand.mean()), float(rand.std(ddof=1))))  # fmt: skip
        for measure in ("decoding_accuracy", "decoding_r2"):
            dissociations.append((measure, layer, double_dissociation(result, measure=measure)))
        print(f"\n{layer}: ablation {seconds:.0f} s ({result.attrs['forward_path']})")

    print("\nMean over k = 16..112 of 128 units ablated (to zero); random: 5 orders, mean ± sd\n")
    print("| layer | ranking | metric | intact | highest first | lowest first | random |")
    print("|---|---|---|---|---|---|---|")
    for layer, ranking, metric, intact, high, low, mean, sd in rows:
        print(f"| {layer} | {ranking} | {metric} | {intact:.3f} | {high:.3f} | {low:.3f} "
              f"| {mean:.3f} ± {sd:.3f} |")  # fmt: skip

    a, b = FACTORS
    for measure in ("decoding_accuracy", "decoding_r2"):
        print(f"\nDouble dissociation ({measure}, highest first; drops averaged over k)\n")
        print(f"| layer | ranking | drop {a} | drop {b} | random drop {a} | random drop {b} "
              "| contrast ± random sd |")  # fmt: skip
        print("|---|---|---|---|---|---|---|")
        for m, layer, dd in dissociations:
            if m != measure:
                continue
            for ranking in dd["ranking"].values:
                d = dd.sel(ranking=ranking)
                print(f"| {layer} | {ranking} | {float(d['drop'].sel(factor=a)):.3f} "
                      f"| {float(d['drop'].sel(factor=b)):.3f} "
                      f"| {float(d['random_drop_mean'].sel(factor=a)):.3f} ± "
                      f"{float(d['random_drop_sd'].sel(factor=a)):.3f} "
                      f"| {float(d['random_drop_mean'].sel(factor=b)):.3f} ± "
                      f"{float(d['random_drop_sd'].sel(factor=b)):.3f} "
                      f"| {float(d['contrast']):+.3f} ± "
                      f"{float(d['contrast_random_sd']):.3f} |")  # fmt: skip
            print(f"| {layer} | double dissociation: {bool(dd['double_dissociation'])} |||||| ")


if __name__ == "__main__":
    main()
