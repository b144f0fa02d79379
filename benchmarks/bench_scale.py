"""Benchmark: the unit table over a zarr store too large to hold in memory (issue 8).

Synthesises a store of 200k stimuli x 2k units (float32, ~1.6 GB, written batch by batch with
the package's own store layout, never held in memory), then computes the unit table over its
first 50k, 100k and 200k stimuli with xarray + dask (chunks along ``unit``, dask's threaded
scheduler), each case in a fresh subprocess so that its peak resident memory (VmHWM from
/proc/self/status) is its own. Prints peak memory, wall time and time per million
unit x stimulus values; deletes the store afterwards.

Run: ``nice .venv/bin/python benchmarks/bench_scale.py`` (``--units``, ``--stimuli``,
``--config`` to change the case; ``--keep`` keeps the store).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr

BATCH = 4096
CONFIGS = {
    "analytic": {"estimator": "plugin", "correction": "analytic", "significance": "gtest"},
    "defaults": {},
}


def synthesise(path: Path, n_stimuli: int, n_units: int, seed: int = 0) -> None:
    """A store of planted-like units over a random size x position design, batch by batch."""
    from factorprobe.io.store import open_store

    rng = np.random.default_rng(seed)
    size = rng.integers(0, 10, n_stimuli) * 4 + 12
    x = rng.integers(0, 15, n_stimuli) * 10 + 40
    y = rng.integers(0, 15, n_stimuli) * 10 + 40
    layers = np.repeat(["fc1", "fc2"], [n_units // 2, n_units - n_units // 2])
    index = np.concatenate([np.arange(n_units // 2), np.arange(n_units - n_units // 2)])
    template = xr.DataArray(
        da.zeros((n_stimuli, n_units), chunks=(BATCH, -1), dtype=np.float32),
        dims=("stimulus", "unit"),
        coords={
            "stimulus": np.arange(n_stimuli),
            "size": ("stimulus", size),
            "x": ("stimulus", x),
            "y": ("stimulus", y),
            "layer": ("unit", layers),
            "index": ("unit", index),
        },
        name="activations",
    )
    store = open_store(path, template, chunk=BATCH, config_hash="bench-scale", overwrite=True)
    # each unit: a Gaussian bump over size or over position, plus noise
    centre = rng.uniform(0, 1, (3, n_units))
    coding = rng.integers(0, 2, n_units)
    for k in range(store.n_chunks):
        sl = slice(k * BATCH, min((k + 1) * BATCH, n_stimuli))
        s = (size[sl, None] - 12) / 36.0
        px, py = (x[sl, None] - 40) / 140.0, (y[sl, None] - 40) / 140.0
        bump_size = np.exp(-((s - centre[0]) ** 2) / 0.05)
        bump_pos = np.exp(-((px - centre[1]) ** 2 + (py - centre[2]) ** 2) / 0.05)
        tuned = np.where(coding == 0, bump_size, bump_pos)
        noise = rng.normal(0.0, 0.5, tuned.shape)
        store.write(k, (tuned + noise).astype(np.float32))


def run_case(path: str, n_stimuli: int, config: str) -> dict:
    """One case, in this (fresh) process: the table over the first ``n_stimuli`` stimuli."""
    import dask

    from factorprobe.analysis.table import unit_table
    from factorprobe.probing import open_activations

    dask.config.set(scheduler="threads", num_workers=2)
    baseline_kb = _status_kb("VmRSS")  # the interpreter, numpy, dask, xarray, torch imported
    acts = open_activations(path).isel(stimulus=slice(0, n_stimuli))
    start = time.perf_counter()
    table = unit_table(acts, factors=["size", "x", "y", "position"], **CONFIGS[config])
    built = time.perf_counter() - start
    table = table.compute()
    wall = time.perf_counter() - start
    peak_kb = _status_kb("VmHWM")
    return {
        "baseline_mb": baseline_kb / 1024,
        "n_stimuli": n_stimuli,
        "n_units": acts.sizes["unit"],
        "unit_chunk": acts.chunks[1][0],
        "graph_s": built,
        "wall_s": wall,
        "peak_mb": peak_kb / 1024,
        "coded": int((table["preferred_factor"] != "none").sum()),
    }


def _status_kb(field: str) -> int:
    status = Path("/proc/self/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith(field))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stimuli", type=int, nargs="+", default=[50_000, 100_000, 200_000])
    parser.add_argument("--units", type=int, default=2000)
    parser.add_argument("--config", choices=sorted(CONFIGS), nargs="+", default=["analytic"])
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--case", nargs=3, help=argparse.SUPPRESS)  # path n config (subprocess)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case[0], int(args.case[1]), args.case[2])))
        return

    root = Path(tempfile.mkdtemp(prefix="factorprobe-bench-scale-"))
    path = root / "acts.zarr"
    try:
        n_max = max(args.stimuli)
        start = time.perf_counter()
        synthesise(path, n_max, args.units)
        size_gb = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e9
        print(
            f"store: {n_max} stimuli x {args.units} units float32 ({size_gb:.2f} GB on disk), "
            f"written in {time.perf_counter() - start:.1f} s; cpus={os.cpu_count()}, "
            f"load average={os.getloadavg()}"
        )
        print(
            f"{'config':9s} {'stimuli':>8s} {'units':>6s} {'chunk':>6s} {'peak RSS':>10s} "
            f"{'(imports)':>10s} {'wall':>8s} {'per 1e6 values':>15s}"
        )
        for config in args.config:
            for n in sorted(args.stimuli):
                out = subprocess.run(
                    [sys.executable, __file__, "--case", str(path), str(n), config],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                r = json.loads(out.stdout.strip().splitlines()[-1])
                per = r["wall_s"] / (r["n_stimuli"] * r["n_units"] / 1e6)
                print(
                    f"{config:9s} {r['n_stimuli']:8d} {r['n_units']:6d} {r['unit_chunk']:6d} "
                    f"{r['peak_mb']:8.0f}MB {r['baseline_mb']:8.0f}MB {r['wall_s']:7.1f}s "
                    f"{per * 1e3:12.2f} ms"
                )
        print(f"load average after={os.getloadavg()}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
