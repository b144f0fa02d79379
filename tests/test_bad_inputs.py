"""A catalogue of bad inputs: each gives a one-line error naming the problem and the valid choices.

Two tables. ``LIBRARY``: public functions called with one bad argument; each raises the given
type with a one-line message matching the pattern. ``COMMAND_LINE``: ``factorprobe`` commands on
bad configurations, stores and paths; each exits with status 2, prints exactly one line on
standard error starting with ``factorprobe <command>: error:`` (no traceback), and leaves nothing
behind (no results folder, no hidden work folder). docs/reliability.md lists both tables.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import xarray as xr
import zarr

from factorprobe.analysis import tuning_curves, unit_table
from factorprobe.analysis.planted import planted_units
from factorprobe.cli import main
from factorprobe.probing import capture, load_model, open_activations, to_netcdf
from factorprobe.stimuli import grid, render

SMALL_GRID = "[stimuli]\nsize = [16, 32]\nx = [80, 140]\ny = [112]\n"
FAST = "[analysis]\nn_permutations = 20\nn_boot = 10\ndecode = []\ntuning = []\n"


class Evil:
    """Pickles to a call of os.system: what a checkpoint carrying code looks like."""

    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.fixture(scope="module")
def ctx(tmp_path_factory) -> dict[str, Any]:
    """Shared inputs: the embedded model, 4 rendered stimuli, planted units, saved activations."""
    folder = tmp_path_factory.mktemp("bad")
    model = load_model("embedded")
    stim = render(grid(size=[16, 32], x=[80, 140], y=[112]))
    acts = capture(model, stim, layers=["fc1"], progress=False)
    store = folder / "store.zarr"
    capture(model, stim, layers=["fc1"], batch_size=2, store=store, progress=False)
    torch.save({"x": Evil()}, folder / "evil.pt")
    torch.save({"fc1.weight": torch.zeros(3, 3)}, folder / "small.pt")
    (folder / "junk.safetensors").write_bytes(b"not safetensors")
    planted = planted_units(kinds=("size", "position"), n_units=2, noise=(0.5,), seed=0)
    return {
        "folder": folder,
        "model": model,
        "stim": stim,
        "acts": acts,
        "store": store,
        "planted": planted,
    }


# --------------------------------------------------------------------------- library


@dataclass(frozen=True)
class Case:
    id: str
    call: Callable[[dict[str, Any]], object]
    error: type[BaseException]
    match: str


def _with(acts: xr.DataArray, value: float) -> xr.DataArray:
    values = acts.values.copy()
    values[3, 1] = value
    return acts.copy(data=values)


def _nan_level(acts: xr.DataArray) -> xr.DataArray:
    size = acts["size"].values.astype(float)
    size[2] = np.nan
    return acts.assign_coords(size=("stimulus", size))


LIBRARY = [
    Case(
        "unknown-model",
        lambda c: load_model("resnet"),
        ValueError,
        r"Unknown model 'resnet' for load_model; valid models: 'embedded', 'timm:NAME'",
    ),
    Case(
        "unknown-timm-model",
        lambda c: load_model("timm:resnet19"),
        ValueError,
        r"Unknown timm model 'resnet19' .*; did you mean 'resnet18'",
    ),
    Case(
        "unknown-layer",
        lambda c: capture(c["model"], c["stim"], layers=["fc9"], progress=False),
        ValueError,
        r"Unknown layer 'fc9' for model 'embedded'; valid layers: .*'fc1', .*'classifier'",
    ),
    Case(
        "object-larger-than-canvas",
        lambda c: grid(size=[300], x=[112], y=[112]),
        ValueError,
        r"Object of size 300 px at x=112, y=112 .* does not fit on a 224 px canvas; largest "
        r"size there is 224 px",
    ),
    Case(
        "negative-size",
        lambda c: grid(size=[-3], x=[112], y=[112]),
        ValueError,
        r"Factor 'size' of grid must be > 0 px; got -3",
    ),
    Case(
        "non-numeric-levels",
        lambda c: grid(size=["big"], x=[112], y=[112]),
        TypeError,
        r"Factor 'size' of grid takes numbers; got 'big'",
    ),
    Case(
        "unknown-shape",
        lambda c: grid(size=[16], x=[112], y=[112], shape="hexagon"),
        ValueError,
        r"Unknown shape 'hexagon' for grid; valid shapes: 'disc', 'square', 'triangle', 'cross'",
    ),
    Case(
        "unknown-factor-in-grid",
        lambda c: grid(size=[16], x=[112], y=[112], colour=[1]),
        ValueError,
        r"Unknown factor 'colour' for grid; valid factors: 'size', 'x', 'y'",
    ),
    Case(
        "factor-with-one-level",
        lambda c: unit_table(c["planted"].assign_coords(size=c["planted"]["size"] * 0), ["size"]),
        ValueError,
        r"Factor 'size' of unit_table must have at least 2 levels; got 1",
    ),
    Case(
        "nan-activations",
        lambda c: unit_table(_with(c["planted"], np.nan), n_permutations=10),
        ValueError,
        r"unit_table got NaN responses for 1 unit\(s\): .*; drop or fill them first",
    ),
    Case(
        "missing-factor-coordinate",
        lambda c: unit_table(c["planted"], ["shape"], n_permutations=10),
        KeyError,
        r"Factor 'shape' of unit_table needs the stimulus coordinate\(s\) 'shape'; available "
        r"factors: 'size', 'x', 'y', 'position'",
    ),
    Case(
        "nan-factor-level",
        lambda c: unit_table(_nan_level(c["planted"]), ["size"], n_permutations=10),
        ValueError,
        r"Factor 'size' of unit_table has missing \(NaN\) values at 1 .*first: 2.*drop those "
        r"stimuli or fill in their levels",
    ),
    Case(
        "too-few-stimuli-for-bins",
        lambda c: unit_table(c["planted"].isel(stimulus=slice(0, 10)), ["size"], n_bins=16),
        ValueError,
        r"The 'n_bins' parameter of unit_table must be at most 5 for 10 stimuli \(at least 2 "
        r"stimuli per bin\); got 16",
    ),
    Case(
        "n-bins-below-2",
        lambda c: unit_table(c["planted"], n_bins=1),
        ValueError,
        r"The 'n_bins' parameter of unit_table must be an int >= 2; got 1",
    ),
    Case(
        "n-permutations-below-1",
        lambda c: unit_table(c["planted"], n_permutations=0),
        ValueError,
        r"The 'n_permutations' parameter of unit_table must be an int >= 1; got 0",
    ),
    Case(
        "unknown-estimator",
        lambda c: unit_table(c["planted"], estimator="ksg"),
        ValueError,
        r"The 'estimator' parameter of unit_table must be one of 'plugin', 'copula'; got 'ksg'",
    ),
    Case(
        "seed-of-wrong-type",
        lambda c: unit_table(c["planted"], seed="a"),
        TypeError,
        r"'seed' must be an int, a numpy Generator or None; got 'a'",
    ),
    Case(
        "activations-not-a-dataarray",
        lambda c: unit_table(c["planted"].values),
        TypeError,
        r"unit_table expects an xarray.DataArray with dims \('stimulus', 'unit'\); got ndarray",
    ),
    Case(
        "tuning-of-unknown-factor",
        lambda c: tuning_curves(c["planted"], "colour"),
        KeyError,
        r"Factor 'colour' of tuning_curves needs the stimulus coordinate\(s\) 'colour'; "
        r"available factors: 'size'",
    ),
    Case(
        "empty-store",
        lambda c: open_activations(c["folder"] / "empty.zarr"),
        ValueError,
        r"empty.zarr' is not a factorprobe activations store",
    ),
    Case(
        "store-from-another-configuration",
        lambda c: capture(
            c["model"],
            render(grid(size=[16, 40], x=[80, 140], y=[112])),
            layers=["fc1"],
            batch_size=2,
            store=c["store"],
            progress=False,
        ),
        ValueError,
        r"store.zarr' holds a store made with a different configuration \(hash \w+, this one "
        r"\w+\); pass overwrite=True to replace it, or choose another path",
    ),
    Case(
        "images-of-the-wrong-shape",
        lambda c: capture(c["model"], c["stim"].isel(row=slice(0, 100)), progress=False),
        ValueError,
        r"Stimuli are 100x224 px but model 'embedded' takes 224x224 px; render them at "
        r"canvas=224",
    ),
    Case(
        "images-of-the-wrong-dtype",
        lambda c: capture(
            c["model"], c["stim"].assign(image=(c["stim"].image * 255).astype("uint8"))
        ),
        TypeError,
        r"Stimuli for capture need a floating-point 'image' in \[0, 1\], as render makes; got "
        r"dtype uint8 \(divide by 255\)",
    ),
    Case(
        "images-without-channel-dimension",
        lambda c: capture(c["model"], c["stim"].assign(image=c["stim"].image.isel(channel=0))),
        ValueError,
        r"Stimuli for capture need an 'image' variable with dims \('stimulus', 'row', 'col', "
        r"'channel'\), as render makes; got \('stimulus', 'row', 'col'\)",
    ),
    Case(
        "canvas-differs-from-model-input",
        lambda c: capture(c["model"], render(grid(size=[16], x=[50], y=[50]), canvas=100)),
        ValueError,
        r"Stimuli are 100x100 px but model 'embedded' takes 224x224 px",
    ),
    Case(
        "weights-file-carrying-pickled-code",
        lambda c: load_model("embedded", weights=c["folder"] / "evil.pt"),
        ValueError,
        r"Refusing to load '.*evil.pt': it is not a plain state dict that "
        r"torch.load\(weights_only=True\) accepts \(it may run code: unsupported GLOBAL "
        r"(posix|nt).system\); save model.state_dict\(\) or convert it to "
        r".safetensors",
    ),
    Case(
        "weights-of-the-wrong-shapes",
        lambda c: load_model("embedded", weights=c["folder"] / "small.pt"),
        ValueError,
        r"Weights '.*small.pt' do not fit model 'embedded': .*size mismatch for fc1.weight",
    ),
    Case(
        "weights-file-not-safetensors",
        lambda c: load_model("embedded", weights=c["folder"] / "junk.safetensors"),
        ValueError,
        r"Cannot read '.*junk.safetensors' as safetensors",
    ),
    Case(
        "batch-size-zero",
        lambda c: capture(c["model"], c["stim"], batch_size=0),
        ValueError,
        r"The 'batch_size' parameter of capture must be an int >= 1; got 0",
    ),
    Case(
        "unknown-device",
        lambda c: capture(c["model"], c["stim"], device="tpu", progress=False),
        ValueError,
        r"The 'device' parameter of capture must be one of 'cpu', 'cuda', 'mps' .*got 'tpu'",
    ),
    Case(
        "negative-canvas",
        lambda c: render(grid(size=[16], x=[112], y=[112]), canvas=-5),
        ValueError,
        r"The 'canvas' parameter of render must be an int >= 1; got -5",
    ),
]


@pytest.mark.parametrize("case", LIBRARY, ids=[c.id for c in LIBRARY])
def test_library_error_is_one_line_naming_the_problem(case, ctx):
    (ctx["folder"] / "empty.zarr").mkdir(exist_ok=True)
    with pytest.raises(case.error, match=case.match) as info:
        case.call(ctx)
    message = info.value.args[0] if isinstance(info.value, KeyError) else str(info.value)
    assert "\n" not in message


def test_library_inf_activations_are_refused(ctx):
    with pytest.raises(
        ValueError,
        match=r"unit_table got infinite responses for 1 unit\(s\): .*; drop or fill them first",
    ):
        unit_table(_with(ctx["planted"], np.inf), n_permutations=10)


# --------------------------------------------------------------------------- command line


@dataclass(frozen=True)
class Command:
    id: str
    prepare: Callable[[Path, dict[str, Any]], list[str]]  # writes inputs, returns argv
    match: str


def _config(text: str) -> Callable[[Path, dict[str, Any]], list[str]]:
    def prepare(folder: Path, ctx: dict[str, Any]) -> list[str]:
        (folder / "bad.toml").write_text(text)
        return ["run", str(folder / "bad.toml"), "--out", str(folder / "results")]

    return prepare


def _weights(name: str) -> Callable[[Path, dict[str, Any]], list[str]]:
    def prepare(folder: Path, ctx: dict[str, Any]) -> list[str]:
        weights = (ctx["folder"] / name).as_posix()
        return _config(f'{SMALL_GRID}[model]\nweights = "{weights}"\n{FAST}')(folder, ctx)

    return prepare


def _store_copy(folder: Path, ctx: dict[str, Any]) -> Path:
    import shutil

    copy = folder / "activations.zarr"
    shutil.copytree(ctx["store"], copy)
    return copy


def _damaged_chunk(folder: Path, ctx: dict[str, Any]) -> list[str]:
    store = _store_copy(folder, ctx)
    chunk = next(p for p in sorted((store / "activations" / "c").rglob("*")) if p.is_file())
    chunk.write_bytes(b"garbage")
    return ["analyze", str(store), "--out", str(folder / "out")]


def _damaged_metadata(folder: Path, ctx: dict[str, Any]) -> list[str]:
    store = _store_copy(folder, ctx)
    (store / "zarr.json").write_text("{not json")
    return ["analyze", str(store), "--out", str(folder / "out")]


def _incomplete(folder: Path, ctx: dict[str, Any]) -> list[str]:
    store = _store_copy(folder, ctx)
    zarr.open_group(str(store), mode="r+")["done"][1] = False
    return ["analyze", str(store), "--out", str(folder / "out")]


def _netcdf(change: Callable[[xr.DataArray], xr.DataArray]):
    def prepare(folder: Path, ctx: dict[str, Any]) -> list[str]:
        to_netcdf(change(ctx["acts"]), folder / "activations.nc")
        (folder / "fast.toml").write_text(FAST + "n_bins = 2\ncka = false\n")
        argv = ["analyze", str(folder / "activations.nc"), "--config", str(folder / "fast.toml")]
        return [*argv, "--out", str(folder / "out")]

    return prepare


def _garbage_netcdf(folder: Path, ctx: dict[str, Any]) -> list[str]:
    (folder / "activations.nc").write_bytes(b"\x89HDF half a file")
    return ["analyze", str(folder / "activations.nc"), "--out", str(folder / "out")]


def _empty_folder(folder: Path, ctx: dict[str, Any]) -> list[str]:
    (folder / "empty").mkdir()
    return ["analyze", str(folder / "empty"), "--out", str(folder / "out")]


def _out_is_a_file(folder: Path, ctx: dict[str, Any]) -> list[str]:
    (folder / "results").write_text("a file where the results folder would go")
    (folder / "ok.toml").write_text(SMALL_GRID + FAST)
    return ["run", str(folder / "ok.toml"), "--out", str(folder / "results")]


def _two_runs(folder: Path, ctx: dict[str, Any]) -> list[str]:
    (folder / "two.toml").write_text('[[run]]\nname = "a"\n[[run]]\nname = "b"\n')
    store = _store_copy(folder, ctx)
    return ["analyze", str(store), "--config", str(folder / "two.toml"), "--out", str(folder / "o")]


COMMAND_LINE = [
    Command(
        "config-unknown-key",
        _config("[analysis]\nn_bin = 4\n"),
        r"Unknown key 'n_bin' in \[analysis\]; did you mean 'n_bins'\? valid keys: 'factors', ",
    ),
    Command(
        "config-unknown-table",
        _config("[analyses]\nn_bins = 4\n"),
        r"Unknown key 'analyses' in the top level; did you mean 'analysis'\? valid keys: 'name'",
    ),
    Command(
        "config-wrong-type",
        _config('[analysis]\nn_permutations = "many"\n'),
        r"The 'n_permutations' key of \[analysis\] must be an integer >= 1; got 'many'\.$",
    ),
    Command(
        "config-bad-enum-value",
        _config('[analysis]\nestimator = "ksg"\n'),
        r"The 'estimator' key of \[analysis\] must be one of 'plugin', 'copula'; got 'ksg'\.$",
    ),
    Command(
        "config-toml-syntax-error",
        _config("[analysis\nn_bins = 4\n"),
        r"bad.toml' is not valid TOML: .*\(at line 1, column \d+\)\.$",
    ),
    Command(
        "config-file-missing",
        lambda folder, ctx: ["run", str(folder / "absent.toml"), "--out", str(folder / "r")],
        r"No such file: '.*absent.toml'; give the path of a TOML configuration",
    ),
    Command(
        "unknown-model",
        _config('[model]\nname = "resnet"\n'),
        r"The 'name' key of \[model\] must be 'embedded', 'embedded:relu', 'embedded:flat', "
        r"'timm:NAME' or "
        r"'python:module:callable'; got 'resnet'\.$",
    ),
    Command(
        "unknown-timm-model",
        _config(f'{SMALL_GRID}[model]\nname = "timm:resnet19"\n{FAST}'),
        r"Unknown timm model 'resnet19' for load_model; see timm.list_models\(\); did you mean "
        r"'resnet18'",
    ),
    Command(
        "unknown-layer",
        _config(f'{SMALL_GRID}[model]\nlayers = ["fc9"]\n{FAST}'),
        r"Unknown layer 'fc9' for model 'embedded'; valid layers: .*'fc1'",
    ),
    Command(
        "unknown-device",
        _config('[model]\ndevice = "tpu"\n'),
        r"The 'device' key of \[model\] must be one of 'cpu', 'cuda', 'mps'; got 'tpu'\.$",
    ),
    Command(
        "object-larger-than-canvas",
        _config(f"[stimuli]\nsize = [16, 300]\nx = [80, 140]\ny = [112]\n{FAST}"),
        r"Object of size 300 px at x=80, y=112 .*does not fit on a 224 px canvas; largest size "
        r"there is 160 px .*pass on_misfit='drop'",
    ),
    Command(
        "factor-with-one-level",
        _config('[stimuli]\ny = [112]\n[analysis]\ntuning = ["y"]\n'),
        r"The 'tuning' key of \[analysis\] names 'y', which the stimuli do not vary \(one level "
        r"or not a factor\); valid: 'size', 'x', 'position'\.$",
    ),
    Command(
        "canvas-differs-from-model-input",
        _config(f"[stimuli]\nsize = [16, 24]\nx = [40, 60]\ny = [50]\ncanvas = 100\n{FAST}"),
        r"Stimuli are 100x100 px but model 'embedded' takes 224x224 px; render them at "
        r"canvas=224",
    ),
    Command(
        "negative-size",
        _config("[stimuli]\nsize = [-3, 16]\n"),
        r"The 'size' key of \[stimuli\] must be a list of positive sizes in pixels; got "
        r"\[-3.0, 16.0\]\.$",
    ),
    Command(
        "non-numeric-levels",
        _config('[stimuli]\nsize = ["big", 16]\n'),
        r"The 'size' key of \[stimuli\] must be a number; got 'big'\.$",
    ),
    Command(
        "unknown-shape",
        _config('[stimuli]\nshape = "hexagon"\n'),
        r"The 'shape' key of \[stimuli\] must be one of 'disc', 'square', 'triangle', 'cross'; "
        r"got 'hexagon'\.$",
    ),
    Command(
        "n-bins-below-2",
        _config("[analysis]\nn_bins = 1\n"),
        r"The 'n_bins' key of \[analysis\] must be an integer >= 2; got 1\.$",
    ),
    Command(
        "n-permutations-below-1",
        _config("[analysis]\nn_permutations = 0\n"),
        r"The 'n_permutations' key of \[analysis\] must be an integer >= 1; got 0\.$",
    ),
    Command(
        "too-few-stimuli-for-bins",
        _config(SMALL_GRID + FAST + "n_bins = 8\n"),
        r"The 'n_bins' parameter of unit_table must be at most 2 for 4 stimuli \(at least 2 "
        r"stimuli per bin\); got 8\.$",
    ),
    Command(
        "weights-file-carrying-pickled-code",
        _weights("evil.pt"),
        r"Refusing to load '.*evil.pt': it is not a plain state dict",
    ),
    Command(
        "weights-of-the-wrong-shapes",
        _weights("small.pt"),
        r"Weights '.*small.pt' do not fit model 'embedded'",
    ),
    Command(
        "weights-file-missing",
        _weights("absent.safetensors"),
        r"No weights file at '.*absent.safetensors'; give an existing file\.$",
    ),
    Command("output-path-is-a-file", _out_is_a_file, r"The output folder '.*results' is a file"),
    Command(
        "empty-folder-for-analyze",
        _empty_folder,
        r"empty' holds no activations; expected activations.zarr or activations.nc\.$",
    ),
    Command(
        "corrupt-store-chunk",
        _damaged_chunk,
        r"Cannot read the activations in '.*activations.zarr': .*; the file is damaged or not an "
        r"activations file: capture it again",
    ),
    Command(
        "corrupt-netcdf-file",
        _garbage_netcdf,
        r"Cannot read the activations in '.*activations.nc': .*; the file is damaged or not an "
        r"activations file",
    ),
    Command(
        "corrupt-store-metadata",
        _damaged_metadata,
        r"activations.zarr' is not a factorprobe activations store\.$",
    ),
    Command(
        "incomplete-store",
        _incomplete,
        r"activations.zarr' is incomplete \(1 of 2 chunks written\); rerun capture with the same "
        r"arguments to resume it\.$",
    ),
    Command(
        "nan-activations",
        _netcdf(lambda a: _with(a, np.nan)),
        r"Activations in '.*activations.nc' hold 1 non-finite value\(s\) \(NaN or inf\) in 1 "
        r"unit\(s\), e.g. fc1\[1\]; every value must be finite",
    ),
    Command(
        "infinite-activations",
        _netcdf(lambda a: _with(a, -np.inf)),
        r"hold 1 non-finite value\(s\) \(NaN or inf\) in 1 unit\(s\), e.g. fc1\[1\]",
    ),
    Command(
        "factor-coordinates-missing-from-activations",
        _netcdf(lambda a: a.drop_vars("x")),
        r"Factor 'position' of unit_table needs the stimulus coordinate\(s\) 'x'; "
        r"available factors: 'size', 'y'",
    ),
    Command(
        "factor-coordinate-with-missing-levels",
        _netcdf(_nan_level),
        r"Factor 'size' of unit_table has missing \(NaN\) values at 1 stimulus/stimuli",
    ),
    Command(
        "analyze-config-with-two-runs",
        _two_runs,
        r"analyze needs a configuration with one run; '.*two.toml' has 2\.$",
    ),
    Command(
        "bad-flag-value",
        lambda folder, ctx: ["stimuli", "--out", str(folder / "s"), "--size", "big"],
        r"argument --size: expected comma-separated numbers like '16,32,48' or a range "
        r"'start:stop:step' with step > 0; got 'big'; see 'factorprobe stimuli --help'\.$",
    ),
    Command(
        "unknown-flag",
        lambda folder, ctx: ["run", "--out", str(folder / "r"), "--n-bins", "4"],
        r"unrecognized arguments: --n-bins; see 'factorprobe run --help'\.$",
    ),
]


def _cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as stop:  # usage errors exit from argparse
            code = stop.code
    return code, err.getvalue()


@pytest.mark.parametrize("case", COMMAND_LINE, ids=[c.id for c in COMMAND_LINE])
def test_command_line_error_is_one_line_and_leaves_nothing(case, ctx, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = case.prepare(tmp_path, ctx)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, err = _cli(argv)
    assert code == 2
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith(f"factorprobe {argv[0]}: error: "), err
    assert "Traceback" not in err
    message = err.removeprefix(f"factorprobe {argv[0]}: error: ").rstrip("\n")
    assert __import__("re").search(case.match, message), message
    # nothing written: no results or analysis folder, no hidden work folder, no temporary file
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_catalogue_is_large_and_distinct():
    for catalogue in (LIBRARY, COMMAND_LINE):
        assert len({c.id for c in catalogue}) == len(catalogue) >= 25
        assert len({c.match for c in catalogue}) == len(catalogue)


@pytest.mark.slow  # a fresh interpreter importing torch: ~3-8 s on a loaded machine
def test_real_entry_point_prints_no_traceback(ctx, tmp_path):
    """The installed command (a fresh interpreter), on a damaged store."""
    argv = _damaged_chunk(tmp_path, ctx)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("FACTORPROBE_DEBUG", None)
    done = subprocess.run(
        [sys.executable, "-m", "factorprobe.cli", *argv], capture_output=True, text=True, env=env
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("factorprobe analyze: error: Cannot read the activations")
    assert not (tmp_path / "out").exists()
