"""'run/analyze --scheduler' and [dask]: the same tables on every scheduler; lazy reading."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import dask
import pytest
import torch
import xarray as xr

from factorprobe import analysis
from factorprobe.cli import main
from factorprobe.pipeline import _resume
from factorprobe.pipeline.config import load_config
from factorprobe.probing import open_activations, to_netcdf

distributed = pytest.importorskip("distributed")

TINYNET = """
import torch.nn as nn


def build(width=8):
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=2), nn.SiLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(4, width), nn.SiLU(), nn.Linear(width, 2),
    )
"""
CONFIG = """
[stimuli]
size = [4, 6, 8]
x = [10, 14, 18, 22]
y = [10, 22]

[model]
name = "python:tinynet_dask:build"
kwargs = {width = 12}
input_size = 32
mean = [0.0]
std = [1.0]
weights = "tiny.pt"
batch_size = 5

[analysis]
n_bins = 4
n_permutations = 30
tuning = ["size"]
n_boot = 10
decode = ["size"]
n_splits = 2

[output]
plots = false
"""
TABLES = ("units.csv", "layers.csv", "data_dictionary.csv")


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def cluster():
    # worker threads in this process: starts in about a second, nothing to pickle
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as local:
        yield local


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """The tiny run on the default scheduler (threads): the reference every other must equal."""
    folder = tmp_path_factory.mktemp("dask")
    _write_model(folder)
    (folder / "tiny.toml").write_text(CONFIG)
    code, _, err = _cli("run", str(folder / "tiny.toml"), "--out", str(folder / "ref"), "--quiet")
    assert code == 0, err
    return folder


def _write_model(folder: Path) -> None:
    """The python: model and fixed weights for it (its own init would draw new ones each run)."""
    (folder / "tinynet_dask.py").write_text(TINYNET)
    shapes = {"0.weight": (4, 1, 3, 3), "0.bias": (4,), "4.weight": (12, 4), "4.bias": (12,)}
    shapes |= {"6.weight": (2, 12), "6.bias": (2,)}
    generator = torch.Generator().manual_seed(0)
    state = {k: torch.randn(v, generator=generator) for k, v in shapes.items()}
    torch.save(state, folder / "tiny.pt")


@contextlib.contextmanager
def _tasks_on(cluster) -> Iterator[list[str]]:
    """The keys of the tasks the cluster's workers ran during the block."""
    keys: list[str] = []
    with distributed.Client(cluster) as client, distributed.get_task_stream(client) as stream:
        yield keys
    keys += [str(task["key"]) for task in stream.data]


def _assert_same_tables(folder: Path, reference: Path) -> None:
    for name in TABLES:
        assert (folder / name).read_bytes() == (reference / name).read_bytes(), name


def test_default_run_records_the_threads_scheduler(baseline):
    (saved,) = load_config(baseline / "ref" / "config.toml")
    assert saved.dask.scheduler == "threads"
    manifest = json.loads((baseline / "ref" / "manifest.json").read_text())
    assert manifest["scheduler"] == "threads"
    assert manifest["capture"] == {"batches": 5, "batches_reused": 0}  # 24 stimuli, 5 a batch


def test_run_with_the_synchronous_scheduler_writes_identical_tables(baseline, tmp_path):
    out = tmp_path / "sync"
    code, _, err = _cli(
        "run", str(baseline / "tiny.toml"), "--out", str(out), "--scheduler", "synchronous"
    )
    assert code == 0, err
    _assert_same_tables(out, baseline / "ref")
    (saved,) = load_config(out / "config.toml")
    assert saved.dask.scheduler == "synchronous"


def test_run_on_a_distributed_cluster_writes_identical_tables(baseline, tmp_path, cluster):
    out = tmp_path / "cluster"
    address = cluster.scheduler_address
    with _tasks_on(cluster) as keys:
        code, _, err = _cli("run", str(baseline / "tiny.toml"), "--out", str(out), "--quiet",
                            "--scheduler", address)  # fmt: skip
    assert code == 0, err
    # the workers captured the 5 batches, checked the values and computed the unit table
    assert sum("capture_chunk" in k for k in keys) == 5
    assert any("sum" in k for k in keys) and any("unit_statistics" in k for k in keys)
    _assert_same_tables(out, baseline / "ref")
    reference = open_activations(baseline / "ref" / "activations.zarr").load()
    captured = open_activations(out / "activations.zarr").load()
    xr.testing.assert_identical(captured, reference)  # the workers' shards: the same store
    assert json.loads((out / "manifest.json").read_text())["scheduler"] == address
    assert load_config(out / "config.toml")[0].dask.scheduler == address


def test_config_key_chooses_the_scheduler_and_the_flag_overrides_it(baseline, tmp_path):
    config = tmp_path / "sync.toml"
    config.write_text(CONFIG + '\n[dask]\nscheduler = "synchronous"\n')
    _write_model(tmp_path)
    code, _, err = _cli("run", str(config), "--out", str(tmp_path / "a"), "--quiet")
    assert code == 0, err
    assert json.loads((tmp_path / "a" / "manifest.json").read_text())["scheduler"] == "synchronous"
    _assert_same_tables(tmp_path / "a", baseline / "ref")
    code, _, err = _cli("analyze", str(tmp_path / "a"), "--config", str(config), "--out",
                        str(tmp_path / "b"), "--scheduler", "threads", "--quiet")  # fmt: skip
    assert code == 0, err
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["scheduler"] == "threads"


@pytest.mark.parametrize("scheduler", ["synchronous", "threads", "cluster"])
def test_analyze_on_any_scheduler_reproduces_the_tables(baseline, tmp_path, cluster, scheduler):
    address = cluster.scheduler_address
    store = baseline / "ref" / "activations.zarr"
    with _tasks_on(cluster) as keys:
        code, _, err = _cli("analyze", str(store), "--out", str(tmp_path), "--scheduler",
                            address if scheduler == "cluster" else scheduler)  # fmt: skip
    assert code == 0, err
    assert any("unit_statistics" in k for k in keys) == (scheduler == "cluster")
    scheduler = address if scheduler == "cluster" else scheduler
    _assert_same_tables(tmp_path, baseline / "ref")
    assert json.loads((tmp_path / "manifest.json").read_text())["scheduler"] == scheduler


def test_analyze_of_a_netcdf_file_on_a_cluster_reproduces_the_tables(baseline, tmp_path, cluster):
    acts = open_activations(baseline / "ref" / "activations.zarr", unit_chunk=None)
    to_netcdf(acts, tmp_path / "activations.nc")
    code, _, err = _cli("analyze", str(tmp_path / "activations.nc"), "--config",
                        str(baseline / "ref" / "config.toml"), "--scheduler",
                        cluster.scheduler_address, "--quiet")  # fmt: skip
    assert code == 0, err
    _assert_same_tables(tmp_path, baseline / "ref")


def test_analysis_reads_the_store_lazily_and_loads_only_for_the_other_stages(
    baseline, tmp_path, monkeypatch
):
    seen: dict[str, object] = {}
    unit_table, tuning_curves = analysis.unit_table, analysis.tuning_curves

    def spy_table(acts, *args, **kwargs):
        # the first call is the units' table; the random directions' (in memory) comes later
        seen.setdefault("table_lazy", dask.is_dask_collection(acts.data))
        seen.setdefault("table_chunks", acts.chunks)
        return unit_table(acts, *args, **kwargs)

    def spy_tuning(acts, *args, **kwargs):
        seen["tuning_lazy"] = dask.is_dask_collection(acts.data)
        return tuning_curves(acts, *args, **kwargs)

    monkeypatch.setattr(analysis, "unit_table", spy_table)
    monkeypatch.setattr(analysis, "tuning_curves", spy_tuning)
    code, _, err = _cli("analyze", str(baseline / "ref"), "--out", str(tmp_path), "--quiet")
    assert code == 0, err
    assert seen["table_lazy"] is True and seen["tuning_lazy"] is False
    stimuli, units = seen["table_chunks"]
    assert stimuli == (24,) and sum(units) == 4 + 12 + 2  # every stimulus in one chunk
    _assert_same_tables(tmp_path, baseline / "ref")


def test_rerun_on_another_scheduler_keeps_the_finished_results(baseline):
    units = baseline / "ref" / "units.csv"
    before = units.stat().st_mtime_ns
    code, _, err = _cli("run", str(baseline / "tiny.toml"), "--out", str(baseline / "ref"),
                        "--scheduler", "synchronous", "--quiet")  # fmt: skip
    assert code == 0, err  # not "holds other results": the scheduler does not change them
    assert units.stat().st_mtime_ns == before


def test_interrupted_work_folder_is_reopened_on_another_scheduler(tmp_path):
    threads = 'name = "a"\n\n[analysis]\nn_bins = 4\n\n[dask]\nscheduler = "threads"\n'
    synchronous = threads.replace('"threads"', '"synchronous"')
    other = threads.replace("n_bins = 4", "n_bins = 5")
    assert _resume.same_config(threads, synchronous)
    assert not _resume.same_config(threads, other)
    assert not _resume.same_config("not toml [", threads)
    folder = tmp_path / "res"
    work = _resume.prepare(folder, threads, "config.toml")
    (work / "activations.zarr").mkdir()  # stands for the finished batches
    again = _resume.prepare(folder, synchronous, "config.toml")
    assert again == work and (work / "activations.zarr").is_dir()
    assert (work / "config.toml").read_text() == synchronous  # records where it now runs
    _resume.prepare(folder, other, "config.toml")
    assert not (work / "activations.zarr").exists()


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (
            ["run", "--scheduler", "thread"],
            r"^factorprobe run: error: The 'scheduler' parameter of run must be one of "
            r"'threads', 'synchronous', or the address of a dask.distributed scheduler such as "
            r"'tcp://host:8786' \(starting with 'tcp://', 'tls://', .*\); got 'thread'\.$",
        ),
        (
            ["analyze", "STORE", "--scheduler", "tcp://"],
            r"^factorprobe analyze: error: The 'scheduler' parameter of analyze must be one of "
            r"'threads', 'synchronous', or the address .*; got 'tcp://'\.$",
        ),
    ],
)
def test_bad_scheduler_flag_is_one_line_exit_2_and_writes_nothing(
    baseline, tmp_path, monkeypatch, argv, match
):
    import re

    monkeypatch.chdir(tmp_path)
    argv = [str(baseline / "ref") if a == "STORE" else a for a in argv]
    code, out, err = _cli(*argv, "--out", str(tmp_path / "out"))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and re.match(match, err.strip()), err
    assert list(tmp_path.iterdir()) == []
