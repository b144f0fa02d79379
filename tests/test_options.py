"""One source of truth: the configuration's and the CLI's choices and defaults are the library's."""

from __future__ import annotations

import inspect
import typing

import pytest

from factorprobe import _options
from factorprobe.analysis import decoding, tuning_curves, unit_table
from factorprobe.analysis._estimate import CORRECTIONS, ESTIMATORS, SIGNIFICANCES
from factorprobe.analysis.quantize import QUANTIZERS
from factorprobe.analysis.table import NULLS
from factorprobe.cli import build_parser
from factorprobe.pipeline import config as cfg
from factorprobe.pipeline._config_checks import GridCount, GridDefault
from factorprobe.stimuli import SHAPES, grid, render

# [table] key -> (library function, its parameter)
ANALYSIS_KEYS = {
    key: (unit_table, key)
    for key in (
        *("factors", "compare", "estimator", "correction", "significance", "null"),
        *("n_permutations", "n_bins", "quantizer", "threshold", "alpha", "family_wise", "seed"),
        "pid",
    )
}
ANALYSIS_KEYS |= {"n_boot": (tuning_curves, "n_boot"), "n_splits": (decoding, "n_splits")}
STIMULI_KEYS = {
    "background": (render, "background"),
    "foreground": (render, "foreground"),
    "on_misfit": (grid, "on_misfit"),
}
# the ablation's defaults live in _options (torch-free); cumulative_ablation's signature uses them
ABLATION_KEYS = {
    "directions": "DEFAULT_DIRECTIONS",
    "grid": "DEFAULT_GRID",
    "n_random": "DEFAULT_N_RANDOM",
    "method": "DEFAULT_METHOD",
    "decoder": "DEFAULT_DECODER",
    "seed": "DEFAULT_SEED",
}
# deliberate differences, each with its reason
DIFFERENT = {
    ("analysis", "decode_c"): "one C for the run, not decoding's cross-validated grid (speed)",
    ("model", "batch_size"): "the run's memory knob; capture's default is larger",
}


def _default(function, name):
    return inspect.signature(function).parameters[name].default


def _plain(value):
    # the configuration marks the defaults a grid may narrow; their values are the library's
    if isinstance(value, GridDefault):
        return tuple(value)
    if isinstance(value, GridCount):
        return int(value)
    return value


@pytest.mark.parametrize(
    ("table", "key", "function", "parameter"),
    [("analysis", k, f, p) for k, (f, p) in ANALYSIS_KEYS.items()]
    + [("stimuli", k, f, p) for k, (f, p) in STIMULI_KEYS.items()],
)
def test_config_defaults_are_the_library_defaults(table, key, function, parameter):
    section = {"analysis": cfg.AnalysisConfig, "stimuli": cfg.StimuliConfig}[table]()
    assert _plain(getattr(section, key)) == _default(function, parameter)


@pytest.mark.parametrize(("key", "constant"), ABLATION_KEYS.items())
def test_ablation_defaults_are_cumulative_ablations(key, constant):
    pytest.importorskip("torch")
    from factorprobe.interventions import cumulative_ablation

    expected = getattr(_options, constant)
    assert getattr(cfg.AblationConfig(), key) == expected
    assert _default(cumulative_ablation, key) == expected


def test_the_run_ablates_with_the_librarys_logistic_decoder():
    assert cfg.AblationConfig().decoder == "logistic"


def test_config_choices_are_the_librarys_objects():
    assert (cfg.ESTIMATORS, cfg.CORRECTIONS, cfg.SIGNIFICANCES) == (
        ESTIMATORS,
        CORRECTIONS,
        SIGNIFICANCES,
    )
    assert cfg.ESTIMATORS is ESTIMATORS and cfg.CORRECTIONS is CORRECTIONS
    assert cfg.SIGNIFICANCES is SIGNIFICANCES and cfg.NULLS is NULLS
    assert cfg.QUANTIZERS is QUANTIZERS and cfg.SHAPES is SHAPES
    assert cfg.ABLATION_METHODS is _options.ABLATION_METHODS
    assert cfg.ABLATION_DIRECTIONS is _options.ABLATION_DIRECTIONS
    assert cfg.ABLATION_DECODERS is _options.ABLATION_DECODERS


def test_mirrored_choices_equal_the_library_literals():
    hints = typing.get_type_hints(grid)
    assert typing.get_args(hints["on_misfit"]) == cfg.MISFIT
    pytest.importorskip("torch")
    from factorprobe.interventions.ablation import METHODS
    from factorprobe.interventions.ablation._metrics import DECODERS
    from factorprobe.interventions.ablation._rankings import DIRECTIONS
    from factorprobe.probing.layers import ACTIVATIONS

    assert cfg.ACTIVATIONS == ACTIVATIONS
    assert METHODS is _options.ABLATION_METHODS and DECODERS is _options.ABLATION_DECODERS
    assert DIRECTIONS is _options.ABLATION_DIRECTIONS


def test_deliberate_differences_are_still_differences():
    # if one of these comes back into line, drop it from DIFFERENT
    assert cfg.AnalysisConfig().decode_c != _default(decoding, "C")
    pytest.importorskip("torch")
    from factorprobe.probing import capture

    assert cfg.ModelConfig().batch_size != _default(capture, "batch_size")
    assert set(DIFFERENT) == {("analysis", "decode_c"), ("model", "batch_size")}


def _actions(command):
    parser = build_parser().commands[command]
    return {a.dest: a for a in parser._actions}


def test_ablate_cli_options_are_cumulative_ablations():
    actions = _actions("ablate")
    pairs = {
        "method": ("ABLATION_METHODS", "DEFAULT_METHOD"),
        "decoder": ("ABLATION_DECODERS", "DEFAULT_DECODER"),
    }
    for dest, (choices, default) in pairs.items():
        assert actions[dest].choices is getattr(_options, choices)
        assert actions[dest].default == getattr(_options, default)
    assert actions["steps"].default == _options.DEFAULT_GRID
    assert actions["n_random"].default == _options.DEFAULT_N_RANDOM
    assert actions["n_splits"].default == _options.DEFAULT_N_SPLITS
    assert actions["seed"].default == _options.DEFAULT_SEED
    parsed = build_parser().parse_args(["ablate", "--stimuli", "s", "--layer", "l", "--out", "o"])
    # no --decode: the factors of --factor, else DEFAULT_FACTORS (test_commands_leave_output)
    assert parsed.decode is None


def test_stimuli_cli_options_are_the_librarys():
    actions = _actions("stimuli")
    assert tuple(actions["on_misfit"].choices) == cfg.MISFIT
    assert actions["on_misfit"].default == _default(grid, "on_misfit")
    assert actions["background"].default == _default(render, "background")
    assert actions["foreground"].default == _default(render, "foreground")
    assert actions["canvas"].default == _default(grid, "canvas")


def test_run_cli_progress_choices_are_runs():
    from factorprobe.pipeline._progress import PROGRESS_MODES
    from factorprobe.pipeline.runner import run

    action = _actions("run")["progress"]
    assert tuple(action.choices) == PROGRESS_MODES
    assert action.default == _default(run, "progress")
