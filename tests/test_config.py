"""Run configuration: defaults, TOML round trip, [[run]] merging, and every validation message."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from factorprobe.pipeline.config import (
    AblationConfig,
    AnalysisConfig,
    DaskConfig,
    ModelConfig,
    OutputConfig,
    RunConfig,
    StimuliConfig,
    dumps_config,
    load_config,
    parse_config,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _parse(text: str) -> list[RunConfig]:
    return parse_config(tomllib.loads(text))


def test_defaults_are_the_documented_default_sweep():
    config = RunConfig()
    assert config.stimuli.n_stimuli() == 6 * 7 * 7
    assert config.model.name == "embedded" and config.model.layers == ()
    assert config.analysis.factors == ("size", "position")
    assert config.ablation is None
    assert config.output.folder == "factorprobe-results"


def test_commented_example_states_exactly_the_defaults():
    (config,) = load_config(EXAMPLES / "default.toml")
    assert dataclasses.replace(config, base_dir=".") == RunConfig()


def test_two_models_example_gives_one_run_per_table_over_shared_defaults():
    runs = load_config(EXAMPLES / "two_models.toml")
    assert [r.name for r in runs] == ["embedded-disc", "embedded-square", "resnet18-random"]
    assert runs[1].stimuli.shape == ("square",) and runs[0].stimuli.shape == ("disc",)
    assert runs[2].model.name == "timm:resnet18" and runs[2].model.input_size == 224
    assert runs[2].analysis.decode == () and runs[0].analysis.decode == ("size", "x", "y")
    assert {r.stimuli.size for r in runs} == {(16.0, 24.0, 32.0, 40.0, 48.0, 56.0)}
    assert {r.output.folder for r in runs} == {"two-models-results"}


def test_toml_round_trip_keeps_every_value(tmp_path):
    config = RunConfig(
        name="rt",
        stimuli=StimuliConfig(size=[10, 20.5], x=[50, 60], y=[112, 120], shape=["disc", "square"]),
        model=ModelConfig(name="timm:resnet18", input_size=64, kwargs={"num_classes": 3}),
        analysis=AnalysisConfig(estimator="plugin", n_bins=4, compare=["size", "position"]),
        ablation=AblationConfig(layer="fc2", rankings=["selectivity"], method="mean"),
        output=OutputConfig(folder="out dir/ü", activations="netcdf"),
        dask=DaskConfig(scheduler="tcp://10.0.0.5:8786"),
    )
    path = tmp_path / "c.toml"
    path.write_text(dumps_config(config))
    (again,) = load_config(path)
    assert dataclasses.replace(again, base_dir=".") == dataclasses.replace(config, base_dir=".")
    assert again.base_dir == str(tmp_path.resolve())


def test_run_tables_override_single_keys_of_the_shared_tables():
    runs = _parse(
        """
        [analysis]
        n_permutations = 200
        n_bins = 4
        [[run]]
        name = "a"
        [[run]]
        name = "b"
        [run.analysis]
        n_bins = 6
        """
    )
    assert [(r.analysis.n_permutations, r.analysis.n_bins) for r in runs] == [(200, 4), (200, 6)]


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [
        (
            "[analysis]\nn_bin = 4",
            ValueError,
            r"Unknown key 'n_bin' in \[analysis\]; did you mean 'n_bins'\? valid keys: 'factors'",
        ),
        ("[analyses]\nn_bins = 4", ValueError, r"Unknown key 'analyses' in the top level; did you"),
        (
            "[analysis]\nestimator = 'ksg'",
            ValueError,
            r"The 'estimator' key of \[analysis\] must be one of 'plugin', 'copula'; got 'ksg'\.",
        ),
        (
            "[analysis]\ncorrection = 'mm'",
            ValueError,
            r"'correction' key of \[analysis\] must be one of 'shuffle', 'analytic', 'none'",
        ),
        (
            "[analysis]\nsignificance = 'ttest'",
            ValueError,
            r"'significance' .* one of 'permutation', 'gtest', 'none'; got 'ttest'",
        ),
        (
            "[analysis]\nquantizer = 'kmeans'",
            ValueError,
            r"'quantizer' .* one of 'quantile', 'uniform', 'threshold'",
        ),
        (
            "[analysis]\nn_permutations = '100'",
            TypeError,
            r"The 'n_permutations' key of \[analysis\] must be an integer >= 1; got '100'\.",
        ),
        ("[analysis]\nn_bins = 1", ValueError, r"'n_bins' key of \[analysis\] .* >= 2; got 1\."),
        ("[analysis]\nalpha = 1.5", ValueError, r"'alpha' .* in \[0.0, 1.0\]; got 1.5\."),
        ("[analysis]\nfamily_wise = 1", TypeError, r"'family_wise' .* true or false; got 1\."),
        ("[analysis]\nfactors = []", TypeError, r"'factors' .* non-empty list of names"),
        (
            "[analysis]\nfactors = ['size', 'size']",
            ValueError,
            r"'factors' .* distinct names; got \['size', 'size'\]",
        ),
        (
            "[analysis]\ncompare = ['size', 'shape']",
            ValueError,
            r"'compare' key of \[analysis\] must be a list of the analysed factors",
        ),
        (
            "[analysis]\nfactors = ['size', 'shape']",
            ValueError,
            r"'factors' key of \[analysis\] names 'shape', which the stimuli do not vary .*"
            r"valid: 'size', 'x', 'y', 'position'",
        ),
        (
            "[stimuli]\nx = 112\ny = 112\n",
            ValueError,
            r"names 'position', which the stimuli do not vary",
        ),
        (
            "[stimuli]\nshape = ['disc', 'hexagon']",
            ValueError,
            r"'shape' key of \[stimuli\] must be one of 'disc', 'square', 'triangle', 'cross'; "
            r"got 'hexagon'",
        ),
        ("[stimuli]\nsize = [16, -4]", ValueError, r"'size' .* positive sizes in pixels"),
        ("[stimuli]\nsize = []", ValueError, r"'size' .* a number or a non-empty list"),
        ("[stimuli]\nsize = [16, 16]", ValueError, r"'size' .* distinct numbers"),
        ("[stimuli]\nx = ['left', 'right']", TypeError, r"'x' .* a number; got 'left'"),
        ("[stimuli]\ncontrast = [0.5, 2]", ValueError, r"'contrast' .* numbers in \[0, 1\]"),
        ("[stimuli]\ncanvas = 4", ValueError, r"'canvas' .* integer >= 8; got 4"),
        ("[stimuli]\non_misfit = 'skip'", ValueError, r"'on_misfit' .* 'raise', 'drop'"),
        (
            "[model]\nname = 'resnet18'",
            ValueError,
            r"'name' key of \[model\] must be 'embedded', 'embedded:relu', 'embedded:flat', "
            r"'timm:NAME' or 'python:module:callable'; got 'resnet18'",
        ),
        ("[model]\nname = 'python:nets'", ValueError, r"'python:module:callable'"),
        (
            "[model]\nname = 'python:nets:build'",
            ValueError,
            r"name = 'python:nets:build' needs the keys 'input_size', 'mean', 'std'",
        ),
        ("[model]\npretrained = true", ValueError, r"'pretrained' .* not 'timm:NAME'"),
        (
            "[model]\nname = 'timm:resnet18'\npretrained = true\nweights = 'w.pt'",
            ValueError,
            r"'weights' key of \[model\] must be absent when pretrained = true",
        ),
        ("[model]\nmean = [0.5]\nstd = [0.5, 0.5]", ValueError, r"'std' .* as long as 'mean'"),
        ("[model]\nstd = [0.0]", ValueError, r"'std' key of \[model\] must be a finite number"),
        ("[model]\nkwargs = {a = 1}", ValueError, r"'kwargs' .* empty for 'embedded'"),
        ("[model]\nactivation = 'both'", ValueError, r"'activation' .* 'post', 'pre'"),
        ("[model]\nbatch_size = 0", ValueError, r"'batch_size' .* >= 1; got 0"),
        ("[model]\ndevice = 'tpu'", ValueError, r"'device' .* 'cpu', 'cuda', 'mps'; got 'tpu'"),
        ("[output]\nactivations = 'hdf5'", ValueError, r"'activations' .* 'zarr', 'netcdf'"),
        ("[output]\nfolder = ''", TypeError, r"'folder' key of \[output\] must be a non-empty"),
        ("[ablation]\nmethod = 'noise'", ValueError, r"'method' .* 'zero', 'mean'"),
        ("[ablation]\ndirections = ['up']", ValueError, r"'directions' .* 'highest', 'lowest'"),
        ("[ablation]\nn_random = 2", ValueError, r"'n_random' key of \[ablation\] .* >= 5"),
        ("[ablation]\ndecoder = 'svm'", ValueError, r"'decoder' .* 'logistic', 'lda'"),
        (
            "[ablation]\nrankings = ['mi:shape']",
            ValueError,
            r"'rankings' key of \[ablation\] names factor 'shape', .* valid factors: 'size'",
        ),
        ("name = 'a b'", ValueError, r"'name' key of a run must be letters, digits"),
        ("analysis = 3", TypeError, r"\[analysis\] must be a table; got 3"),
        ("[[run]]\nmodel = {}", ValueError, r"\[\[run\]\] number 1 needs a 'name'"),
        (
            "[[run]]\nname = 'a'\n[[run]]\nname = 'a'",
            ValueError,
            r"Run names must be distinct .* 'a' repeats",
        ),
        (
            "[[run]]\nname = 'b'\n[run.analysis]\nn_bins = 0",
            ValueError,
            r"^run 'b': The 'n_bins' key of \[analysis\]",
        ),
        ("[[run]]\nname = 'b'\nrun = []", ValueError, r"Unknown key 'run' in \[\[run\]\] number 1"),
        (
            "[analysis]\nnull = 'within'",
            ValueError,
            r"'null' key of \[analysis\] must be one of 'restricted', 'free'; got 'within'",
        ),
        (
            "[dask]\nschedular = 'threads'",
            ValueError,
            r"^Unknown key 'schedular' in \[dask\]; did you mean 'scheduler'\? valid keys: "
            r"'scheduler'\.$",
        ),
        (
            "[dask]\nscheduler = 'thread'",
            ValueError,
            r"^The 'scheduler' key of \[dask\] must be one of 'threads', 'synchronous', or the "
            r"address of a dask.distributed scheduler such as 'tcp://host:8786' \(starting with "
            r"'tcp://', 'tls://', .*\); got 'thread'\.$",
        ),
        ("[dask]\nscheduler = 'tcp://'", ValueError, r"'scheduler' key of \[dask\] .*got 'tcp://'"),
        (
            "[dask]\nscheduler = 'tcp://host :8786'",
            ValueError,
            r"'scheduler' key of \[dask\] must be one of .*; got 'tcp://host :8786'\.$",
        ),
        ("[dask]\nscheduler = 8786", TypeError, r"'scheduler' key of \[dask\] .*; got 8786\.$"),
        ("dask = 'threads'", TypeError, r"^\[dask\] must be a table; got 'threads'\.$"),
        (
            "[[run]]\nname = 'c'\n[run.dask]\nscheduler = 'processes'",
            ValueError,
            r"^run 'c': The 'scheduler' key of \[dask\] .*got 'processes'",
        ),
    ],
)
def test_every_invalid_value_gets_a_one_line_message_naming_key_and_choices(text, error, match):
    with pytest.raises(error, match=match) as info:
        _parse(text)
    assert "\n" not in str(info.value)


def test_invalid_toml_names_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[analysis\nn_bins = 4\n")
    with pytest.raises(ValueError, match=r"bad\.toml' is not valid TOML"):
        load_config(path)


def test_missing_file_is_an_oserror(tmp_path):
    with pytest.raises(OSError):
        load_config(tmp_path / "absent.toml")


def test_dataclasses_are_frozen_and_vary_with_replace():
    config = AnalysisConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.n_bins = 4  # type: ignore[misc]
    assert dataclasses.replace(config, n_bins=4).n_bins == 4
    with pytest.raises(ValueError, match=r"'n_bins' key of \[analysis\]"):
        dataclasses.replace(config, n_bins=1)


def test_scalars_become_one_level_and_ints_become_floats():
    stim = StimuliConfig(size=16, x=[40, 60], y=[40, 60], shape="square")
    assert stim.size == (16.0,) and stim.shape == ("square",)
    assert stim.n_stimuli() == 4
    assert isinstance(stim.x[0], float)


@pytest.mark.parametrize(
    "scheduler", ["threads", "synchronous", "tcp://10.0.0.5:8786", "tls://host:8786", "inproc://x"]
)
def test_dask_scheduler_takes_local_names_and_addresses_and_round_trips(scheduler):
    (config,) = _parse(f"[dask]\nscheduler = {scheduler!r}\n")
    assert config.dask.scheduler == scheduler
    text = dumps_config(config)
    assert text.endswith(f'[dask]\nscheduler = "{scheduler}"\n')
    assert _parse(text)[0] == config


def test_dask_table_defaults_to_threads_and_runs_override_it():
    assert RunConfig().dask == DaskConfig(scheduler="threads")
    runs = _parse(
        "[dask]\nscheduler = 'synchronous'\n[[run]]\nname = 'a'\n[[run]]\nname = 'b'\n"
        "[run.dask]\nscheduler = 'tcp://h:1'\n"
    )
    assert [r.dask.scheduler for r in runs] == ["synchronous", "tcp://h:1"]


def test_every_unit_table_option_of_the_config_reaches_unit_table():
    import inspect
    from dataclasses import fields

    from factorprobe.analysis import unit_table
    from factorprobe.pipeline.config import AnalysisConfig
    from factorprobe.pipeline.runner import _UNIT_TABLE_KEYS

    params = set(inspect.signature(unit_table).parameters)
    config_keys = {f.name for f in fields(AnalysisConfig)} & params
    assert config_keys - {"factors"} == set(_UNIT_TABLE_KEYS)
    assert "null" in _UNIT_TABLE_KEYS
