"""Every command leaves something to open: analyze --out writes the report, report finds the
activations analyze read, and the README's ablate example decodes what it asks about."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from factorprobe import analysis
from factorprobe.cli import main
from factorprobe.io.files import read_json
from factorprobe.io.results import ACTIVATIONS


def _acts() -> xr.DataArray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        acts = analysis.planted_units(
            kinds=("size", "position"), n_units=2, n_sizes=4, n_x=3, n_y=3, seed=0
        )
    acts = acts.drop_vars("kind").assign_coords(layer=("unit", np.full(acts.sizes["unit"], "a")))
    return acts.assign_attrs(model="planted-model-h15")


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory) -> tuple[Path, Path]:
    """RES holds the activations; `factorprobe analyze RES --out OTHER` writes OTHER."""
    root = tmp_path_factory.mktemp("elsewhere")
    res, other = root / "res", root / "other"
    res.mkdir()
    _acts().to_netcdf(res / "activations.nc", engine="h5netcdf")
    (root / "fast.toml").write_text(
        "[analysis]\nn_permutations = 50\nn_boot = 40\ndecode = []\ncka = false\n"
        'tuning = ["size", "x", "y"]\n'
    )
    argv = ["analyze", str(res), "--config", str(root / "fast.toml"), "--out", str(other)]
    assert main([*argv, "--quiet"]) == 0
    return res, other


def test_analyze_into_another_folder_writes_the_report(elsewhere):
    _, other = elsewhere
    assert (other / "report.html").is_file()
    assert (other / "plots" / "histograms.png").is_file()


def test_the_report_finds_the_activations_of_the_folder_analyze_read(elsewhere):
    res, other = elsewhere
    assert read_json(other / "manifest.json")[ACTIVATIONS] == str(
        (res / "activations.nc").resolve()
    )
    assert main(["report", str(other), "--quiet"]) == 0
    page = (other / "report.html").read_text(encoding="utf-8")
    assert "planted-model-h15" in page  # the activations' attributes, read from RES
    assert "No activations" not in page


def test_analyze_no_report_writes_tables_only(elsewhere, tmp_path):
    res, _ = elsewhere
    out = tmp_path / "tables"
    config = res.parent / "fast.toml"
    assert main(["analyze", str(res), "--config", str(config), "--out", str(out), "--quiet",
                 "--no-report"]) == 0  # fmt: skip
    assert (out / "units.nc").is_file() and not (out / "report.html").exists()


@pytest.mark.parametrize(
    ("extra", "decoded"),
    [
        (["--factor", "size"], ["size"]),  # the README's example: only what it ranks by
        (["--factor", "size", "--factor", "position"], ["size", "position"]),
        (["--factor", "size", "--decode", "size,x"], ["size", "x"]),
        ([], ["size", "position"]),
    ],
)
def test_ablate_decodes_the_factors_it_ranks_by(monkeypatch, tmp_path, extra, decoded):
    from factorprobe.pipeline import ablate

    seen = {}

    def fake(*args, factors, **kwargs):
        seen["factors"] = factors
        return {"result": tmp_path / "ablation.nc"}

    monkeypatch.setattr(ablate, "write_ablation", fake)
    argv = ["ablate", "--stimuli", "s.nc", "--layer", "fc2", "--rank-by", "mi", "--out", "a"]
    assert main([*argv, *extra]) == 0
    assert seen["factors"] == decoded
