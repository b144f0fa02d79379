"""Why the unit table's defaults are the defaults: every configuration in both regimes.

Measures, on planted units whose answers are known
(``factorprobe.analysis.planted.planted_units``), the default ``unit_table`` (Gaussian copula,
shuffle correction, 1000-shuffle permutation p-values, restricted null) against the alternatives,
in the two regimes of docs/estimators.md:

1. **noisy samples** (all six kinds at noise 0.25, 0.5 and 1.0, 10 units each, 10 seeds), on
   10 sizes x 10 x 10 positions (10 stimuli per position level) and on 5 x 14 x 14 (5 per
   level): recovery (the fraction of clearly tuned size-only and position-only units whose
   ``preferred_factor`` is right; tuning variance >= 0.1 x noise variance), FDP (false
   discovery proportion at q < 0.05, mean over seeds), KS (p-value of a Kolmogorov-Smirnov test
   of the pooled null p-values of 40 noise units per seed against uniform, size / position),
   power (fraction of planted dependences found at q < 0.05);
2. **deterministic units on a crossed grid** (no noise, one stimulus per cell, the regime of a
   real network; 6 sizes x 7 x 7 positions as ``factorprobe run``, 20 units per kind, 5
   seeds): the corrected MI of the factor a pure unit does not code (median and minimum), how
   often that uncoded factor is called significant, how often a weak position code riding on a
   strong size code (position's share of the variance 3 %, 10 %, 30 %) is found, and the median
   selectivity index of those mixed units.

Run: ``nice .venv/bin/python examples/why_defaults.py`` (about 5 minutes on two cores).
"""

from __future__ import annotations

import time

import numpy as np
from scipy import stats

from factorprobe.analysis import unit_table
from factorprobe.analysis.planted import planted_units

CONFIGURATIONS = {
    "copula, shuffle, permutation, restricted null (default)": {},
    "copula, shuffle, permutation, free null (default until issue 12)": {"null": "free"},
    "plug-in (8 bins), shuffle, permutation, restricted": {"estimator": "plugin"},
    "plug-in (4 bins), shuffle, permutation, restricted": {"estimator": "plugin", "n_bins": 4},
    "copula, analytic, LR test": {"correction": "analytic", "significance": "gtest"},
    "plug-in, Miller-Madow, G-test": {
        "estimator": "plugin",
        "correction": "analytic",
        "significance": "gtest",
    },
}
NOISY_DESIGNS = {
    "10 sizes x 10 x 10 positions (1000 stimuli, 10 per position level)": {},
    "5 sizes x 14 x 14 positions (980 stimuli, 5 per position level)": {
        "n_sizes": 5,
        "n_x": 14,
        "n_y": 14,
    },
}
GRID = {"n_sizes": 6, "n_x": 7, "n_y": 7}
MIXES = (0.03, 0.1, 0.3)
CLEAR_SNR = 0.1


def _truth(kind: np.ndarray) -> np.ndarray:
    return np.stack(
        [
            np.isin(kind, ["size", "additive", "conjunctive"]),
            np.isin(kind, ["position", "additive", "conjunctive"]),
        ],
        axis=1,
    )


def noisy_row(design: dict, options: dict, seeds=range(10)) -> str:
    hits, fdp, power, null_p = [], [], [], []
    for seed in seeds:
        acts = planted_units(n_units=10, noise=(0.25, 0.5, 1.0), seed=seed, **design)
        table = unit_table(acts, seed=seed, **options)
        kind = acts["kind"].values
        clear = np.isin(kind, ["size", "position"]) & (acts["snr"].values >= CLEAR_SNR)
        hits.append(table["preferred_factor"].values[clear] == kind[clear])
        found = table["q_value"].values < 0.05
        truth = _truth(kind)
        fdp.append((found & ~truth).sum() / max(found.sum(), 1))
        power.append(found[truth].mean())
        noise = planted_units(kinds=("noise",), n_units=40, noise=(1.0,), seed=100 + seed, **design)
        null_p.append(unit_table(noise, seed=seed, **options)["p_value"].values)
    p = np.concatenate(null_p)
    ks = [stats.kstest(p[:, j], "uniform").pvalue for j in range(2)]
    return (
        f"{np.concatenate(hits).mean():.1%} | {np.mean(fdp):.1%} | "
        f"{ks[0]:.2g} / {ks[1]:.2g} | {np.mean(power):.2f}"
    )


def deterministic_row(options: dict, seeds=range(5)) -> str:
    uncoded, false, weak, si = [], [], {w: [] for w in MIXES}, {w: [] for w in MIXES}
    for seed in seeds:
        acts = planted_units(
            kinds=("size", "position", "mixed"),
            n_units=20,
            noise=(0.0,),
            mix=MIXES,
            seed=seed,
            **GRID,
        )
        table = unit_table(acts, seed=seed, **options)
        kind = acts["kind"].values
        share = acts["position_share"].values
        q = table["q_value"]
        for k, other in (("size", "position"), ("position", "size")):
            sel = kind == k
            uncoded.append(table["mi"].sel(factor=other).values[sel])
            false.append(q.sel(factor=other).values[sel] < 0.05)
        for w in MIXES:
            sel = (kind == "mixed") & np.isclose(share, w)
            weak[w].append(q.sel(factor="position").values[sel] < 0.05)
            si[w].append(table["selectivity"].values[sel])
    u = np.concatenate(uncoded)
    found = " / ".join(f"{np.concatenate(weak[w]).mean():.2f}" for w in MIXES)
    med = " / ".join(f"{np.nanmedian(np.concatenate(si[w])):.2f}" for w in MIXES)
    return (
        f"{np.median(u):+.3f} / {u.min():+.3f} | {np.concatenate(false).mean():.3f} | "
        f"{found} | {med}"
    )


def main() -> None:
    start = time.perf_counter()
    for title, design in NOISY_DESIGNS.items():
        print(f"\nNoisy samples, {title}\n")
        print("| configuration | recovery | FDP | KS size / position | power |")
        print("|---|---|---|---|---|")
        for name, options in CONFIGURATIONS.items():
            print(f"| {name} | {noisy_row(design, options)} |", flush=True)
    print("\nDeterministic units, 6 sizes x 7 x 7 positions, one stimulus per cell (294)\n")
    print(
        "| configuration | uncoded mi median / min (bits) | uncoded called significant | "
        "weak position found (3 / 10 / 30 %) | SI of mixed (3 / 10 / 30 %) |"
    )
    print("|---|---|---|---|---|")
    for name, options in CONFIGURATIONS.items():
        print(f"| {name} | {deterministic_row(options)} |", flush=True)
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
