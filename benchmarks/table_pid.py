"""Cost of the unit table's PID columns (``unit_table(pid=...)``) on the embedded network: the
numbers quoted in docs/roles.md.

The embedded network's fc1-fc3 (384 units) on a 6 x 6 x 6 disc grid (216 stimuli), default
table options (1000 permutations, so 100 shuffles per PID null); median of 3 runs each, in
memory and on a dask array of 64-unit chunks; and a check that the columns equal
partial_information's.

Run: .venv/bin/python benchmarks/table_pid.py
"""

from __future__ import annotations

import time

import numpy as np

import factorprobe as fp
from factorprobe.analysis import partial_information, unit_table

PID = ("size", "position")


def _median_seconds(function, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def main() -> None:
    levels = np.linspace(0, 1, 6)
    space = fp.stimuli.grid(size=list(16 + 32 * levels), x=list(60 + 104 * levels),
                            y=list(60 + 104 * levels), shape="disc")  # fmt: skip
    model = fp.probing.load_model("embedded")
    acts = fp.probing.capture(model, fp.stimuli.render(space), layers=["fc1", "fc2", "fc3"])
    acts = acts.load()
    lazy = acts.chunk(unit=64)
    print(f"{acts.sizes['stimulus']} stimuli, {acts.sizes['unit']} units")
    for label, data in (("in memory", acts), ("dask, 64-unit chunks", lazy)):
        off = _median_seconds(lambda data=data: unit_table(data).load())
        on = _median_seconds(lambda data=data: unit_table(data, pid=PID).load())
        print(f"{label}: unit_table {off:.2f} s, with pid {on:.2f} s (+{on - off:.2f} s)")
    table = unit_table(acts, pid=PID)
    pid = partial_information(acts, PID, n_permutations=100)
    same = all(
        np.array_equal(table[name].values, pid[name].values)
        for name in ("pid_redundancy", "pid_synergy")
    ) and np.array_equal(table["pid_unique"].sel(factor=list(PID)).values, pid["pid_unique"].values)
    print(f"columns equal partial_information(n_permutations=100): {same}")
    print("mean per layer (bits):")
    frame = fp.io.tables.unit_dataframe(table)
    columns = ["pid_redundancy", "pid_unique_size", "pid_unique_position", "pid_synergy"]
    print(frame.groupby("layer")[columns].mean().round(3).to_string())


if __name__ == "__main__":
    main()
