"""What analyze saves for the report (baseline, basis comparison, response maps), and a report
that only reads it: no measure recomputed, no torch, notes where a file is missing."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
import warnings
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from factorprobe import analysis
from factorprobe.analysis import basis_comparison, random_directions, unit_table
from factorprobe.io.files import load_netcdf
from factorprobe.io.results import BASELINE, BASIS_COMPARISON, N_DIRECTIONS, response_map_file
from factorprobe.pipeline.config import AnalysisConfig
from factorprobe.pipeline.runner import analyze
from factorprobe.report.build import make_report

OPTIONS = AnalysisConfig(
    factors=("size", "position"), n_permutations=50, tuning=("size", "x", "y"), n_boot=40,
    decode=(), cka=False,
)  # fmt: skip
MEASURES = ("unit_table", "random_directions", "basis_comparison", "tuning_curves", "response_map")


def _acts() -> xr.DataArray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        acts = analysis.planted_units(
            kinds=("size", "position"), n_units=3, n_sizes=4, n_x=3, n_y=3, seed=0
        )
    layer = np.where(np.arange(acts.sizes["unit"]) < 3, "a", "b")
    return acts.drop_vars("kind").assign_coords(layer=("unit", layer))


@pytest.fixture(scope="module")
def analysed(tmp_path_factory) -> Path:
    """A folder holding activations.nc, analysed by analyze (no report yet)."""
    folder = tmp_path_factory.mktemp("analysed")
    _acts().to_netcdf(folder / "activations.nc", engine="h5netcdf")
    return analyze(folder, config=OPTIONS, quiet=True)


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.alts: list[str] = []
        self.headings: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        self._in = tag
        if tag == "img":
            self.alts.append(str(dict(attrs).get("alt")))

    def handle_data(self, data):
        self.text.append(data)
        if self._in in ("h2", "h3", "h4"):
            self.headings.append(data.strip())

    def handle_endtag(self, tag):
        self._in = None


def _page(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _copy(folder: Path, to: Path) -> Path:
    shutil.copytree(folder, to)
    return to


# --------------------------------------------------------------------------- analyze


def test_analyze_writes_the_report_inputs_and_times_them(analysed):
    for name in (BASELINE, BASIS_COMPARISON, response_map_file("size"),
                 response_map_file("position")):  # fmt: skip
        assert (analysed / name).is_file(), name
    steps = json.loads((analysed / "manifest.json").read_text())["analyze_steps"]
    for key in ("random_directions", "basis_comparison", "response_map_size",
                "response_map_position"):  # fmt: skip
        assert set(steps[key]) == {"wall_s", "cpu_s"}, key


def test_the_baseline_is_the_unit_table_of_random_directions_with_the_tables_options(analysed):
    acts = load_netcdf(analysed / "activations.nc", array=True)
    pseudo = random_directions(acts, N_DIRECTIONS, seed=OPTIONS.seed)
    expected = unit_table(pseudo, ["size", "position"], n_permutations=50, seed=OPTIONS.seed)
    saved = load_netcdf(analysed / BASELINE)
    assert saved.sizes["unit"] == 2 * N_DIRECTIONS
    np.testing.assert_array_equal(saved["mi"].values, expected["mi"].values)
    np.testing.assert_array_equal(saved["selectivity"].values, expected["selectivity"].values)


def test_the_basis_comparison_matches_basis_comparison_per_measure(analysed):
    table, baseline = load_netcdf(analysed / "units.nc"), load_netcdf(analysed / BASELINE)
    saved = load_netcdf(analysed / BASIS_COMPARISON)
    assert saved["comparison"].values.tolist() == ["selectivity", "mi · size", "mi · position"]
    assert saved["layer"].values.tolist() == ["a", "b"]
    mi = basis_comparison(table["mi"].sel(factor="size"), baseline["mi"].sel(factor="size"))
    row = saved.sel(comparison="mi · size")
    for name in ("fraction_above", "p_value", "probability_greater", "n_units"):
        np.testing.assert_array_equal(row[name].values, mi[name].values)


def test_the_response_maps_are_response_map_of_every_unit(analysed):
    acts = load_netcdf(analysed / "activations.nc", array=True)
    saved = load_netcdf(analysed / response_map_file("position"), array=True)
    expected = analysis.response_map(acts, ("x", "y"))
    assert saved.dims == ("unit", "x", "y")
    np.testing.assert_array_equal(saved.values, expected.values)


# --------------------------------------------------------------------------- the report


def test_the_report_recomputes_nothing(analysed, tmp_path, monkeypatch):
    """With every measure replaced by one that raises, the report is the same page."""
    reference = _copy(analysed, tmp_path / "reference")
    make_report(reference, quiet=True)

    def forbidden(*args, **kwargs):
        raise AssertionError("the report computed a measure")

    for name in MEASURES:
        monkeypatch.setattr(analysis, name, forbidden)
    # the modules themselves too (a package attribute may shadow a module's name)
    for module, name in (("basis", "basis_comparison"), ("directions", "random_directions")):
        monkeypatch.setattr(importlib.import_module(f"factorprobe.analysis.{module}"), name,
                            forbidden)  # fmt: skip
    checked = _copy(analysed, tmp_path / "checked")
    make_report(checked, quiet=True)
    before, after = _page(reference / "report.html"), _page(checked / "report.html")
    assert after.headings == before.headings
    assert after.alts == before.alts
    assert "Basis units against random directions" in after.headings
    assert any("response maps" in a for a in after.alts)
    assert any("basis units against random directions" in a for a in after.alts)
    assert any("tuning curves" in a for a in after.alts)


def test_report_imports_neither_torch_nor_the_analysis_nor_the_pipeline(analysed, tmp_path):
    folder = _copy(analysed, tmp_path / "res")
    code = (
        "import sys; from factorprobe.cli import main; rc = main(['report', sys.argv[1], "
        "'--quiet']); bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith(("
        "'factorprobe.analysis', 'factorprobe.probing', 'factorprobe.interventions', "
        "'factorprobe.pipeline'))); print(rc, bad)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True,
                          text=True, check=True, env={"MPLBACKEND": "Agg", "PATH": ""})  # fmt: skip
    assert done.stdout.strip().splitlines()[-1] == "0 []", done.stdout + done.stderr


def test_a_folder_from_an_older_analysis_gets_notes_not_a_crash(analysed, tmp_path):
    folder = _copy(analysed, tmp_path / "old")
    shutil.rmtree(folder / "baseline")
    shutil.rmtree(folder / "response_maps")
    (folder / "tuning" / "size.nc").unlink()
    page = _page(make_report(folder, quiet=True))
    text = " ".join(page.text)
    assert f"This results folder has no {BASELINE} or {BASIS_COMPARISON}" in text
    assert f"Not drawn: {BASELINE} is not in the results folder" in text
    assert "`factorprobe analyze RESULTS` re-creates it" in text
    assert "Not drawn: tuning/size.nc, response_maps/size.nc are not in the results" in text
    assert not any("response maps" in a or "random directions" in a for a in page.alts)
    assert any("histograms" in a for a in page.alts)  # what units.nc alone gives is drawn
