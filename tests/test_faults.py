"""Faults: 'factorprobe run' killed with SIGKILL during capture or analysis, then rerun.

Each kill happens in a subprocess running the real CLI on a small python: model whose forward
pass sleeps (so the capture is slow enough to be caught midway) and logs every batch it computes
(so the rerun can be shown not to recompute finished batches). The kill during the analysis is
made deterministic by a driver that replaces ``tuning_curves`` with a function that signals and
sleeps: test code only, the package has no fault hooks. After each kill the results folder must
not exist (only the hidden work folder), and the rerun must finish with results identical to an
uninterrupted run's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from factorprobe.cli import main
from factorprobe.pipeline._fingerprint import run_inputs
from factorprobe.pipeline._published import mark
from factorprobe.pipeline._resume import finished_chunks, partial_path
from factorprobe.pipeline.config import dumps_config, load_config, with_output
from factorprobe.probing import open_activations

N_BATCHES = 9  # 18 stimuli, batch_size 2
DELAY = 0.12  # seconds per forward pass (in the killed subprocess only)

NET = """
import os
import time

import torch
import torch.nn as nn


class SlowNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 5, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.fc1 = nn.Linear(64, 16)
        self.act1 = nn.SiLU()
        self.fc2 = nn.Linear(16, 8)
        self.act2 = nn.SiLU()
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) * 0.5)

    def forward(self, x):
        log = os.environ.get("SLOWNET_LOG")
        if log:
            with open(log, "a") as f:
                f.write(f"{x.shape[0]}\\n")
            stop = os.environ.get("SLOWNET_STOP_AFTER")
            if stop and open(log).read().split().count("2") > int(stop):
                raise KeyboardInterrupt
        time.sleep(float(os.environ.get("SLOWNET_DELAY", "0")))
        h = self.pool(torch.nn.functional.silu(self.conv(x))).flatten(1)
        return self.act2(self.fc2(self.act1(self.fc1(h))))


def build():
    return SlowNet()
"""

CONFIG = """
[stimuli]
size = [6, 10, 14]
x = [10, 16, 22]
y = [10, 22]

[model]
name = "python:slownet:build"
input_size = 32
mean = [0.5]
std = [0.25]
layers = ["fc1", "fc2"]
batch_size = 2

[analysis]
n_bins = 4
n_permutations = 50
tuning = ["size"]
n_boot = 20
decode = ["size"]
n_splits = 3

[output]
plots = false
"""

DRIVER = """
import os, pathlib, sys, time

marker = os.environ.get("PAUSE_IN_TUNING")
if marker:
    import factorprobe.analysis as analysis

    def paused(*args, **kwargs):
        pathlib.Path(marker).touch()
        time.sleep(600)

    analysis.tuning_curves = paused

from factorprobe.cli import main
from factorprobe.pipeline.config import dumps_config, load_config, with_output

sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The configuration, the driver, and an uninterrupted reference run (in this process)."""
    folder = tmp_path_factory.mktemp("faults")
    (folder / "slownet.py").write_text(NET)
    (folder / "run.toml").write_text(CONFIG)
    (folder / "driver.py").write_text(DRIVER)
    reference = folder / "reference"
    assert main(["run", str(folder / "run.toml"), "--out", str(reference), "--quiet"]) == 0
    return folder, reference


def _start(folder: Path, out: Path, log: Path, **env: str) -> subprocess.Popen:
    environ = {**os.environ, "SLOWNET_LOG": str(log), "SLOWNET_DELAY": str(DELAY), **env}
    environ["HF_HUB_OFFLINE"] = "1"
    argv = [sys.executable, str(folder / "driver.py"), "run", str(folder / "run.toml")]
    return subprocess.Popen(
        [*argv, "--out", str(out), "--quiet"],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"the run ended (status {proc.returncode}) before the kill: {proc.stderr}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the run never reached the point to kill it at")
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


def _rerun(folder: Path, out: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same command again (in this process: only the kill needs a subprocess)."""
    monkeypatch.setenv("SLOWNET_LOG", str(log))
    assert main(["run", str(folder / "run.toml"), "--out", str(out), "--quiet"]) == 0


def _batches(log: Path) -> int:
    """Forward passes over a batch of stimuli (not load_model's one-image probe of the shapes)."""
    return log.read_text().split().count("2") if log.exists() else 0


def _assert_complete_and_identical(result: Path, reference: Path) -> None:
    """Same files; tables byte-identical; activations and tuning curves equal."""
    files = sorted(str(p.relative_to(result)) for p in result.rglob("*") if p.is_file())
    expected = sorted(str(p.relative_to(reference)) for p in reference.rglob("*") if p.is_file())
    assert files == expected
    assert not [f for f in files if any(part.startswith(".") for part in Path(f).parts)]
    for name in ("units.csv", "layers.csv", "data_dictionary.csv"):
        assert (result / name).read_bytes() == (reference / name).read_bytes(), name
    # the resolved configurations differ only in the output folder
    ours, theirs = ((f / "config.toml").read_text().splitlines() for f in (result, reference))
    assert [(a, b) for a, b in zip(ours, theirs, strict=True) if a != b] == [
        (f'folder = "{result}"', f'folder = "{reference}"')
    ]
    pd.testing.assert_frame_equal(
        pd.read_parquet(result / "units.parquet"), pd.read_parquet(reference / "units.parquet")
    )
    got, want = (
        open_activations(result / "activations.zarr"),
        open_activations(reference / "activations.zarr"),
    )
    np.testing.assert_array_equal(got.values, want.values)
    xr.testing.assert_identical(got.compute(), want.compute())
    for name in ("units.nc", "layers.nc", "tuning/size.nc"):
        with xr.open_dataset(result / name) as a, xr.open_dataset(reference / name) as b:
            xr.testing.assert_identical(a.load(), b.load())
    manifest = json.loads((result / "manifest.json").read_text())
    assert "finished" in manifest and manifest["files"].keys() == {
        p.name for p in result.iterdir() if p.name != "manifest.json"
    }


def test_kill_during_capture_then_rerun_resumes_and_matches(setup, tmp_path, monkeypatch):
    folder, reference = setup
    out = tmp_path / "results"
    store = partial_path(out) / "activations.zarr"
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    proc = _start(folder, out, first)
    _kill_when(proc, lambda: finished_chunks(store)[0] >= 3)
    done, total = finished_chunks(store)
    assert 3 <= done < total == N_BATCHES
    assert not out.exists()  # the results folder appears only when complete
    # the lock file stays after kill -9, unlocked (the kernel releases a dead process's lock)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".results.lock",
        ".results.partial",
        "first.log",
    ]

    _rerun(folder, out, second, monkeypatch)
    # finished batches were not recomputed: the rerun computed exactly the missing ones
    assert _batches(second) == N_BATCHES - done
    assert json.loads((out / "manifest.json").read_text())["capture"] == {
        "batches": N_BATCHES,
        "batches_reused": done,
    }
    assert not partial_path(out).exists()
    _assert_complete_and_identical(out, reference)


def test_kill_during_analysis_then_rerun_redoes_it_and_matches(setup, tmp_path, monkeypatch):
    folder, reference = setup
    out = tmp_path / "results"
    marker = tmp_path / "in-tuning"
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    proc = _start(folder, out, first, PAUSE_IN_TUNING=str(marker), SLOWNET_DELAY="0")
    _kill_when(proc, marker.exists)
    assert _batches(first) == N_BATCHES
    work = partial_path(out)
    assert finished_chunks(work / "activations.zarr") == (N_BATCHES, N_BATCHES)
    assert (work / "units.csv").is_file()  # the analysis had begun writing
    assert not out.exists()

    _rerun(folder, out, second, monkeypatch)
    assert _batches(second) == 0  # the capture was complete: no forward pass
    _assert_complete_and_identical(out, reference)


def test_kill_when_the_work_folder_has_debris_of_killed_writers(setup, tmp_path):
    """Temporary files of writers killed mid-write never reach the results folder."""
    folder, reference = setup
    out = tmp_path / "results"
    work = partial_path(out)
    work.mkdir()
    (config,) = load_config(folder / "run.toml")
    (work / "config.toml").write_text(dumps_config(with_output(config, folder=str(out))))
    mark(work, run_inputs(config))  # the marker a run writes into the work folder it makes
    (work / ".units.csv.tmp-123-0123abcd").write_text("half a tab")
    (work / ".activations.zarr.tmp-123-89abcdef").mkdir()
    assert main(["run", str(folder / "run.toml"), "--out", str(out), "--quiet"]) == 0
    _assert_complete_and_identical(out, reference)


def _interrupt(folder: Path, config: Path, out: Path, log: Path, monkeypatch) -> int:
    """Run until the model raises KeyboardInterrupt (Ctrl-C) before its 5th batch."""
    monkeypatch.setenv("SLOWNET_LOG", str(log))
    monkeypatch.setenv("SLOWNET_STOP_AFTER", "4")
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 130
    monkeypatch.delenv("SLOWNET_STOP_AFTER")
    assert not out.exists()
    return 4


def test_interrupted_netcdf_run_keeps_its_capture_and_resumes(setup, tmp_path, monkeypatch):
    folder, reference = setup
    (tmp_path / "slownet.py").write_text(NET)  # python: models come from the config's folder
    config = tmp_path / "nc.toml"
    config.write_text(CONFIG.replace("[output]\n", '[output]\nactivations = "netcdf"\n'))
    out = tmp_path / "results"
    done = _interrupt(folder, config, out, tmp_path / "first.log", monkeypatch)
    assert finished_chunks(partial_path(out) / ".activations-capture.zarr") == (done, N_BATCHES)
    _rerun_config(config, out, tmp_path / "second.log", monkeypatch)
    assert _batches(tmp_path / "second.log") == N_BATCHES - done
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []
    with xr.open_dataarray(out / "activations.nc") as got:
        want = open_activations(reference / "activations.zarr").compute()
        np.testing.assert_array_equal(got.values, want.values)
        assert list(got.layer.values) == list(want.layer.values)
    assert (out / "units.csv").read_bytes() == (reference / "units.csv").read_bytes()


def test_rerun_with_another_analysis_keeps_the_interrupted_capture(setup, tmp_path, monkeypatch):
    folder, _ = setup
    out = tmp_path / "results"
    done = _interrupt(folder, folder / "run.toml", out, tmp_path / "first.log", monkeypatch)
    (tmp_path / "slownet.py").write_text(NET)  # python: models come from the config's folder
    config = tmp_path / "other.toml"
    config.write_text(CONFIG.replace("n_permutations = 50", "n_permutations = 40"))
    _rerun_config(config, out, tmp_path / "second.log", monkeypatch)
    assert _batches(tmp_path / "second.log") == N_BATCHES - done
    assert "n_permutations = 40" in (out / "config.toml").read_text()


def test_rerun_with_another_model_discards_the_interrupted_capture(setup, tmp_path, monkeypatch):
    folder, _ = setup
    out = tmp_path / "results"
    _interrupt(folder, folder / "run.toml", out, tmp_path / "first.log", monkeypatch)
    (tmp_path / "slownet.py").write_text(NET)  # python: models come from the config's folder
    config = tmp_path / "other.toml"
    config.write_text(CONFIG.replace("std = [0.25]", "std = [0.3]"))
    _rerun_config(config, out, tmp_path / "second.log", monkeypatch)
    assert _batches(tmp_path / "second.log") == N_BATCHES


def test_input_error_removes_the_work_folder_even_after_capture(setup, tmp_path, capsys):
    _ = setup  # the reference run imported slownet; this config sits beside its own copy
    (tmp_path / "slownet.py").write_text(NET)
    config = tmp_path / "bins.toml"  # 18 stimuli cannot fill 16 bins: fails after the capture
    config.write_text(CONFIG.replace("n_bins = 4", "n_bins = 16"))
    out = tmp_path / "results"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 2
    assert "'n_bins'" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bins.toml", "slownet.py"]


def _rerun_config(config: Path, out: Path, log: Path, monkeypatch) -> None:
    monkeypatch.setenv("SLOWNET_LOG", str(log))
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 0
