"""The unit table in both regimes: deterministic units on a crossed grid, and noisy samples.

Prints, for the default `unit_table` of the code on the path (run it against an older checkout
with ``PYTHONPATH=<checkout>/src`` for a before/after comparison; it builds its own planted
units so that it runs on any version):

1. deterministic planted units on the default run's grid (6 sizes x 7 x 7 positions, one
   stimulus per cell): corrected MI of the factor a unit does not code, how often the coded
   and the uncoded factor are called significant (q < 0.05), and the median selectivity index
   for pure, additive, conjunctive and mixed units (position explaining 1-30 % of the variance);
2. noisy samples (3 repeats per cell, noise sd 1 of the tuning range): the same, plus the false
   positive rate of pure-noise units;
3. the embedded model on the default run's grid (discs, 294 stimuli): per layer, the fraction
   of units with significant size and position information, the fraction whose selectivity index
   is exactly 1, and the cross-validated accuracy of a linear decoder of x and y (chance 1/7).

Run: ``.venv/bin/python benchmarks/bench_regimes.py``
"""

from __future__ import annotations

import time

import numpy as np
import xarray as xr
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import factorprobe as fp
from factorprobe.analysis import unit_table

SIZES = [16.0, 24.0, 32.0, 40.0, 48.0, 56.0]
XS = [40.0, 64.0, 88.0, 112.0, 136.0, 160.0, 184.0]
MIXES = (0.01, 0.03, 0.1, 0.3)


def planted(noise: float, repeats: int, n: int = 40, seed: int = 0) -> xr.DataArray:
    """Units over the size x x x y grid: pure size, pure position, additive, conjunctive,
    mixed (position's share of the variance w), and (with noise) pure noise."""
    rng = np.random.default_rng(seed)
    s, x, y = (np.linspace(0, 1, k) for k in (len(SIZES), len(XS), len(XS)))
    grid = np.stack(np.meshgrid(s, x, y, indexing="ij"), -1).reshape(-1, 3)
    t = np.repeat(grid, repeats, axis=0)

    def size_curve() -> np.ndarray:
        c, w = rng.uniform(0, 1, n), rng.uniform(0.1, 0.3, n)
        bump = np.exp(-((t[:, :1] - c) ** 2) / (2 * w**2))
        sigmoid = 1 / (1 + np.exp(-(t[:, :1] - c) / (0.5 * w)))
        return np.where(rng.random(n) < 0.5, sigmoid, bump)

    def position_curve() -> np.ndarray:
        c, w = rng.uniform(0, 1, (2, n)), rng.uniform(0.15, 0.3, n)
        d2 = (t[:, 1:2] - c[0]) ** 2 + (t[:, 2:3] - c[1]) ** 2
        return np.exp(-d2 / (2 * w**2))

    def z(a: np.ndarray) -> np.ndarray:
        return (a - a.mean(0)) / a.std(0)

    parts = {
        "size": size_curve(),
        "position": position_curve(),
        "additive": 0.5 * (size_curve() + position_curve()),
        "conjunctive": size_curve() * position_curve(),
    }
    for w in MIXES:
        parts[f"mixed {w:g}"] = np.sqrt(1 - w) * z(size_curve()) + np.sqrt(w) * z(position_curve())
    if noise > 0:
        parts["noise"] = np.zeros((len(t), n))
    kinds = np.repeat(list(parts), n)
    values = np.concatenate(list(parts.values()), axis=1)
    values = values + noise * rng.standard_normal(values.shape) * (noise > 0)
    return xr.DataArray(
        values,
        dims=("stimulus", "unit"),
        coords={
            "size": ("stimulus", np.array(SIZES)[np.round(t[:, 0] * 5).astype(int)]),
            "x": ("stimulus", np.array(XS)[np.round(t[:, 1] * 6).astype(int)]),
            "y": ("stimulus", np.array(XS)[np.round(t[:, 2] * 6).astype(int)]),
            "layer": ("unit", np.full(len(kinds), "planted")),
            "index": ("unit", np.arange(len(kinds))),
            "kind": ("unit", kinds),
        },
    )


def planted_report(acts: xr.DataArray, title: str) -> None:
    start = time.perf_counter()
    table = unit_table(acts)
    took = time.perf_counter() - start
    kind = acts["kind"].values
    q = table["q_value"]
    mi = table["mi"]
    print(
        f"\n{title}: {acts.sizes['stimulus']} stimuli x {acts.sizes['unit']} units ({took:.1f} s)"
    )
    print(
        f"{'kind':<14}{'q<.05 size':>11}{'q<.05 pos':>10}{'SI median':>10}{'SI==1':>7}"
        f"{'uncoded mi: median':>20}{'min':>8}"
    )
    for k in dict.fromkeys(kind):
        sel = kind == k
        uncoded = {"size": "position", "position": "size"}.get(k)
        tail = ""
        if uncoded:
            u = mi.sel(factor=uncoded).values[sel]
            tail = f"{np.median(u):>+20.3f}{u.min():>+8.3f}"
        si = table["selectivity"].values[sel]
        print(
            f"{k:<14}{(q.sel(factor='size').values[sel] < 0.05).mean():>11.2f}"
            f"{(q.sel(factor='position').values[sel] < 0.05).mean():>10.2f}"
            f"{np.nanmedian(si) if np.isfinite(si).any() else np.nan:>10.3f}"
            f"{np.mean(si == 1.0):>7.2f}{tail}"
        )


def embedded_report() -> None:
    space = fp.stimuli.grid(size=SIZES, x=XS, y=XS, shape="disc")
    stim = fp.stimuli.render(space, canvas=224)
    acts = fp.probing.capture(fp.probing.load_model("embedded"), stim)
    start = time.perf_counter()
    table = unit_table(acts)
    took = time.perf_counter() - start
    print(f"\nembedded model, default grid ({acts.sizes['stimulus']} discs; table {took:.1f} s)")
    print(
        f"{'layer':<11}{'units':>6}{'q<.05 size':>11}{'q<.05 pos':>10}{'SI==1':>7}"
        f"{'pos mi<0':>9}{'x acc':>7}{'y acc':>7}"
    )
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    for layer in dict.fromkeys(acts["layer"].values):
        part = table.sel(unit=table["layer"] == layer)
        values = acts.sel(unit=acts["layer"] == layer).values
        acc = []
        for f in ("x", "y"):
            decoder = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
            acc.append(cross_val_score(decoder, values, acts[f].values, cv=folds).mean())
        q = part["q_value"]
        print(
            f"{layer:<11}{part.sizes['unit']:>6}"
            f"{(q.sel(factor='size') < 0.05).mean().item():>11.2f}"
            f"{(q.sel(factor='position') < 0.05).mean().item():>10.2f}"
            f"{(part['selectivity'] == 1.0).mean().item():>7.2f}"
            f"{(part['mi'].sel(factor='position') < 0).mean().item():>9.2f}"
            f"{acc[0]:>7.2f}{acc[1]:>7.2f}"
        )


def main() -> None:
    print(f"factorprobe {fp.__version__} from {fp.__file__}")
    planted_report(planted(0.0, 1), "deterministic planted units, 6 x 7 x 7 grid, one per cell")
    planted_report(planted(1.0, 3), "noisy planted units (noise sd 1), 3 repeats per cell")
    embedded_report()


if __name__ == "__main__":
    main()
