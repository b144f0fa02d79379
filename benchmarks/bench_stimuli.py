"""Stimuli per second for a 224 px grayscale disc grid, on one core (target: 2000/s).

Run: ``python benchmarks/bench_stimuli.py``. Rendering goes through ``iter_batches`` (as the
probing stage consumes it) and includes building each batch's Dataset. Also reports a random
design of the four shapes with rotation and contrast, for comparison.
"""

from __future__ import annotations

import os

# Pin to one thread before NumPy loads its BLAS, and to one core where the OS allows it.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import time  # noqa: E402

import factorprobe as fp  # noqa: E402

TARGET = 2000.0


def _rate(space: fp.stimuli.FactorSpace, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for batch in fp.stimuli.iter_batches(space, batch_size=256, canvas=224):
            batch["image"].values  # noqa: B018 (force the batch)
        best = min(best, time.perf_counter() - start)
    return len(space) / best


def main() -> None:
    sizes = [8, 16, 24, 32, 40, 48, 56, 64]
    positions = list(range(40, 185, 9))
    discs = fp.stimuli.grid(size=sizes, x=positions, y=positions, shape="disc")
    shapes = fp.stimuli.random_design(
        2048, size=(16, 64), x=(40, 184), y=(40, 184), seed=0,
        shape=["disc", "square", "triangle", "cross"], rotation=(0, 360), contrast=(0.2, 1.0),
    )  # fmt: skip
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"CPU load (1 min) at start: {load:.2f} on {os.cpu_count()} cores; 1 thread, 1 core")
    rate = _rate(discs)
    print(
        f"disc grid, 224 px grayscale, {len(discs)} stimuli: {rate:,.0f} stimuli/s "
        f"({rate / TARGET:.1f}x the {TARGET:,.0f}/s target)"
    )
    rate = _rate(shapes)
    print(
        f"random design, 4 shapes + rotation + contrast, {len(shapes)} stimuli: "
        f"{rate:,.0f} stimuli/s ({rate / TARGET:.1f}x the target)"
    )


if __name__ == "__main__":
    main()
