"""The activation contrast of the twins: Swish vs ReLU under cumulative ablation (docs/twins.md).

Amjad, Liu & Geiger (2018)'s experiment on our stimuli: for each fully connected hidden layer
(fc1, fc2, fc3) of the embedded Swish network (``"embedded"``) and of its ReLU twin
(``"embedded:relu"``, same seed, recipe and data), the units are ranked by their bias-corrected
MI with shape and with size, taken from the unit table with its defaults (restricted null,
copula estimator, 1000 shuffles) over shape, size and position, and ablated to zero
cumulatively, highest MI first and lowest first, against random orders. Each step records the
shape accuracy of the network's output and how well shape and size decode from the next layer
(:func:`factorprobe.interventions.cumulative_ablation`). Where a layer has units that never
vary over the stimuli (dead ReLU units), the same rankings are also run with those units ranked
last in both directions (``", live"``), which separates "MI predicts damage" from "dead units
do no damage".

Stimuli: 4 shapes × 3 sizes × 5 × 5 positions (300, positions 64..160 px in steps of 24).
Prints per network, layer, ranking and direction the mean over the interior grid
(0 < k < 128; k in steps of 8 by default) of each metric, with the random orders' mean ± sd;
writes the results (NetCDF), the summaries (CSV) and the figure. ``--method mean`` sets the
ablated units to their mean instead (the control for Swish units, whose "off" value is not 0).
Measured: 3 CPU-minutes, 6.5 minutes of wall time on a shared two-core machine::

    OMP_NUM_THREADS=1 nice .venv/bin/python examples/twins_activation.py --out twins-activation \
        --figure docs/figures/twins_activation.png
"""

from __future__ import annotations

import argparse
import csv
import time
import warnings
from pathlib import Path

import numpy as np

import factorprobe as fp
from factorprobe.interventions import cumulative_ablation

MODELS = {"embedded": "Swish (embedded)", "embedded:relu": "ReLU (embedded:relu)"}
LAYERS = ("fc1", "fc2", "fc3")
RANKED = ("shape", "size")
METRICS = ("task_accuracy", "decoding_accuracy:shape", "decoding_accuracy:size")
N_RANDOM = 10


def stimuli() -> object:
    """The 300 stimuli: every shape at every size and position of a 5 × 5 grid."""
    positions = [64, 88, 112, 136, 160]
    space = fp.stimuli.grid(
        size=[24, 40, 56], x=positions, y=positions, shape=["disc", "square", "triangle", "cross"]
    )
    return fp.stimuli.render(space)


def summarise(result, model: str, layer: str) -> list[dict]:
    """Mean over the interior grid of each metric, per ranking and direction, vs random."""
    k = result["k"].values
    interior = {"k": k[(k > 0) & (k < result.attrs["n_units"])]}
    rows = []
    for metric in METRICS:
        intact = float(result["score"].sel(k=0, metric=metric).isel(ranking=0, direction=0))
        rand = result["random"].sel(metric=metric).sel(interior).mean("k")
        r_mean, r_sd = float(rand.mean()), float(rand.std(ddof=1))
        for ranking in result["ranking"].values:
            for direction in result["direction"].values:
                score = result["score"].sel(ranking=ranking, direction=direction, metric=metric)
                mean = float(score.sel(interior).mean("k"))
                rows.append(
                    {
                        "model": model,
                        "layer": layer,
                        "ranking": str(ranking),
                        "direction": str(direction),
                        "metric": metric,
                        "intact": intact,
                        "ranked": mean,
                        "random_mean": r_mean,
                        "random_sd": r_sd,
                        "excess_drop": r_mean - mean,
                        "excess_drop_sd": (r_mean - mean) / r_sd if r_sd else float("nan"),
                    }
                )
    return rows


def constant_units(acts, layer: str) -> np.ndarray:
    """Which units of ``layer`` give the same response to every stimulus (dead ReLU units)."""
    values = acts.sel(unit=acts["layer"] == layer).values
    return np.ptp(values, axis=0) == 0


def coding(table, acts, model: str) -> list[dict]:
    """Per layer: fraction of units whose MI with each factor is significant, and median MI.

    Also the fraction of constant units and the Spearman correlation of the two MI rankings.
    """
    from scipy.stats import spearmanr

    rows = []
    for layer in LAYERS:
        t = table.sel(unit=table["layer"] == layer)
        dead = float(np.mean(constant_units(acts, layer)))
        mi = [t["mi"].sel(factor=f).values for f in RANKED]
        rho = float(spearmanr(*mi).statistic)
        for factor in RANKED:
            q = t["q_value"].sel(factor=factor).values
            mi = t["mi"].sel(factor=factor).values
            rows.append(
                {
                    "model": model,
                    "layer": layer,
                    "factor": factor,
                    "coded": float(np.mean(q < table.attrs.get("alpha", 0.05))),
                    "mi_median": float(np.median(mi)),
                    "mi_max": float(mi.max()),
                    "constant": dead,
                    "rank_correlation": rho,
                }
            )
    return rows


def figure(results: dict, path: Path, method: str) -> None:
    """Task accuracy against the fraction ablated: one row per network, one column per layer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(MODELS),
        len(LAYERS),
        figsize=(11, 6.2),
        sharex=True,
        sharey=True,
        squeeze=False,
        layout="constrained",
    )
    colours = {"mi:shape": "C0", "mi:size": "C3"}
    for row, model in enumerate(MODELS):
        for col, layer in enumerate(LAYERS):
            ax, result = axes[row, col], results[model, layer]
            frac = result["fraction"].values
            rand = result["random"].sel(metric="task_accuracy")
            mean, sd = rand.mean("random_order").values, rand.std("random_order", ddof=1).values
            ax.fill_between(frac, mean - sd, mean + sd, color="0.8", label="random ± sd")
            ax.plot(frac, mean, color="0.5", lw=1)
            for ranking in result["ranking"].values:
                base, _, live = str(ranking).partition(", ")
                for direction, style in (("highest", "-"), ("lowest", "--")):
                    y = result["score"].sel(
                        ranking=ranking, direction=direction, metric="task_accuracy"
                    )
                    ax.plot(
                        frac,
                        y,
                        style,
                        color=colours[base],
                        lw=0.8 if live else 1.5,
                        alpha=0.6 if live else 1.0,
                        marker="x" if live else ".",
                        label=f"{ranking}, {direction} first",
                    )
            ax.axhline(0.25, color="0.3", ls=":", lw=1)
            ax.set_title(f"{MODELS[model]}: {layer}", fontsize=10)
            if col == 0:
                ax.set_ylabel("shape accuracy (fraction)")
            if row == len(MODELS) - 1:
                ax.set_xlabel(f"fraction of the layer's units ablated (to {method})")
    axes[0, 0].legend(fontsize=7, loc="lower left")
    if len(axes[-1, 0].get_lines()) > len(axes[0, 0].get_lines()):
        handles, labels = axes[-1, 0].get_legend_handles_labels()
        live = [(h, t) for h, t in zip(handles, labels, strict=True) if "live" in t]
        axes[-1, 0].legend(*zip(*live, strict=True), fontsize=7, loc="lower left")
    fig.suptitle(
        "Cumulative ablation ranked by MI with shape and with size (300 stimuli; "
        f"grey: {N_RANDOM} random orders; dotted: chance)",
        fontsize=10,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for results and CSVs")
    parser.add_argument("--figure", type=Path, default=None, help="write the figure here")
    parser.add_argument(
        "--method",
        choices=["zero", "mean"],
        default="zero",
        help="ablated units are set to 0 (Amjad et al.) or to their mean",
    )
    parser.add_argument(
        "--grid", type=int, default=17, help="numbers of units ablated, 0..128 (17: steps of 8)"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    stim = stimuli()
    print(f"{stim.sizes['stimulus']} stimuli (4 shapes x 3 sizes x 25 positions)\n")
    rows, coded, results = [], [], {}
    for model_name in MODELS:
        model = fp.probing.load_model(model_name)
        start = time.perf_counter()
        acts = fp.probing.capture(model, stim, layers=list(LAYERS), progress=False)
        table = fp.analysis.unit_table(acts, factors=["shape", "size", "position"])
        seconds = time.perf_counter() - start
        print(f"{model_name}: unit table {seconds:.0f} s (estimator {table.attrs['estimator']})")
        coded += coding(table, acts, model_name)
        for layer in LAYERS:
            start = time.perf_counter()
            t = table.sel(unit=table["layer"] == layer)
            ranking = {f"mi:{f}": t["mi"].sel(factor=f).values for f in RANKED}
            dead = constant_units(acts, layer)
            if dead.any():
                for f in RANKED:
                    ranking[f"mi:{f}, live"] = np.where(dead, np.nan, ranking[f"mi:{f}"])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # convergence notes of the fixed-C decoder
                result = cumulative_ablation(
                    model,
                    stim,
                    layer,
                    ranking,
                    factors=list(RANKED),
                    grid=args.grid,
                    n_random=N_RANDOM,
                    method=args.method,
                    seed=0,
                    progress=False,
                )
            results[model_name, layer] = result
            result.to_netcdf(
                args.out / f"ablation_{model_name.replace(':', '_')}_{layer}.nc", engine="h5netcdf"
            )
            rows += summarise(result, model_name, layer)
            print(
                f"  {layer}: ablation {time.perf_counter() - start:.0f} s "
                f"({result.attrs['forward_path']})"
            )
    for name, data in (("summary.csv", rows), ("coding.csv", coded)):
        with open(args.out / name, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(data[0]))
            writer.writeheader()
            writer.writerows(data)
    print(
        "\nUnits whose MI is significant (q < 0.05), median and largest MI (bits), constant "
        "units, Spearman correlation of the MI-with-shape and MI-with-size rankings\n"
    )
    print("| network | layer | factor | coded | median MI | max MI | constant | rho |")
    print("|---|---|---|---|---|---|---|---|")
    for r in coded:
        print(
            f"| {r['model']} | {r['layer']} | {r['factor']} | {r['coded']:.2f} "
            f"| {r['mi_median']:.3f} | {r['mi_max']:.3f} | {r['constant']:.2f} "
            f"| {r['rank_correlation']:.2f} |"
        )
    print(
        f"\nMean over 0 < k < 128 units ablated (to {args.method}); random: "
        f"{N_RANDOM} orders, mean ± sd\n"
    )
    print("| network | layer | metric | ranking | intact | highest first | lowest first | random |")
    print("|---|---|---|---|---|---|---|---|")
    for model_name in MODELS:
        for layer in LAYERS:
            for metric in METRICS:
                labels = dict.fromkeys(
                    r["ranking"] for r in rows if (r["model"], r["layer"]) == (model_name, layer)
                )
                for ranking in labels:
                    key = (model_name, layer, metric, ranking)
                    pick = {
                        r["direction"]: r
                        for r in rows
                        if (r["model"], r["layer"], r["metric"], r["ranking"]) == key
                    }
                    h, lo = pick["highest"], pick["lowest"]
                    print(
                        f"| {model_name} | {layer} | {metric} | {ranking} | {h['intact']:.3f} "
                        f"| {h['ranked']:.3f} | {lo['ranked']:.3f} "
                        f"| {h['random_mean']:.3f} ± {h['random_sd']:.3f} |"
                    )
    if args.figure is not None:
        figure(results, args.figure, args.method)
        print(f"\nfigure: {args.figure}")


if __name__ == "__main__":
    main()
