"""End to end: 'factorprobe run/analyze/report' on a small sweep, outputs read back and checked."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from factorprobe.cli import main
from factorprobe.pipeline.config import RunConfig, load_config, parse_config
from factorprobe.pipeline.runner import analyze, capture_run, load_run_model, run
from factorprobe.probing import open_activations

SWEEP = """
[stimuli]
size = [16, 32, 48]
x = [60, 112, 164]
y = [60, 164]

[model]
layers = ["fc1", "fc2"]

[analysis]
n_permutations = 50
n_boot = 20
n_splits = 3
tuning = ["size"]
decode = ["size", "x"]

[[run]]
name = "zarr-run"

[[run]]
name = "nc-run"
[run.analysis]
factors = ["size", "x", "y"]
[run.output]
activations = "netcdf"
plots = false
"""
N_STIMULI = 18
N_UNITS = 256  # fc1 and fc2 of the embedded model, 128 units each


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep")
    config = folder / "sweep.toml"
    config.write_text(SWEEP)
    started = time.perf_counter()
    code, out, err = _cli("run", str(config), "--out", str(folder / "results"))
    return {
        "code": code,
        "out": out,
        "err": err,
        "root": folder / "results",
        "config": config,
        "seconds": time.perf_counter() - started,
    }


def test_run_exits_0_and_writes_one_folder_per_run_plus_combined_tables(sweep):
    assert sweep["code"] == 0, sweep["err"]
    assert sweep["out"].strip() == f"results: {sweep['root']}"
    names = sorted(p.name for p in sweep["root"].iterdir())
    assert names == [
        "combined_layers.csv",
        "combined_units.csv",
        "combined_units.parquet",
        "nc-run",
        "report.html",  # the runs side by side
        "zarr-run",
    ]  # no temporary leftovers
    for name, store in (("zarr-run", "activations.zarr"), ("nc-run", "activations.nc")):
        files = {p.name for p in (sweep["root"] / name).iterdir()}
        expected = {"config.toml", "manifest.json", "units.csv", "units.parquet", "units.nc"}
        expected |= {"data_dictionary.csv", "layers.csv", "layers.nc", "tuning", store}
        assert expected <= files


def test_unit_table_has_one_row_per_layer_unit_and_every_measure_per_factor(sweep):
    folder = sweep["root"] / "zarr-run"
    csv = pd.read_csv(folder / "units.csv")
    parquet = pd.read_parquet(folder / "units.parquet")
    pd.testing.assert_frame_equal(csv, parquet, check_dtype=False)
    assert len(csv) == N_UNITS
    assert not csv.duplicated(["layer", "index"]).any()
    assert csv.groupby("layer").size().to_dict() == {"fc1": 128, "fc2": 128}
    for column in ("layer", "index", "entropy", "selectivity", "modularity", "preferred_factor"):
        assert column in csv.columns
    for measure in ("mi", "mi_raw", "p_value", "q_value", "kl_selectivity", "omega_squared"):
        assert {f"{measure}_size", f"{measure}_position"} <= set(csv.columns)
    assert np.isfinite(csv["mi_size"]).all()
    assert ((csv["p_value_size"] > 0) & (csv["p_value_size"] <= 1)).all()
    assert set(csv["preferred_factor"]) <= {"size", "position", "none"}
    # the wide table is the labelled unit table, column by column
    table = xr.open_dataset(folder / "units.nc", engine="h5netcdf").load()
    np.testing.assert_array_equal(csv["mi_position"], table["mi"].sel(factor="position").values)
    np.testing.assert_array_equal(csv["entropy"], table["entropy"].values)


def test_data_dictionary_describes_every_column_with_units_and_dtype(sweep):
    folder = sweep["root"] / "zarr-run"
    units = pd.read_parquet(folder / "units.parquet")
    dictionary = pd.read_csv(folder / "data_dictionary.csv", keep_default_na=False)
    assert dictionary["column"].tolist() == units.columns.tolist()
    assert (dictionary["description"].str.len() > 10).all()
    assert not dictionary["description"].str.contains("no description").any()
    rows = dictionary.set_index("column")
    assert rows.loc["mi_size", "units"] == "bits" and rows.loc["mi_size", "factor"] == "size"
    assert rows.loc["mi_size", "variable"] == "mi"
    assert rows.loc["selectivity", "units"] == "1" and rows.loc["selectivity", "factor"] == ""
    assert "[factor 'position']" in rows.loc["p_value_position", "description"]
    assert rows.loc["layer", "dtype"] == str(units["layer"].dtype)


def test_activations_reopen_in_both_formats_with_the_same_values(sweep):
    zarr_acts = open_activations(sweep["root"] / "zarr-run" / "activations.zarr").load()
    nc_acts = xr.open_dataarray(sweep["root"] / "nc-run" / "activations.nc", engine="h5netcdf")
    assert zarr_acts.dims == ("stimulus", "unit")
    assert zarr_acts.shape == nc_acts.shape == (N_STIMULI, N_UNITS)
    assert sorted(set(zarr_acts["size"].values.tolist())) == [16.0, 32.0, 48.0]
    np.testing.assert_allclose(zarr_acts.values, nc_acts.values, rtol=1e-5, atol=1e-6)


def test_combined_table_stacks_runs_with_a_run_column(sweep):
    combined = pd.read_csv(sweep["root"] / "combined_units.csv")
    assert combined.columns[0] == "run"
    assert combined["run"].value_counts().to_dict() == {"zarr-run": N_UNITS, "nc-run": N_UNITS}
    # factors one run did not analyse are empty in its rows
    assert combined.loc[combined["run"] == "zarr-run", "mi_x"].isna().all()
    assert combined.loc[combined["run"] == "nc-run", "mi_x"].notna().all()
    assert combined.loc[combined["run"] == "nc-run", "mi_position"].isna().all()
    nc_run = pd.read_csv(sweep["root"] / "nc-run" / "units.csv")
    mine = combined[combined["run"] == "nc-run"][nc_run.columns].reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, nc_run, check_dtype=False)
    layers = pd.read_csv(sweep["root"] / "combined_layers.csv")
    assert len(layers) == 2 * 2 * 2  # runs x layers x decoded factors


def test_layer_results_decoding_and_cka(sweep):
    folder = sweep["root"] / "zarr-run"
    layers = pd.read_csv(folder / "layers.csv")
    assert layers[["layer", "factor"]].values.tolist() == [
        ["fc1", "size"],
        ["fc1", "x"],
        ["fc2", "size"],
        ["fc2", "x"],
    ]
    assert layers["accuracy"].between(0, 1).all()
    np.testing.assert_allclose(layers["chance"], 1 / 3)
    assert (layers["v_information"] <= layers["entropy_factor"] + 1e-12).all()
    ds = xr.open_dataset(folder / "layers.nc", engine="h5netcdf").load()
    np.testing.assert_allclose(np.diag(ds["cka"].values), 1.0, atol=1e-6)
    tuning = xr.open_dataset(folder / "tuning" / "size.nc", engine="h5netcdf").load()
    assert tuning.sizes["unit"] == N_UNITS and tuning.sizes["level"] == 3


def test_manifest_records_stages_versions_and_sizes(sweep):
    folder = sweep["root"] / "zarr-run"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["run"] == "zarr-run"
    assert {"capture", "analyze", "report", "total"} <= set(manifest["stages"])
    for stage in manifest["stages"].values():
        assert stage["wall_s"] >= 0 and stage["cpu_s"] >= 0
    assert manifest["stages"]["total"]["wall_s"] < sweep["seconds"]
    assert manifest["versions"]["factorprobe"] and manifest["versions"]["torch"]
    assert manifest["files"]["units.csv"] == (folder / "units.csv").stat().st_size
    assert manifest["total_bytes"] == sum(manifest["files"].values())


def test_resolved_config_is_saved_and_reloads_to_the_run(sweep):
    runs = load_config(sweep["config"])
    for config in runs:
        (saved,) = load_config(sweep["root"] / config.name / "config.toml")
        assert saved.analysis == config.analysis and saved.stimuli == config.stimuli
        assert saved.model == config.model and saved.name == config.name


def test_plots_are_drawn_only_where_asked(sweep):
    plots = {p.name for p in (sweep["root"] / "zarr-run" / "plots").iterdir()}
    assert {"selectivity_scatter.png", "histograms.png", "tuning_size.png", "stimuli.png"} <= plots
    assert not (sweep["root"] / "nc-run" / "plots").exists()


def test_analyze_on_the_saved_store_reproduces_the_tables(sweep, tmp_path):
    folder = sweep["root"] / "zarr-run"
    code, out, err = _cli("analyze", str(folder / "activations.zarr"), "--out", str(tmp_path))
    assert code == 0, err
    assert out.strip() == f"analysis: {tmp_path}"
    for name in ("units.csv", "layers.csv", "data_dictionary.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / name), pd.read_csv(folder / name))


def test_analyze_with_another_config_changes_only_the_analysis(sweep, tmp_path):
    config = tmp_path / "plugin.toml"
    config.write_text(
        "[analysis]\nestimator = 'plugin'\nn_bins = 3\nn_permutations = 20\ntuning = []\n"
        "decode = []\ncka = false\n"
    )
    out = analyze(sweep["root"] / "nc-run", config=config, out=tmp_path / "plugin", quiet=True)
    table = xr.open_dataset(out / "units.nc", engine="h5netcdf").load()
    assert table.attrs["estimator"] == "plugin" and table.attrs["n_bins"] == 3
    assert not (out / "layers.csv").exists() and not (out / "tuning").exists()


def test_report_redraws_the_figures_from_saved_tables(sweep, tmp_path):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(sweep["root"] / "zarr-run", folder)
    for png in (folder / "plots").glob("*.png"):
        png.unlink()
    code, _, err = _cli("report", str(folder))
    assert code == 0, err
    drawn = {p.name for p in (folder / "plots").glob("*.png")}
    assert {"selectivity_scatter.png", "histograms.png", "tuning_size.png"} <= drawn


def test_report_of_a_folder_without_results_fails_in_one_line(tmp_path):
    code, _, err = _cli("report", str(tmp_path))
    assert code == 2
    assert err.count("\n") == 1 and "is not a results folder: it has no units.nc" in err


def test_rerun_with_the_same_config_keeps_the_results(sweep):
    folder = sweep["root"] / "zarr-run"
    before = (folder / "units.csv").stat().st_mtime_ns
    code, _, err = _cli("run", str(sweep["config"]), "--out", str(sweep["root"]), "--quiet")
    assert code == 0, err
    assert (folder / "units.csv").stat().st_mtime_ns == before


def test_existing_folder_with_other_results_is_refused_without_overwrite(sweep, tmp_path):
    config = tmp_path / "other.toml"
    config.write_text(SWEEP.replace("n_permutations = 50", "n_permutations = 40"))
    code, out, err = _cli("run", str(config), "--out", str(sweep["root"]), "--quiet")
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert "zarr-run' exists and holds other results; pass --overwrite" in err


def test_failure_leaves_no_half_written_folder(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text(SWEEP.split("[[run]]")[0].replace('["fc1", "fc2"]', '["fc1", "fc9"]'))
    code, _, err = _cli("run", str(config), "--out", str(tmp_path / "results"), "--quiet")
    assert code == 2
    assert err.count("\n") == 1 and "fc9" in err and "fc1" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["run", "absent.toml"], "No such file"),
        (["analyze", "absent.zarr"], "No activations at 'absent.zarr'"),
    ],
)
def test_cli_errors_are_one_line_with_exit_2(argv, match, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = _cli(*argv)
    assert code == 2 and err.count("\n") == 1 and match in err


def test_cli_config_error_names_the_key(tmp_path):
    config = tmp_path / "typo.toml"
    config.write_text("[analysis]\nn_bin = 4\n")
    code, _, err = _cli("run", str(config), "--out", str(tmp_path / "r"))
    assert code == 2
    assert "Unknown key 'n_bin' in [analysis]; did you mean 'n_bins'?" in err
    assert not (tmp_path / "r").exists()


def test_analyze_of_a_folder_without_activations_names_what_it_expects(tmp_path):
    with pytest.raises(ValueError, match=r"holds no activations; expected activations\.zarr or"):
        analyze(tmp_path)


# --------------------------------------------------------------------------- python: models

TINYNET = """
import torch.nn as nn


def build(width=8):
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=2), nn.SiLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(4, width), nn.SiLU(), nn.Linear(width, 2),
    )


def not_a_module():
    return 3
"""


def _tiny_config(folder: Path, **model: object) -> RunConfig:
    (folder / "tinynet_h10.py").write_text(TINYNET)
    table = {
        "name": "python:tinynet_h10:build",
        "input_size": 32,
        "mean": [0.0],
        "std": [1.0],
        "kwargs": {"width": 6},
        **model,
    }
    raw = {
        "stimuli": {"size": [4, 8], "x": [10, 16, 22], "y": [10, 22]},
        "model": table,
        "output": {"plots": False},
    }
    return parse_config(raw, base_dir=str(folder))[0]


def test_python_model_is_imported_from_the_config_folder_and_captured(tmp_path):
    config = _tiny_config(tmp_path)
    store = capture_run(config, tmp_path / "out", progress=False)
    acts = open_activations(store).load()
    assert acts.shape[0] == 12
    assert acts.attrs["model"] == "python:tinynet_h10:build"
    layers, counts = np.unique(acts["layer"].values, return_counts=True)
    # the Linear(4, width=6) layer (post-SiLU, recorded at module "4") has 6 units
    assert dict(zip(layers.tolist(), counts.tolist(), strict=True)) == {"2": 4, "4": 6, "6": 2}
    assert str(tmp_path.resolve()) not in sys.path


def test_python_model_loads_weights_relative_to_the_config(tmp_path):
    config = _tiny_config(tmp_path)
    torch.manual_seed(3)
    reference = load_run_model(config.model, base_dir=tmp_path).module
    torch.save(reference.state_dict(), tmp_path / "tiny.pt")
    weighted = _tiny_config(tmp_path, weights="tiny.pt")
    loaded = load_run_model(weighted.model, base_dir=tmp_path)
    expected, got = reference.state_dict(), loaded.module.state_dict()
    assert list(expected) == list(got)
    for a, b in zip(expected.values(), got.values(), strict=True):
        torch.testing.assert_close(a, b)
    assert loaded.weights.endswith("tiny.pt")


@pytest.mark.parametrize(
    ("name", "error", "match"),
    [
        ("python:tinynet_h10:missing", ValueError, r"Cannot import 'missing' from 'tinynet_h10'"),
        ("python:no_such_module_h10:build", ValueError, r"Cannot import 'build'"),
        ("python:tinynet_h10:not_a_module", TypeError, r"must return a torch.nn.Module; got int"),
    ],
)
def test_python_model_errors(tmp_path, name, error, match):
    config = _tiny_config(tmp_path, name=name, kwargs={})
    with pytest.raises(error, match=match):
        load_run_model(config.model, base_dir=tmp_path)


def test_python_model_weights_that_do_not_fit_are_refused(tmp_path):
    torch.save({"0.weight": torch.zeros(2, 2)}, tmp_path / "wrong.pt")
    config = _tiny_config(tmp_path, weights="wrong.pt")
    with pytest.raises(ValueError, match=r"Weights .*wrong.pt' do not fit 'python:tinynet_h10"):
        load_run_model(config.model, base_dir=tmp_path)


# --------------------------------------------------------------------------- the default run


@pytest.mark.slow
def test_default_run_finishes_within_two_minutes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    started = time.perf_counter()
    folder = run(progress="none")
    seconds = time.perf_counter() - started
    assert folder == Path("factorprobe-results")
    units = pd.read_parquet(folder / "units.parquet")
    assert len(units) == 516 and {"mi_size", "mi_position"} <= set(units.columns)
    assert seconds < 120 * max(1.0, os.getloadavg()[0] / 2)


@pytest.mark.slow
def test_ablation_table_runs_cumulative_ablation_into_the_results(tmp_path):
    config = tmp_path / "ablation.toml"
    text = SWEEP.split("[[run]]")[0].replace('decode = ["size", "x"]', 'decode = ["size"]')
    config.write_text(text + '\n[ablation]\nlayer = "fc1"\nrankings = ["mi:size"]\ngrid = 3\n')
    code, _, err = _cli("run", str(config), "--out", str(tmp_path / "r"), "--quiet")
    assert code == 0, err
    result = xr.open_dataset(tmp_path / "r" / "ablation" / "ablation.nc", engine="h5netcdf")
    assert result.attrs["layer"] == "fc1" and result.sizes["k"] == 3
    assert (tmp_path / "r" / "ablation" / "ablation.png").is_file()
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert "ablation" in manifest["stages"]
