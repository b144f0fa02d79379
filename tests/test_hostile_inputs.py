"""Hostile and silently wrong inputs (issue 13, items 9-13 and 16): each is refused in one line,
or warned about, and nothing is left behind.

Command-line cases run ``factorprobe`` in this process and check what the contract promises:
exit status 2, exactly one line on standard error naming the problem, no traceback, and no file
left (no results folder, no hidden work folder). docs/reliability.md ("Inputs and configuration
(issue 13)") lists every case with its message.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
from torch import nn

from factorprobe import probing
from factorprobe.analysis import tuning_curves
from factorprobe.cli import main
from factorprobe.pipeline._stage_model import load_run_model
from factorprobe.pipeline.config import (
    AnalysisConfig,
    RunConfig,
    StimuliConfig,
    load_config,
    parse_config,
)
from factorprobe.stimuli import StimulusWarning, grid, iter_batches, render

SMALL = "[stimuli]\nsize = [16, 32]\nx = [80, 140]\ny = [112]\n"
FAST = "[analysis]\nn_permutations = 20\nn_boot = 40\n[output]\nplots = false\n"


@pytest.fixture(scope="module")
def embedded() -> probing.ProbedModel:
    return probing.load_model("embedded")


@pytest.fixture(scope="module")
def stim() -> xr.Dataset:
    return render(grid(size=[16, 32], x=[80, 140], y=[112]))


def _cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as stop:  # usage errors exit from argparse
            code = stop.code
    return code, err.getvalue()


def _refused(argv: list[str], folder: Path, match: str) -> str:
    """Run the CLI; check exit 2, one line matching ``match``, and that nothing was written."""
    before = sorted(folder.rglob("*"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a warning is a second line on stderr, not the error
        code, err = _cli(argv)
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"factorprobe {argv[0]}: error: "), err
    assert re.search(match, err), err
    assert sorted(folder.rglob("*")) == before
    return err


def _run_config(folder: Path, text: str, match: str) -> str:
    (folder / "c.toml").write_text(text)
    return _refused(["run", str(folder / "c.toml"), "--out", str(folder / "res")], folder, match)


# ----------------------------------------------------------------- 9: images outside [0, 1]


def test_float_images_in_0_255_are_refused_naming_the_range(embedded, stim):
    scaled = stim.assign(image=stim["image"] * 255)
    with pytest.raises(ValueError, match=r"values in \[0, 1\].*got values in \[0, 255\] \(stimuli "
                       r"0 to 3\); 8-bit intensities: divide the images by 255\.$"):  # fmt: skip
        probing.capture(embedded, scaled, progress=False)


def test_lazy_images_are_checked_batch_by_batch(embedded, stim):
    image = stim["image"].values.copy()
    image[2:] -= 0.5  # the second batch only: normalised already, values below 0
    lazy = stim.assign(image=(stim["image"].dims, image)).chunk({"stimulus": 2})
    with pytest.raises(ValueError, match=r"got values in \[-0\.5, 0\.5\] \(stimuli 2 to 3\); "
                       r"undo any normalisation"):  # fmt: skip
        probing.capture(embedded, lazy, batch_size=2, progress=False)


def test_batches_from_an_iterable_are_checked(embedded):
    batches = (b.assign(image=b["image"] * 255) for b in iter_batches(grid(
        size=[16, 32], x=[80, 140], y=[112]), batch_size=2))  # fmt: skip
    with pytest.raises(ValueError, match=r"got values in \[0, 255\] \(stimuli 0 to 1\)"):
        probing.capture(embedded, batches, progress=False)


def test_nan_images_are_refused(embedded, stim):
    image = stim["image"].values.copy()
    image[1, 5, 5, 0] = np.nan
    with pytest.raises(ValueError, match=r"replace the NaN values"):
        probing.capture(embedded, stim.assign(image=(stim["image"].dims, image)), progress=False)


# ----------------------------------------------------------------- 10: blank or identical stimuli


def test_stimuli_all_blank_are_refused_by_capture(embedded):
    tiny = grid(size=[0.001, 0.002], x=[80, 140], y=[112])  # objects under a pixel
    with pytest.raises(ValueError, match=r"^All 4 stimuli for capture would be blank \(less than "
                       r"0\.5 px of ink, e\.g\. size=0\.001\): any information measured would be "
                       r"rounding noise"):  # fmt: skip
        probing.capture(embedded, tiny, progress=False)  # before the sweep: one image per size
    with pytest.warns(StimulusWarning, match=r"All 4 stimuli for render are blank"):
        rendered = render(tiny)
    with pytest.raises(ValueError, match=r"^All 4 stimuli for capture are blank \(less than 0\.5 "
                       r"px of ink, e\.g\. stimulus 0 \(size=0\.001, x=80, y=112\)\)"):  # fmt: skip
        probing.capture(embedded, rendered, progress=False)


def test_stimuli_with_one_image_are_refused_by_capture(embedded):
    with pytest.warns(StimulusWarning, match=r"All 3 stimuli for render have the same image"):
        turned = render(grid(size=[32], x=[112], y=[112], rotation=[0, 90, 180]))  # a disc
    with pytest.raises(ValueError, match=r"All 3 stimuli for capture have the same image \(e\.g\. "
                       r"stimuli 0 \(.*rotation=0\) and 1 \(.*rotation=90\)\)"):  # fmt: skip
        probing.capture(embedded, turned, progress=False)


def test_some_blank_and_repeated_stimuli_are_warned_about(embedded):
    space = grid(size=[16, 32], x=[112], y=[112], contrast=[0, 1])
    with pytest.warns(StimulusWarning, match=r"2 of 4 stimuli for capture are blank .*contrast=0"
                      r".*1 of 4 stimuli for capture have the same image as a stimulus with "
                      r"other factor values"):  # fmt: skip
        acts = probing.capture(embedded, space, batch_size=2, progress=False)
    assert acts.sizes["stimulus"] == 4  # a warning: the capture still runs


def test_distinct_stimuli_give_no_warning(embedded, stim):
    with warnings.catch_warnings():
        warnings.simplefilter("error", StimulusWarning)
        probing.capture(embedded, stim, progress=False)


@pytest.mark.parametrize(
    ("stimuli", "match"),
    [
        ("contrast = [0.0]", r"The 'contrast' key of \[stimuli\] must have a level above 0; got "
         r"\[0\.0\] \(contrast 0 draws nothing"),
        ("background = 0.5\nforeground = 0.5", r"The 'foreground' key of \[stimuli\] must differ "
         r"from 'background' \(both 0\.5\): every stimulus would be blank"),
    ],
)  # fmt: skip
def test_a_configuration_whose_stimuli_are_all_blank_is_refused_up_front(tmp_path, stimuli, match):
    _run_config(tmp_path, f"{SMALL}{stimuli}\n{FAST}", match)


def test_a_run_of_objects_under_a_pixel_is_refused_and_leaves_nothing(tmp_path):
    text = "[stimuli]\nsize = [0.001, 0.002]\nx = [80, 140]\ny = [112]\n" + FAST
    _run_config(tmp_path, text, r"All 4 stimuli for capture would be blank .*e\.g\. size=0\.001")


# ----------------------------------------------------------------- 11: python: models


NETS = """
import os
import subprocess

import torch.nn as nn


def build(width=4):
    return nn.Sequential(nn.Flatten(), nn.Linear(32 * 32, width), nn.SiLU(), nn.Linear(width, 2))


net = build()
"""


def _python_config(folder: Path, name: str, **model: object) -> str:
    (folder / "nets_h13.py").write_text(NETS)
    table = {"name": name, "input_size": 32, "mean": [0.0], "std": [1.0], **model}
    lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in table.items() if k != "kwargs")
    kwargs = model.get("kwargs")
    if kwargs:
        lines += "\nkwargs = {" + ", ".join(f"{k} = {json.dumps(v)}" for k, v in
                                            kwargs.items()) + "}"  # fmt: skip
    return f"[stimuli]\nsize = [4, 8]\nx = [10, 22]\ny = [16]\n[model]\n{lines}\n{FAST}"


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("python:subprocess:run", r"Cannot import 'run' from 'subprocess' for \[model\] name = "
         r"'python:subprocess:run': python: models are imported only from the configuration's "
         r"folder .*'subprocess' is a standard-library module, not a file of yours \(a "
         r"configuration is trusted like code"),
        ("python:nets_h13:subprocess.run", r"names subprocess\.run, which is not defined in the "
         r"configuration's folder"),
        ("python:nets_h13:os.system", r"names posix\.system, which is not defined in the "
         r"configuration's folder"),
    ],
)  # fmt: skip
def test_a_configuration_cannot_call_code_outside_its_folder(tmp_path, name, match):
    marker = tmp_path / "ran"
    key = "command" if name.endswith("system") else "args"
    value = f"touch {marker}" if key == "command" else ["touch", str(marker)]
    _run_config(tmp_path, _python_config(tmp_path, name, kwargs={key: value}), match)
    assert not marker.exists()


def test_a_python_model_may_not_shadow_an_installed_module(tmp_path):
    (tmp_path / "numpy.py").write_text(NETS)  # beside the config, named like an installed one
    text = _python_config(tmp_path, "python:numpy:build")
    _run_config(tmp_path, text, r"python: module 'numpy' is the name of an installed module "
                r"\(.*numpy.*\); rename your 'numpy' in")  # fmt: skip


def test_python_models_from_the_configuration_folder_still_load(tmp_path):
    for name in ("python:nets_h13:build", "python:nets_h13:net"):  # a function, an instance
        (config,) = parse_config(
            {"model": {"name": name, "input_size": 32, "mean": [0.0], "std": [1.0]},
             "stimuli": {"size": [4, 8], "x": [10, 22], "y": [16]}},
            base_dir=str(tmp_path),
        )  # fmt: skip
        (tmp_path / "nets_h13.py").write_text(NETS)
        loaded = load_run_model(config.model, base_dir=tmp_path)
        assert isinstance(loaded.module, nn.Sequential)


# ----------------------------------------------------------------- 12: one line, not a traceback


def test_three_channel_normalisation_on_the_one_channel_embedded_model(tmp_path):
    text = f"{SMALL}[model]\nmean = [0.5, 0.5, 0.5]\nstd = [0.5, 0.5, 0.5]\n{FAST}"
    _run_config(tmp_path, text, r"'mean' and 'std' of load_model need one value per input "
                r"channel, and the embedded model takes 1 \(grayscale\); got 3 values")  # fmt: skip


def test_a_scalar_mean_for_a_module_is_one_line():
    match = (
        r"The 'mean' parameter of load_model must be a non-empty sequence of numbers, one per "
        r"input channel \(e\.g\. mean=\(0\.0,\) for one grayscale channel\); got 0\.0\.$"
    )
    with pytest.raises(TypeError, match=match):
        probing.load_model(nn.Linear(4, 2), input_size=2, mean=0.0, std=1.0)


class _SkipsOnThree(nn.Module):
    """Runs fc2 except on a batch of 3: a model whose path depends on the batch size."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(32 * 32, 4), nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x.flatten(1))
        return h if x.shape[0] == 3 else self.fc2(h)


def test_layers_that_skip_a_batch_size_are_one_line():
    model = probing.load_model(_SkipsOnThree(), input_size=32, mean=(0.0,), std=(1.0,))
    stim = render(grid(size=[4, 8, 12], x=[16], y=[16], canvas=32), canvas=32)
    with pytest.raises(ValueError, match=r"Layer\(s\) 'fc2' of model '_SkipsOnThree' did not run "
                       r"in the forward pass of a batch of 3 stimuli"):  # fmt: skip
        probing.capture(model, stim, layers=["fc1", "fc2"], batch_size=3, progress=False)


def test_a_model_failing_on_its_configured_input_is_one_line():
    model = probing.load_model(nn.Linear(5, 2), input_size=32, mean=(0.0,), std=(1.0,))
    with pytest.raises(ValueError, match=r"Model 'Linear' failed on a zero input of size 32x32 px "
                       r"with 1 channel\(s\) \(RuntimeError: .*\); check input_size"):  # fmt: skip
        probing.fc_layers(model)


@pytest.mark.parametrize(
    ("analysis", "match"),
    [
        ("seed = 18446744073709551616", r"The 'seed' key of \[analysis\] must be an integer <= "
         r"9223372036854775807 \(saved files store it as a 64-bit integer\)"),
        ("n_permutations = 1000000000", r"The 'n_permutations' key of \[analysis\] must be an "
         r"integer <= 100000 \(p-values resolve 1e-5 at 100000"),
        ("n_boot = 1", r"The 'n_boot' key of \[analysis\] must be an integer >= 10 \(a percentile "
         r"interval needs them: with 1 resample its width is 0\); got 1\."),
    ],
)  # fmt: skip
def test_out_of_bounds_analysis_numbers_are_refused_up_front(tmp_path, analysis, match):
    _run_config(tmp_path, f"{SMALL}[analysis]\n{analysis}\n", match)


def test_a_huge_batch_size_is_refused_up_front(tmp_path):
    _run_config(
        tmp_path,
        f"{SMALL}[model]\nbatch_size = 1000000000000\n",
        r"The 'batch_size' key "
        r"of \[model\] must be an integer <= 65536 \(a batch's images are held in memory",
    )


def _safetensors(path: Path, header: dict, data: bytes) -> Path:
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def test_a_weights_header_declaring_4_tb_is_refused_before_allocating(tmp_path):
    tensor = {"dtype": "F32", "shape": [1_000_000, 1_000_000], "data_offsets": [0, 16]}
    path = _safetensors(tmp_path / "tb.safetensors", {"fc1.weight": tensor}, bytes(16))
    match = r"declares tensor 'fc1\.weight' of shape \[1000000, 1000000\] \(4\.0 TB\) but the file"
    with pytest.raises(ValueError, match=match + r" holds 16 bytes"):
        probing.load_model("embedded", weights=path)


def test_weights_metadata_declaring_a_huge_network_is_refused(tmp_path):
    from safetensors.torch import save_file

    from factorprobe.probing.embedded.network import NetworkConfig

    huge = NetworkConfig(n_fc=16, fc_width=1_000_000).to_json()  # 60 TB of float32 weights
    save_file({"fc1.bias": torch.zeros(3)}, tmp_path / "huge.safetensors", {"config": huge})
    with pytest.raises(ValueError, match=r"the file's metadata declares a network of 60\.0 TB but "
                       r"the file holds 12 bytes of weights"):  # fmt: skip
        probing.load_model("embedded", weights=tmp_path / "huge.safetensors")


def test_a_toml_nested_1000_deep_is_one_line(tmp_path):
    text = "[analysis]\nfactors = " + "[" * 1000 + '"size"' + "]" * 1000 + "\n"
    _run_config(tmp_path, text, r"c\.toml' nests tables or arrays more than 32 levels deep")


def test_dev_zero_as_configuration_is_one_line(tmp_path):
    _refused(["run", "/dev/zero", "--out", str(tmp_path / "r")], tmp_path,
             r"'/dev/zero' is not a regular file \(a device, pipe or socket\)")  # fmt: skip


def test_a_configuration_over_1_mib_is_refused(tmp_path):
    (tmp_path / "big.toml").write_text("# " + "x" * (1 << 20) + "\n")
    with pytest.raises(ValueError, match=r"big\.toml' is larger than 1024 KiB"):
        load_config(tmp_path / "big.toml")


def test_stimuli_range_with_a_billion_levels_is_one_line(tmp_path):
    _refused(["stimuli", "--out", str(tmp_path / "s"), "--size", "0:1e9:1e-9"], tmp_path,
             r"argument --size: a range may give at most 10000 levels .*'0:1e9:1e-9' gives "
             r"1e\+18")  # fmt: skip


def test_stimuli_dropping_every_point_is_one_line(tmp_path):
    argv = ["stimuli", "--out", str(tmp_path / "s"), "--size", "300", "--on-misfit", "drop"]
    _refused(argv, tmp_path, r"Object of size 300 px .*on_misfit='drop' would leave no stimuli")


def test_a_grid_of_too_many_points_is_refused():
    with pytest.raises(ValueError, match=r"A grid over size \(3000 levels\), x \(3000 levels\), "
                       r"y \(2 levels\) has 18,000,000 points"):  # fmt: skip
        grid(size=np.arange(1, 3001), x=np.arange(1, 3001), y=[112, 113])


# ----------------------------------------------------------------- 13: misleading results


def test_n_boot_of_1_is_refused_and_a_thin_tail_warned_about():
    acts = xr.DataArray(np.arange(8.0)[:, None], dims=("stimulus", "unit"),
                        coords={"size": ("stimulus", np.repeat([1, 2], 4))})  # fmt: skip
    with pytest.raises(ValueError, match=r"'n_boot' parameter of tuning_curves must be an int >= "
                       r"10 \(.*with 1 its width is 0\); got 1\."):  # fmt: skip
        tuning_curves(acts, "size", n_boot=1)
    with pytest.warns(UserWarning, match=r"n_boot=20 resamples of tuning_curves leave fewer than "
                      r"one in each tail of a 95% interval.*use n_boot >= 40"):  # fmt: skip
        tuning_curves(acts, "size", n_boot=20)


class _TwiceApplied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.fc(x.flatten(1))))


def test_a_linear_applied_twice_is_named_in_a_warning():
    model = probing.load_model(_TwiceApplied(), input_size=2, mean=(0.0,), std=(1.0,))
    with pytest.warns(UserWarning, match=r"Layer\(s\) 'fc' \(2 times\) of model '_TwiceApplied' "
                      r"run more than once in one forward pass; capture records only each one's "
                      r"first call"):  # fmt: skip
        probing.fc_layers(model)


# ----------------------------------------------------------------- 16: every problem at once


def test_every_problem_of_a_configuration_is_reported_at_once(tmp_path):
    text = (
        "[stimuli]\nsize = [-3, 16]\ncontrast = [2]\n[model]\nbatch_size = 0\nlayerz = []\n"
        "[analysis]\nn_bins = 1\nestimator = 'ksg'\n"
    )
    err = _run_config(tmp_path, text, r"The configuration has 6 problems: \(1\) The 'contrast'")
    parts = [
        r"\(2\) The 'size' key of \[stimuli\] must be a list of positive sizes",
        r"\(3\) Unknown key 'layerz' in \[model\]; did you mean 'layers'\?",
        r"\(4\) The 'batch_size' key of \[model\] must be an integer >= 1",
        r"\(5\) The 'estimator' key of \[analysis\]",
        r"\(6\) The 'n_bins' key of \[analysis\] must be an integer >= 2; got 1\.$",
    ]
    for part in parts:
        assert re.search(part, err), (part, err)


def test_problems_across_tables_are_reported_together(tmp_path):
    text = f"{SMALL}[analysis]\ntuning = ['y']\nn_bins = 8\nn_splits = 3\n"
    err = _run_config(tmp_path, text, r"The configuration has 3 problems")
    assert "'tuning' key of [analysis] names 'y'" in err
    assert "'n_splits' key of [analysis] must be at most 2 to decode 'size'" in err
    assert "The 'n_bins' parameter of unit_table must be at most 2 for 4 stimuli" in err


def test_problems_of_several_runs_name_their_run():
    with pytest.raises(ValueError, match=r"2 problems: \(1\) run 'a': The 'n_bins' key .* \(2\) "
                       r"run 'b': The 'estimator' key"):  # fmt: skip
        parse_config({"run": [{"name": "a", "analysis": {"n_bins": 1}},
                              {"name": "b", "analysis": {"estimator": "ksg"}}]})  # fmt: skip


def test_defaults_that_name_factors_follow_a_grid_without_y():
    config = RunConfig(stimuli=StimuliConfig(size=[16, 32], x=[80, 140], y=[112]))
    assert config.analysis.tuning == ("size", "x")
    assert config.analysis.decode == ("size", "x")
    assert config.analysis.factors == ("size", "position")
    assert (config.analysis.n_bins, config.analysis.n_splits) == (2, 2)
    # what the user names is kept, and checked
    assert AnalysisConfig(tuning=("size",)).tuning == ("size",)
    with pytest.raises(ValueError, match=r"'decode' key of \[analysis\] names 'y', which the "
                       r"stimuli do not vary"):  # fmt: skip
        RunConfig(stimuli=StimuliConfig(y=[112]), analysis=AnalysisConfig(decode=("y",)))


@pytest.mark.slow  # a whole run: ~10 s
def test_a_grid_without_y_runs_with_the_defaults(tmp_path):
    (tmp_path / "c.toml").write_text(SMALL + "[analysis]\nn_permutations = 20\n[output]\n"
                                     "plots = false\n")  # fmt: skip
    code, err = _cli(["run", str(tmp_path / "c.toml"), "--out", str(tmp_path / "res"), "--quiet"])
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "res" / "tuning").iterdir()) == ["size.nc", "x.nc"]
