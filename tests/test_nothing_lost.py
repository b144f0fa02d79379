"""Issue 13: nothing lost, nothing stale, nothing silently wrong (files, locks and reuse).

Every case of docs/reliability.md "Files, locks and reuse" is reproduced here: folders that
factorprobe did not make are never replaced (``--overwrite`` included), two runs into one folder
do not mix, finished work is reused only when everything that changes its numbers is the same,
a damaged results folder is recomputed, and the errors are one line naming the file. The runs
are the embedded model on 4 stimuli (about 3 s each).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from factorprobe.cli import main
from factorprobe.pipeline._lock import folder_lock, lock_path
from factorprobe.pipeline._resume import partial_path
from factorprobe.probing import capture, load_model, open_activations
from factorprobe.stimuli import grid, render

CONFIG = """
[stimuli]
size = [16, 32]
x = [80, 140]
y = [112]

[model]
layers = ["fc1"]
batch_size = 2

[analysis]
n_permutations = 20
n_boot = 10
decode = []
tuning = []

[output]
plots = false
"""
OTHER = CONFIG.replace("n_permutations = 20", "n_permutations = 15")


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as stop:  # argparse's usage errors
            code = int(stop.code or 0)
    return code, out.getvalue(), err.getvalue()


def _one_line_error(code: int, err: str, match: str) -> str:
    """Exit 2 and one line on stderr without a traceback; the message, checked against match."""
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    message = err.split(": error: ", 1)[1].strip()
    assert match in message, message
    return message


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under a folder (links not followed) with its bytes."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished results folder ``res`` (run with plain log lines) beside its configuration.

    Beside it, before the run: the user's ``.res.old-backup``, an unmarked ``.res.old-0123abcd``
    and a marked ``.res.old-20240101`` (named like the folders a replaced result is renamed to),
    and a ``.res.old-<32 hex>`` that a kill during a replacement left.
    """
    folder = tmp_path_factory.mktemp("finished")
    (folder / "c.toml").write_text(CONFIG)
    (folder / "other.toml").write_text(OTHER)
    backup = folder / ".res.old-backup"
    backup.mkdir()
    (backup / "thesis.tex").write_text("years of work")
    unmarked = folder / ".res.old-0123abcd"
    unmarked.mkdir()
    (unmarked / "data.csv").write_text("mine")
    marker = '{"made_by": "factorprobe", "kind": "run"}'
    dated = folder / ".res.old-20240101"  # the user's own backup of earlier results
    dated.mkdir()
    (dated / "manifest.json").write_text(marker)
    left = folder / f".res.old-{'89abcdef' * 4}"  # a replaced result a kill left: ours
    left.mkdir()
    (left / "manifest.json").write_text(marker)
    with contextlib.chdir(folder):
        code, out, err = _cli("run", "c.toml", "--out", "res", "--progress", "lines")
    assert code == 0, err
    return {"folder": folder, "res": folder / "res", "out": out, "err": err}


@pytest.fixture
def copy(finished, tmp_path, monkeypatch):
    """A copy of the finished folder in tmp_path (the working directory), with its configs."""
    shutil.copytree(finished["res"], tmp_path / "res", symlinks=True)
    for name in ("c.toml", "other.toml"):
        shutil.copy(finished["folder"] / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "res"


# --------------------------------------------------------------------------- 1. --overwrite


@pytest.mark.parametrize("how", ["flag", "config"])
def test_overwrite_never_replaces_a_folder_factorprobe_did_not_make(tmp_path, monkeypatch, how):
    monkeypatch.chdir(tmp_path)
    project = tmp_path / "proj"
    (project / "src").mkdir(parents=True)
    (project / "src" / "model.py").write_text("import torch\n")
    (project / "notes.txt").write_text("do not lose me")
    text = CONFIG + ("overwrite = true\n" if how == "config" else "")
    (project / "c.toml").write_text(text)
    before = _tree(project)
    flags = ["--overwrite"] if how == "flag" else []
    code, _, err = _cli("run", "proj/c.toml", "--out", "proj", *flags)
    message = _one_line_error(code, err, "is not empty and was not made by factorprobe")
    assert "--overwrite included: choose a new or empty folder" in message
    assert _tree(project) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]  # no work folder, no lock


def test_advice_for_a_folder_of_notes_never_leads_to_deleting_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text(CONFIG)
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "notes.txt").write_text("notes")
    code, _, err = _cli("run", "c.toml", "--out", "res")
    message = _one_line_error(code, err, "was not made by factorprobe")
    # the advice is another folder; following the old advice (--overwrite) is refused too
    assert "delete" not in message and "remove" not in message
    code, _, err = _cli("run", "c.toml", "--out", "res", "--overwrite")
    _one_line_error(code, err, "was not made by factorprobe")
    assert (tmp_path / "res" / "notes.txt").read_text() == "notes"


def test_overwrite_refuses_a_results_folder_holding_the_users_files(copy):
    (copy / "notes.txt").write_text("mine")
    (copy / "plots").mkdir()  # plots/ is factorprobe's: not reported
    code, _, err = _cli("run", "other.toml", "--out", "res", "--overwrite")
    message = _one_line_error(code, err, "holds files factorprobe did not write ('notes.txt')")
    assert "move them out of it" in message
    assert (copy / "notes.txt").read_text() == "mine"


def test_overwrite_replaces_a_folder_factorprobe_made(copy):
    code, _, err = _cli("run", "other.toml", "--out", "res", "--progress", "none")
    _one_line_error(code, err, "exists and holds other results; pass --overwrite")
    code, _, err = _cli("run", "other.toml", "--out", "res", "--overwrite", "--progress", "lines")
    assert code == 0, err
    assert "n_permutations = 15" in (copy / "config.toml").read_text()
    assert "recomputing res: --overwrite replaces the results of another configuration" in err
    assert sorted(p.name for p in copy.parent.iterdir()) == ["c.toml", "other.toml", "res"]


# --------------------------------------------------------------------------- 2. capture's store


def test_capture_overwrite_never_wipes_a_folder_that_is_not_a_store(tmp_path):
    model = load_model("embedded")
    stim = render(grid(size=[16, 32], x=[80], y=[112]))
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match="not a factorprobe activations store") as info:
        capture(model, stim, layers=["fc1"], store=folder, overwrite=True, progress=False)
    message = str(info.value)
    assert "overwrite=True does not apply" in message and "choose another path" in message
    assert "pass overwrite=True" not in message and "\n" not in message
    assert (folder / "notes.txt").read_text() == "keep"
    store = tmp_path / "s.zarr"  # a factorprobe store is replaced, as before
    capture(model, stim, layers=["fc1"], store=store, progress=False)
    acts = capture(model, stim, layers=["fc2"], store=store, overwrite=True, progress=False)
    assert set(acts["layer"].values.tolist()) == {"fc2"}


# --------------------------------------------------------------------------- 3. two runs at once


def test_second_run_into_a_folder_being_written_refuses_in_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text(CONFIG)
    with folder_lock(tmp_path / "res"):  # what a first run holds while it writes
        code, _, err = _cli("run", "c.toml", "--out", "res")
        message = _one_line_error(code, err, "Another factorprobe run is writing 'res'")
        assert "wait for it to finish, or choose another --out" in message
        assert not (tmp_path / "res").exists() and not partial_path(tmp_path / "res").exists()
    assert not lock_path(tmp_path / "res").exists()  # removed by its holder


def test_planted_lock_link_is_never_followed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text(CONFIG)
    (tmp_path / "precious.txt").write_text("keep")
    (tmp_path / ".res.lock").symlink_to(tmp_path / "precious.txt")
    code, _, err = _cli("run", "c.toml", "--out", "res")
    _one_line_error(code, err, ".res.lock' is a symbolic link; factorprobe never follows one")
    assert (tmp_path / "precious.txt").read_text() == "keep" and not (tmp_path / "res").exists()


def test_lock_is_held_for_the_whole_run_and_removed_after(copy, monkeypatch):
    import factorprobe.pipeline.runner as run_module

    seen = {}
    real = run_module.capture_run

    def spy(config, out, **kwargs):
        seen["locked"] = lock_path(copy).exists()
        with (
            pytest.raises(BlockingIOError, match="Another factorprobe run is writing"),
            folder_lock(copy),
        ):
            pass
        return real(config, out, **kwargs)

    monkeypatch.setattr(run_module, "capture_run", spy)
    code, _, err = _cli("run", "c.toml", "--out", "res", "--overwrite", "--quiet")
    assert code == 0, err
    assert seen["locked"] and not lock_path(copy).exists()


# --------------------------------------------------------------------------- 4. sweep names


def test_run_named_like_a_combined_table_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep = CONFIG + '\n[[run]]\nname = "combined_units.csv"\n\n[[run]]\nname = "b"\n'
    (tmp_path / "s.toml").write_text(sweep)
    code, _, err = _cli("run", "s.toml", "--out", "sweep")
    message = _one_line_error(code, err, "Run name 'combined_units.csv' clashes with a table")
    assert "'combined_layers.csv'" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


def test_sweep_into_a_folder_of_the_users_files_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep = CONFIG + '\n[[run]]\nname = "a"\n\n[[run]]\nname = "b"\n'
    (tmp_path / "s.toml").write_text(sweep)
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "combined_units.csv").write_text("my own table")
    code, _, err = _cli("run", "s.toml", "--out", "proj")
    _one_line_error(code, err, "holds files that are not factorprobe results")
    assert (tmp_path / "proj" / "combined_units.csv").read_text() == "my own table"


def test_users_folders_named_like_replaced_results_are_never_deleted(finished):
    folder = finished["folder"]
    assert (folder / ".res.old-backup" / "thesis.tex").read_text() == "years of work"
    assert (folder / ".res.old-0123abcd" / "data.csv").read_text() == "mine"  # no marker
    assert (folder / ".res.old-20240101" / "manifest.json").is_file()  # not a name it makes
    assert not (folder / f".res.old-{'89abcdef' * 4}").exists()  # its own, left by a kill


@pytest.mark.slow  # two runs, one with its report (~15 s)
def test_sweep_names_each_run_and_says_where_the_reports_are(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep = CONFIG + '\n[[run]]\nname = "a"\n[run.output]\nplots = true\n\n[[run]]\nname = "b"\n'
    (tmp_path / "s.toml").write_text(sweep)
    code, out, err = _cli("run", "s.toml", "--out", "sweep", "--progress", "lines")
    assert code == 0, err
    assert "[1/2] a: capture done, 2 batches" in err and "[2/2] b: analysis done" in err
    assert "[1/2] a: report done" in err
    assert "report: sweep/a/report.html (open it in a web browser)" in err
    assert out == "results: sweep\n"


# --------------------------------------------------------------------------- 5. --out .


@pytest.mark.parametrize("out", [".", "..", "{cwd}"])
def test_out_that_is_or_contains_the_current_folder_is_refused(tmp_path, monkeypatch, out):
    work = tmp_path / "here"
    work.mkdir()
    monkeypatch.chdir(work)
    (work / "c.toml").write_text(CONFIG)
    code, _, err = _cli("run", "c.toml", "--out", out.format(cwd=work))
    _one_line_error(code, err, "is the current folder or contains it")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["c.toml", "here"]


# --------------------------------------------------------------------------- 6. reuse keys


def test_changed_weights_file_is_recomputed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    weights = load_model("embedded").module.state_dict()
    torch.save(weights, tmp_path / "w.pt")
    text = CONFIG.replace("batch_size = 2\n", 'batch_size = 2\nweights = "w.pt"\n')
    (tmp_path / "c.toml").write_text(text)
    assert _cli("run", "c.toml", "--out", "r", "--quiet")[0] == 0
    first = (tmp_path / "r" / "units.csv").read_bytes()
    acts = open_activations(tmp_path / "r" / "activations.zarr").values.copy()
    code, _, err = _cli("run", "c.toml", "--out", "r")
    assert code == 0 and "reused r, finished earlier with the same configuration and inputs" in err
    torch.save({k: v * 1.5 if k == "fc1.weight" else v for k, v in weights.items()}, "w.pt")
    code, _, err = _cli("run", "c.toml", "--out", "r")
    assert code == 0, err
    assert "default: recomputing r: the weights file changed" in err
    again = open_activations(tmp_path / "r" / "activations.zarr").values
    assert not np.array_equal(again, acts)
    assert (tmp_path / "r" / "units.csv").read_bytes() != first


def test_new_package_version_is_recomputed(copy, monkeypatch):
    import factorprobe.pipeline._fingerprint as fingerprint

    real = fingerprint.versions
    monkeypatch.setattr(fingerprint, "versions", lambda: {**real(), "factorprobe": "99.0"})
    code, _, err = _cli("run", "c.toml", "--out", "res")
    assert code == 0, err
    assert "recomputing res: package versions changed (factorprobe)" in err
    manifest = json.loads((copy / "manifest.json").read_text())
    assert manifest["inputs"]["versions"]["factorprobe"] == "99.0"


EDITNET = """
import os
import time

import torch
import torch.nn as nn


class EditNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.fc1 = nn.Linear(16, 8)
        self.act1 = nn.SiLU()
        torch.manual_seed(0)

    def forward(self, x):
        log = os.environ["EDITNET_LOG"]
        with open(log, "a") as f:
            f.write(f"{x.shape[0]}\\n")
        if open(log).read().split().count("2") > int(os.environ.get("EDITNET_STOP", "99")):
            raise KeyboardInterrupt
        time.sleep(float(os.environ.get("EDITNET_DELAY", "0")))
        return self.act1(self.fc1(self.pool(x).flatten(1) * SCALE))


SCALE = 1.0


def build():
    torch.manual_seed(0)
    return EditNet()
"""
EDIT_CONFIG = """
[stimuli]
size = [6, 10, 14]
x = [10, 22]
y = [16]

[model]
name = "python:editnet_nl:build"
input_size = 32
mean = [0.0]
std = [1.0]
layers = ["fc1"]
batch_size = 2

[analysis]
n_bins = 2
n_permutations = 10
decode = []
tuning = []

[output]
plots = false
"""


def test_edited_python_model_after_an_interruption_reuses_no_batch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "editnet_nl.py").write_text(EDITNET)
    (tmp_path / "e.toml").write_text(EDIT_CONFIG)
    log = tmp_path / "batches.log"
    monkeypatch.setenv("EDITNET_LOG", str(log))
    monkeypatch.setenv("EDITNET_STOP", "2")  # Ctrl-C in the 3rd of 3 batches: 2 are kept
    assert _cli("run", "e.toml", "--out", "r", "--quiet")[0] == 130
    assert partial_path(tmp_path / "r").is_dir() and not (tmp_path / "r").exists()
    monkeypatch.delenv("EDITNET_STOP")
    # the user edits the model's forward pass, then reruns the same command
    (tmp_path / "editnet_nl.py").write_text(EDITNET.replace("SCALE = 1.0", "SCALE = 2.0"))
    monkeypatch.delitem(sys.modules, "editnet_nl", raising=False)  # a new process would
    log.write_text("")
    code, _, err = _cli("run", "e.toml", "--out", "r", "--quiet")
    assert code == 0, err
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert manifest["capture"] == {"batches": 3, "batches_reused": 0}
    assert log.read_text().split().count("2") == 3  # every batch recomputed, by the new code


@pytest.mark.slow  # a second interpreter importing torch (~10 s)
def test_two_processes_into_one_folder_the_second_refuses_the_first_finishes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "editnet_nl.py").write_text(EDITNET)
    (tmp_path / "e.toml").write_text(EDIT_CONFIG)
    env = {**os.environ, "EDITNET_LOG": str(tmp_path / "a.log"), "EDITNET_DELAY": "1.0"}
    env["HF_HUB_OFFLINE"] = "1"
    first = subprocess.Popen(
        [sys.executable, "-m", "factorprobe.cli", "run", "e.toml", "--out", "r", "--quiet"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (tmp_path / "a.log").exists():  # the first run is capturing, holding the lock
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    monkeypatch.setenv("EDITNET_LOG", str(tmp_path / "b.log"))
    code, _, err = _cli("run", "e.toml", "--out", "r")
    _one_line_error(code, err, "Another factorprobe run is writing 'r'")
    assert first.wait(timeout=120) == 0, first.stderr.read()
    first.stderr.close()
    assert not (tmp_path / "b.log").exists()  # the second run computed nothing
    published = {p.name for p in (tmp_path / "r").iterdir()}
    assert {"activations.zarr", "units.csv", "units.parquet", "config.toml"} <= published
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_edited_model_class_in_another_file_is_recomputed(tmp_path, monkeypatch):
    """build() in one file, the network's class (its forward) in another, edited after a run."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # where build() imports the class from
    (tmp_path / "layers_nl.py").write_text(EDITNET)
    (tmp_path / "builder_nl.py").write_text("from layers_nl import build\n")
    (tmp_path / "e.toml").write_text(EDIT_CONFIG.replace("editnet_nl", "builder_nl"))
    monkeypatch.setenv("EDITNET_LOG", str(tmp_path / "batches.log"))
    assert _cli("run", "e.toml", "--out", "r", "--quiet")[0] == 0
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert [p for p, _ in manifest["model_sources"]] == ["layers_nl.py"]  # relative
    (tmp_path / "layers_nl.py").write_text(EDITNET.replace("SCALE = 1.0", "SCALE = 2.0"))
    for name in ("layers_nl", "builder_nl"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    code, _, err = _cli("run", "e.toml", "--out", "r")
    assert code == 0, err
    assert "recomputing r: the model's source 'layers_nl.py' changed" in err


def test_store_of_an_edited_model_class_is_not_resumed(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("EDITNET_LOG", str(tmp_path / "batches.log"))
    stim = render(grid(size=[6, 10], x=[16], y=[16], canvas=32), canvas=32)
    store = tmp_path / "s.zarr"
    for scale in ("1.0", "2.0"):
        (tmp_path / "store_net_nl.py").write_text(
            EDITNET.replace("SCALE = 1.0", f"SCALE = {scale}")
        )
        monkeypatch.delitem(sys.modules, "store_net_nl", raising=False)
        module = __import__("store_net_nl").build()
        model = load_model(module, input_size=32, mean=[0.0], std=[1.0])
        if scale == "1.0":
            capture(model, stim, layers=["fc1"], store=store, progress=False)
            continue
        with pytest.raises(ValueError, match="holds a store made with a different configuration"):
            capture(model, stim, layers=["fc1"], store=store, progress=False)


# --------------------------------------------------------------------------- 7. analyze in place


def test_analyze_in_place_with_another_config_is_refused(copy, tmp_path):
    before = _tree(copy)
    code, _, err = _cli("analyze", "res", "--config", "other.toml")
    message = _one_line_error(code, err, "holds tables made with the [analysis] of its config")
    assert "write them to a new folder with --out" in message
    assert _tree(copy) == before
    code, _, err = _cli("analyze", "res", "--config", "other.toml", "--out", "plugin", "--quiet")
    assert code == 0, err
    assert _tree(copy) == before
    code, _, err = _cli("run", "c.toml", "--out", "res")  # still finished, and says so
    assert code == 0 and "reused res, finished earlier" in err


def test_analyze_into_another_runs_results_folder_is_refused(copy, tmp_path):
    shutil.copytree(copy, tmp_path / "res2")
    before = _tree(tmp_path / "res2")
    code, _, err = _cli("analyze", "res/activations.zarr", "--out", "res2")
    _one_line_error(code, err, "'res2' is the results folder of another run")
    assert _tree(tmp_path / "res2") == before


def test_analyze_in_place_with_its_own_config_keeps_the_folder_verified(copy):
    code, _, err = _cli("analyze", "res", "--quiet")
    assert code == 0, err
    code, _, err = _cli("run", "c.toml", "--out", "res")
    assert code == 0 and "reused res, finished earlier" in err


# --------------------------------------------------------------------------- 8. links


def test_symlinked_work_folder_is_never_followed(copy, tmp_path):
    shared = tmp_path / "shared"
    planted = shared / "planted"
    shutil.copytree(copy, planted)  # looks like a real work folder, marker included
    shutil.rmtree(copy)
    before = _tree(planted)
    partial_path(copy).symlink_to(planted)
    code, _, err = _cli("run", "c.toml", "--out", "res")
    _one_line_error(code, err, "is a symbolic link; factorprobe never follows a work folder")
    assert not copy.exists() and not copy.is_symlink()
    assert _tree(planted) == before


def test_unmarked_work_folder_is_never_resumed_or_removed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text(CONFIG)
    (tmp_path / ".res.partial").mkdir()
    (tmp_path / ".res.partial" / "config.toml").write_text(CONFIG)
    code, _, err = _cli("run", "c.toml", "--out", "res")
    _one_line_error(code, err, "exists but was not made by factorprobe")
    assert (tmp_path / ".res.partial" / "config.toml").read_text() == CONFIG


def test_work_folder_of_another_user_is_never_resumed(copy, monkeypatch):
    import factorprobe.pipeline._published as published

    shutil.copytree(copy, partial_path(copy))  # marker and all, as if planted
    monkeypatch.setattr(published.os, "getuid", lambda: 12345)  # we are someone else
    code, _, err = _cli("run", "other.toml", "--out", "res", "--overwrite")
    _one_line_error(code, err, ".res.partial' belongs to another user")
    assert partial_path(copy).is_dir()


def test_overwrite_of_the_same_configuration_redoes_it(copy):
    code, _, err = _cli("run", "c.toml", "--out", "res", "--overwrite")
    assert code == 0 and "recomputing res: --overwrite redoes it" in err


def test_results_folder_that_is_a_symlink_is_refused(copy, tmp_path):
    real = tmp_path / "real"
    copy.rename(real)
    copy.symlink_to(real)
    code, _, err = _cli("run", "c.toml", "--out", "res")
    _one_line_error(code, err, "'res' is a symbolic link; factorprobe never publishes through")
    assert copy.is_symlink() and (real / "units.csv").is_file()


# --------------------------------------------------------------------------- 14. damaged results


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda res: (res / "units.csv").unlink(), "units.csv is missing"),
        (
            lambda res: (res / "units.parquet").write_bytes(b"PAR1"),
            "units.parquet has 4 bytes",
        ),
        (
            lambda res: (res / "activations.zarr" / "activations" / "c" / "1" / "0").unlink(),
            "activations.zarr/activations/c/1/0 is missing",
        ),
    ],
    ids=["deleted-table", "truncated-table", "deleted-store-chunk"],
)
def test_damaged_results_folder_is_recomputed_not_reported_finished(copy, finished, damage, reason):
    damage(copy)
    code, _, err = _cli("run", "c.toml", "--out", "res")
    assert code == 0, err
    assert f"recomputing res: the folder was damaged ({reason}" in err
    assert "reused res" not in err
    for name in ("units.csv", "units.parquet", "data_dictionary.csv"):
        assert (copy / name).read_bytes() == (finished["res"] / name).read_bytes()


def test_same_sized_edit_of_a_table_is_found_by_its_checksum(copy):
    table = copy / "units.csv"
    text = table.read_bytes()
    table.write_bytes(text[:-2] + (b"9" if text[-2:-1] != b"9" else b"8") + text[-1:])
    code, _, err = _cli("run", "c.toml", "--out", "res")
    assert code == 0 and "units.csv changed since it was published" in err


# --------------------------------------------------------------------------- 15. progress


def test_plain_log_lines_when_stderr_is_not_a_terminal(finished):
    err = finished["err"]
    assert "default: capture done, 2 batches (0 reused from an interrupted run)" in err
    assert "default: analysis done" in err
    assert "\r" not in err  # no bars
    assert finished["out"] == "results: res\n"


def test_long_capture_reports_its_batches_as_it_goes(tmp_path, monkeypatch):
    import factorprobe.pipeline._progress as progress

    monkeypatch.setattr(progress, "HEARTBEAT_S", 0.1)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "editnet_nl.py").write_text(EDITNET)
    (tmp_path / "e.toml").write_text(EDIT_CONFIG)
    monkeypatch.setenv("EDITNET_LOG", str(tmp_path / "batches.log"))
    monkeypatch.setenv("EDITNET_DELAY", "0.4")
    monkeypatch.delitem(sys.modules, "editnet_nl", raising=False)
    code, _, err = _cli("run", "e.toml", "--out", "r", "--progress", "lines")
    assert code == 0, err
    assert re.search(r"^default: capture: [12]/3 batches$", err, re.MULTILINE), err
    assert "default: capture done, 3 batches (0 reused" in err


def test_rerun_says_it_reused_the_finished_work_and_quiet_says_nothing(copy):
    code, _, err = _cli("run", "c.toml", "--out", "res")
    assert code == 0
    assert "default: reused res, finished earlier with the same configuration and" in err
    assert _cli("run", "c.toml", "--out", "res", "--quiet") == (0, "", "")


def test_unknown_progress_choice_is_a_usage_error():
    code, _, err = _cli("run", "--progress", "fancy")
    assert code == 2 and err.count("\n") == 1
    assert "argument --progress: invalid choice: 'fancy'" in err


# --------------------------------------------------------------------------- 12, 13. messages


def test_non_utf8_out_is_one_line_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text(CONFIG)
    bad = b"res-\xff".decode("utf-8", "surrogateescape")  # how Python passes such an argv
    code, _, err = _cli("run", "c.toml", "--out", bad)
    _one_line_error(code, err, "is not valid UTF-8")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["c.toml"]


def test_deleted_store_chunk_is_named_not_blamed_on_the_model(copy):
    (copy / "activations.zarr" / "activations" / "c" / "1" / "0").unlink()
    code, _, err = _cli("analyze", "res/activations.zarr", "--out", "again")
    message = _one_line_error(code, err, "is damaged: the file of chunk 1 (stimuli 2 to 3)")
    assert "'activations/c/1/0', is missing" in message and "overflow" not in message


def test_capture_redoes_a_deleted_chunk_of_its_store(tmp_path):
    model = load_model("embedded")
    stim = render(grid(size=[16, 32], x=[80, 140], y=[112]))
    store = tmp_path / "s.zarr"
    first = capture(model, stim, layers=["fc1"], batch_size=2, store=store, progress=False)
    values = first.values.copy()
    (store / "activations" / "c" / "1" / "0").unlink()
    again = capture(model, stim, layers=["fc1"], batch_size=2, store=store, progress=False)
    np.testing.assert_array_equal(again.values, values)


def test_damaged_manifest_is_named(copy):
    (copy / "manifest.json").write_text("{not json")
    code, _, err = _cli("run", "c.toml", "--out", "res")
    message = _one_line_error(code, err, "manifest.json' as JSON (Expecting property name")
    assert "the file is damaged" in message


def test_damaged_netcdf_table_is_named_by_report(copy):
    (copy / "units.nc").write_bytes(b"garbage")
    code, _, err = _cli("report", "res")
    message = _one_line_error(code, err, "Cannot read 'res/units.nc' as NetCDF (")
    assert "the file is damaged" in message
