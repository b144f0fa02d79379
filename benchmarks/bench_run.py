"""Benchmark: the default ``factorprobe run`` of this checkout against another checkout's.

Issues 12 and 14 require the default run (the embedded model on the 294-disc grid) to be no
slower than before. Both sides run here, in turns (A B A B ...), each as a fresh process into a
fresh folder, with the same interpreter and packages; each side imports its own source through
``PYTHONPATH``. Printed: each side's wall seconds of the whole command (median, min, max) and
the paired ratios, then per stage and analysis step that the runs' ``manifest.json`` records
(``capture``, ``analyze``, ``report``, ``total``; ``unit_table``, ``random_directions``, ...)
each side's median (min–max) wall seconds and the ratio of the medians.

Run: ``.venv/bin/python benchmarks/bench_run.py --before /path/to/old/checkout [-n 5]``
(make the old checkout with ``git worktree add /tmp/before <commit>``).
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

import numpy as np

ENTRY = "import sys; from factorprobe.cli import main; sys.exit(main())"


def one_run(src: Path, out: Path) -> tuple[float, dict[str, float]]:
    env = {**os.environ, "PYTHONPATH": str(src), "MPLBACKEND": "Agg"}
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", ENTRY, "run", "--out", str(out)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - start
    manifest = json.loads((out / "manifest.json").read_text())
    stages = {}
    for group in ("stages", "analyze_steps"):
        for key, value in manifest.get(group, {}).items():
            if isinstance(value, dict) and "wall_s" in value:
                stages[key] = value["wall_s"]
    return wall, stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the other checkout")
    parser.add_argument("-n", type=int, default=5, help="runs of each side")
    args = parser.parse_args()
    sides = {"this": Path(__file__).resolve().parents[1] / "src", "before": args.before / "src"}
    print(f"cpus={os.cpu_count()}, load average before={os.getloadavg()}")
    walls: dict[str, list[float]] = {k: [] for k in sides}
    stages: dict[str, list[dict[str, float]]] = {k: [] for k in sides}
    with tempfile.TemporaryDirectory() as tmp:
        for name, src in sides.items():  # warm-up: caches, compiled bytecode
            one_run(src, Path(tmp) / name)
        for i in range(args.n):
            order = list(sides) if i % 2 == 0 else list(sides)[::-1]
            for name in order:
                wall, timing = one_run(sides[name], Path(tmp) / name)
                walls[name].append(wall)
                stages[name].append(timing)
    for name in sides:
        w = np.asarray(walls[name])
        print(f"{name:7s} wall: median {np.median(w):.2f} s (min {w.min():.2f}, max {w.max():.2f})")
    ratio = np.asarray(walls["this"]) / np.asarray(walls["before"])
    print(
        f"this / before, paired: median {np.median(ratio):.3f} "
        f"(min {ratio.min():.3f}, max {ratio.max():.3f})"
    )
    keys = sorted(set().union(*(s.keys() for runs in stages.values() for s in runs)))
    print(f"\n{'stage, wall s':24s}{'this: median (min-max)':>26s}{'before':>26s}{'ratio':>8s}")
    for key in keys:
        cells, medians = [], []
        for name in sides:
            v = np.asarray([s.get(key, np.nan) for s in stages[name]], dtype=float)
            if np.isnan(v).all():
                cells.append("-")
                medians.append(np.nan)
                continue
            medians.append(float(np.median(v)))
            cells.append(f"{np.median(v):.2f} ({v.min():.2f}-{v.max():.2f})")
        ratio = medians[0] / medians[1] if medians[1] else np.nan
        print(f"{key:24s}{cells[0]:>26s}{cells[1]:>26s}{ratio:8.3f}")
    print(f"load average after={os.getloadavg()}")


if __name__ == "__main__":
    main()
