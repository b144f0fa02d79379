"""Benchmark: the unit table against a per-pair loop of sklearn's mutual_info_score.

Case (issue 4): 2250 stimuli (10 sizes × 15 x × 15 y) × 1280 planted units; factors size, x, y
and position. Both sides run in this process on the same discretisation (quantile, 8 bins) and
the plug-in MI values are checked for equality before any ratio is printed. The reference is
single-threaded; the unit table spreads its units over one thread per core (the count is
printed), the MI-kernel row runs in one thread.

Issue 12 adds the restricted (design-respecting) null, the default since then, beside the free
one: both are timed in the same run, with their ratio and the 20 s target of the default table.

Run: ``.venv/bin/python benchmarks/bench_analysis.py`` (``--quick`` for a 320-unit smoke run).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from sklearn.metrics import mutual_info_score

from factorprobe.analysis import _kernels, quantize, unit_table
from factorprobe.analysis._table_stages import n_threads
from factorprobe.analysis.design import factor_codes
from factorprobe.analysis.planted import planted_units

FACTORS = ["size", "x", "y", "position"]


def best_of(repeats: int, fn):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def reference_mi(bins: np.ndarray, codes: dict[str, np.ndarray]) -> np.ndarray:
    """The per-pair loop of earlier toolkits: one mutual_info_score call per unit and factor."""
    out = np.empty((bins.shape[0], len(codes)))
    for u in range(bins.shape[0]):
        for k, labels in enumerate(codes.values()):
            out[u, k] = mutual_info_score(bins[u], labels) / np.log(2)
    return out


def kernel_mi(bins: np.ndarray, codes: dict[str, np.ndarray]) -> np.ndarray:
    """Plug-in MI of all units × factors from the same bins, with the package's kernels.

    One bincount for size and one for position; the x and y tables are sums of the position
    table (position codes are x-major, as factor_codes makes them). One thread.
    """
    n_x, n_y = codes["x"].max() + 1, codes["y"].max() + 1
    size = _kernels.joint_counts(bins, 8, codes["size"], codes["size"].max() + 1)
    position = _kernels.joint_counts(bins, 8, codes["position"], n_x * n_y)
    grid = position.reshape(*position.shape[:-1], n_x, n_y)
    tables = [size, grid.sum(axis=-1), grid.sum(axis=-2), position]
    return np.stack([_kernels.plugin_mi(t) for t in tables], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="320 units instead of 1280")
    parser.add_argument("--units", type=int, default=None)
    parser.add_argument(
        "--no-worst-case", action="store_true", help="skip the rectified-units worst case"
    )
    args = parser.parse_args()
    n_units = args.units or (320 if args.quick else 1280)

    acts = planted_units(n_units=72, noise=(0.25, 0.5, 1.0), n_sizes=10, n_x=15, n_y=15, seed=0)
    acts = acts.isel(unit=slice(0, n_units))
    print(
        f"data: {acts.sizes['stimulus']} stimuli x {acts.sizes['unit']} units; factors "
        f"{FACTORS}; cpus={os.cpu_count()}, unit-table threads={n_threads()}, "
        f"load average before={os.getloadavg()}"
    )

    bins = quantize(acts, n_bins=8).values
    codes = {f: factor_codes(acts, f).codes for f in FACTORS}
    t_ref, ref = best_of(1, lambda: reference_mi(bins, codes))
    print(
        f"reference: sklearn mutual_info_score loop ({bins.shape[0] * len(FACTORS)} pairs): "
        f"{t_ref:.3f} s\n"
    )
    print(f"{'configuration':58s} {'time':>9s} {'vs ref':>8s}  MI identical to reference")

    def row(label: str, t: float, mi: np.ndarray | None) -> None:
        if mi is None:
            check = "n/a (copula: no plug-in reference)"
        else:
            diff = float(np.abs(mi - ref).max())
            check = f"{'yes' if diff < 1e-10 else 'NO'} (max |diff| {diff:.1e})"
        print(f"{label:58s} {t * 1e3:7.1f}ms {t_ref / t:7.1f}x  {check}")

    t, mi = best_of(5, lambda: kernel_mi(bins, codes))
    row("MI kernel alone, from the same bins", t, mi)
    cases = [
        (
            "HEADLINE unit table: plug-in, Miller-Madow, G-test p, BH q",
            {"estimator": "plugin", "correction": "analytic", "significance": "gtest"},
            7,
        ),
        (
            "unit table: plug-in, no correction, no p",
            {"estimator": "plugin", "correction": "none", "significance": "none"},
            5,
        ),
        (
            "unit table: copula, analytic + LR test",
            {"estimator": "copula", "correction": "analytic", "significance": "gtest"},
            5,
        ),
        (
            "unit table: plug-in, shuffle + 1000-shuffle p, free null",
            {"estimator": "plugin", "null": "free"},
            3,
        ),
        ("unit table: plug-in, shuffle + 1000-shuffle p, restricted", {"estimator": "plugin"}, 3),
        ("unit table: copula, shuffle + 1000-shuffle p, free null", {"null": "free"}, 3),
        ("unit table: defaults (copula, restricted null, 1000 perm.)", {}, 3),
    ]
    for label, options, repeats in cases:
        t, table = best_of(
            repeats, lambda o=options: unit_table(acts, factors=FACTORS, n_bins=8, **o)
        )
        plugin = options.get("estimator") == "plugin"
        row(label, t, table["mi_raw"].values if plugin else None)

    # issue 12: the restricted null needs each unit's own null mean for the correction (its
    # first 100 shuffles) and within-stratum ranks for the p-values; target <= 20 s
    print("\nrestricted (default) vs free null, default factors ['size', 'position']:")
    times = {}
    for null in ("free", "restricted"):
        times[null], _ = best_of(3, lambda n=null: unit_table(acts, null=n))
        print(f"  {'unit table, ' + null + ' null':56s} {times[null]:7.2f} s")
    ratio = times["restricted"] / times["free"]
    target = "met" if times["restricted"] <= 20 else "NOT met"
    print(f"  restricted / free: {ratio:.1f}x; target <= 20 s: {target}")

    if args.no_worst_case:
        print(f"load average after={os.getloadavg()}")
        return
    # worst case for the shared plug-in null: rectified units, so that nearly every unit has its
    # own bin-count profile (ties at the floor) and needs its own null; on a quarter of the units
    relu = acts.isel(unit=slice(0, n_units // 4))
    relu = relu.clip(min=0.5 * float(relu.mean()))
    counts = np.stack([np.bincount(b, minlength=8) for b in quantize(relu, n_bins=8).values])
    n_profiles = len(np.unique(counts, axis=0))
    label = f"rectified {relu.sizes['unit']} units ({n_profiles} bin-count profiles)"
    print(f"\nworst case for shared nulls: {label}")
    t, _ = best_of(1, lambda: unit_table(relu, factors=FACTORS, estimator="plugin"))
    print(f"{'  unit table: plug-in, 1000 shuffles':58s} {t * 1e3:7.1f}ms")
    t, _ = best_of(1, lambda: unit_table(relu, factors=FACTORS))
    print(f"{'  unit table: defaults (copula: one null for all units)':58s} {t * 1e3:7.1f}ms")
    print(f"load average after={os.getloadavg()}")


if __name__ == "__main__":
    main()
