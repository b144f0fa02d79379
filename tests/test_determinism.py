"""Determinism: the same configuration and seed give byte-identical stimuli, activations, tables.

Run to run means both within one process and across fresh interpreters (a subprocess computes the
same fingerprints). Thread counts are the one documented exception: the slow test at the end
measures how much the activations and MI values move between 1 and 2 threads
(docs/reliability.md quotes its output).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from factorprobe.analysis import unit_table
from factorprobe.io.tables import unit_dataframe
from factorprobe.probing import capture, load_model
from factorprobe.stimuli import grid, random_design, render

ROOT = Path(__file__).resolve().parents[1]
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _digest(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return digest.hexdigest()


def _labelled_bytes(obj: xr.DataArray | xr.Dataset) -> list[bytes]:
    """Every variable's and coordinate's name, dims, dtype and bytes, and the attrs."""
    ds = obj.to_dataset(name=obj.name or "values") if isinstance(obj, xr.DataArray) else obj
    parts = []
    for name in sorted(map(str, ds.variables)):
        var = ds[name]
        values = np.ascontiguousarray(var.values)
        parts.append(f"{name}|{var.dims}|{values.dtype}".encode())
        parts.append(values.tobytes() if values.dtype.kind != "O" else repr(values).encode())
    parts.append(json.dumps({**ds.attrs, **obj.attrs}, sort_keys=True, default=str).encode())
    return parts


def fingerprints() -> dict[str, str]:
    """SHA-256 of a small sweep's stimuli, activations, unit table (CSV bytes) and a design."""
    stim = render(grid(size=[16, 32], x=[80, 140], y=[90, 130], shape=["disc", "square"]))
    acts = capture(load_model("embedded"), stim, batch_size=8, progress=False)
    table = unit_table(acts, ["size", "position"], n_bins=4, n_permutations=50, seed=0)
    csv = unit_dataframe(table).to_csv(index=False).encode()
    design = random_design(64, size=(16, 64), x=(40, 184), y=(40, 184), seed=7)
    return {
        "stimuli": _digest(*_labelled_bytes(stim)),
        "activations": _digest(*_labelled_bytes(acts)),
        "units_csv": _digest(csv),
        "unit_table": _digest(*_labelled_bytes(table)),
        "random_design": _digest(*(np.asarray(design[f]).tobytes() for f in design)),
    }


@pytest.fixture(scope="module")
def here() -> dict[str, str]:
    return fingerprints()


def test_same_seed_gives_identical_results_within_a_process(here):
    assert fingerprints() == here


def test_same_seed_gives_identical_results_in_a_fresh_interpreter(here):
    code = "import json; from tests.test_determinism import fingerprints; "
    code += "print(json.dumps(fingerprints()))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == here


def test_random_designs_repeat_with_the_seed_and_differ_across_seeds():
    def design(seed):
        space = random_design(200, size=(16, 64), x=(40, 184), y=(40, 184), seed=seed)
        return np.stack([np.asarray(space[f], dtype=float) for f in ("size", "x", "y")])

    np.testing.assert_array_equal(design(3), design(3))
    assert not np.allclose(design(3), design(4))
    # a Generator is consumed: two calls with one generator give two different designs
    rng = np.random.default_rng(3)
    first = random_design(200, size=(16, 64), x=(40, 184), y=(40, 184), seed=rng)
    second = random_design(200, size=(16, 64), x=(40, 184), y=(40, 184), seed=rng)
    np.testing.assert_array_equal(np.asarray(first["size"]), design(3)[0])
    assert not np.array_equal(np.asarray(first["size"]), np.asarray(second["size"]))


def test_unit_table_seed_changes_only_the_permutation_results(here):
    """The seed drives the permutation null: p-values move with it, raw MI does not."""
    stim = render(grid(size=[16, 32], x=[80, 140], y=[90, 130], shape=["disc", "square"]))
    acts = capture(load_model("embedded"), stim, layers=["fc1"], progress=False)
    a, b = (unit_table(acts, ["size"], n_bins=4, n_permutations=50, seed=s) for s in (0, 1))
    np.testing.assert_array_equal(a["mi_raw"].values, b["mi_raw"].values)
    assert not np.array_equal(a["p_value"].values, b["p_value"].values)


# --------------------------------------------------------------------------- thread counts

MEASURE = """
import sys
import numpy as np
import torch
torch.set_num_threads(int(sys.argv[1]))
from factorprobe.analysis import unit_table
from factorprobe.probing import capture, load_model
from factorprobe.stimuli import grid, render

space = grid(size=[16, 24, 32, 40, 48, 56], x=[40, 64, 88, 112, 136, 160, 184],
             y=[40, 64, 88, 112, 136, 160, 184])
acts = capture(load_model("embedded"), render(space), batch_size=64, progress=False)
table = unit_table(acts, ["size", "position"], seed=0)
np.savez(sys.argv[2], acts=acts.values, mi=table["mi"].values, mi_raw=table["mi_raw"].values,
         p=table["p_value"].values, threads=torch.get_num_threads())
"""


def _measure(threads: int, path: Path) -> dict[str, np.ndarray]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **dict.fromkeys(THREAD_VARIABLES, str(threads))}
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(threads), str(path)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    with np.load(path) as saved:
        return dict(saved)


@pytest.mark.slow  # two fresh interpreters on the default 294-stimulus grid: ~1 min loaded
def test_thread_count_changes_results_only_at_rounding_level(tmp_path):
    one, two = _measure(1, tmp_path / "one.npz"), _measure(2, tmp_path / "two.npz")
    assert (int(one["threads"]), int(two["threads"])) == (1, 2)
    report = {}
    for key in ("acts", "mi_raw", "mi", "p"):
        diff = np.abs(one[key] - two[key])
        scale = np.maximum(np.abs(one[key]), np.abs(two[key]))
        with np.errstate(invalid="ignore", divide="ignore"):
            relative = np.where(scale > 0, diff / scale, 0.0)
        report[key] = (float(np.nanmax(diff)), float(np.nanmax(relative)), int((diff > 0).sum()))
    print("\nthreads 1 vs 2: max abs diff, max rel diff, differing values")
    for key, (absolute, relative, count) in report.items():
        print(f"  {key:7s} {absolute:.3g} {relative:.3g} {count} of {one[key].size}")
    assert report["acts"][1] < 1e-4  # float32 activations: rounding, not a different result
    assert report["mi_raw"][0] < 1e-6 and report["mi"][0] < 1e-6  # bits
