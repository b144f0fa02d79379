"""A sweep's report puts its runs side by side, with the runs' own numbers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from factorprobe import analysis
from factorprobe.io.files import load_netcdf
from factorprobe.pipeline.config import AnalysisConfig
from factorprobe.pipeline.runner import analyze
from factorprobe.report.summary import coding_counts
from factorprobe.report.sweep import sweep_frame, write_sweep_html

OPTIONS = AnalysisConfig(
    factors=("size", "position"), n_permutations=300, tuning=(), decode=("size",), n_splits=2,
    cka=False,
)  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    folders = []
    for name, kinds in (("sizey", ("size", "noise")), ("placey", ("position", "noise"))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            acts = analysis.planted_units(kinds=kinds, n_units=3, n_sizes=4, n_x=3, n_y=3, seed=1)
        layer = np.where(np.arange(acts.sizes["unit"]) % 2 == 0, "l1", "l2")
        folder = root / name
        folder.mkdir()
        acts.drop_vars("kind").assign_coords(layer=("unit", layer)).to_netcdf(
            folder / "activations.nc", engine="h5netcdf"
        )
        folders.append(analyze(folder, config=OPTIONS, quiet=True))
    return root, folders


def test_the_frame_holds_each_runs_fractions_and_decoders(runs):
    _, folders = runs
    frame = sweep_frame(folders)
    assert list(dict.fromkeys(frame.index.get_level_values("run"))) == ["sizey", "placey"]
    for folder in folders:
        counts = coding_counts(load_netcdf(folder / "units.nc"))
        one = frame.loc[folder.name]
        for column in ("codes size", "codes position", "both", "neither"):
            np.testing.assert_allclose(one[column], counts[column] / counts["units"])
        layers = load_netcdf(folder / "layers.nc")
        np.testing.assert_allclose(one["accuracy size"],
                                   layers["accuracy"].sel(factor="size").values)  # fmt: skip
    assert frame.loc["sizey", "codes size"].mean() > frame.loc["placey", "codes size"].mean()


def test_the_sweep_page_is_self_contained_and_links_the_runs(runs):
    root, folders = runs
    path = write_sweep_html(root, folders)
    page = path.read_text(encoding="utf-8")
    assert path == root / "report.html"
    assert 'href="sizey/report.html"' in page and 'href="placey/report.html"' in page
    assert page.count("data:image/png;base64,") == 1
    assert "<script" not in page and "http" not in page.replace("http-equiv", "")


def test_report_on_a_sweeps_folder_redraws_the_runs_and_the_comparison(runs):
    from factorprobe.report.build import make_report

    root, folders = runs
    assert make_report(root, quiet=True) == root / "report.html"
    assert all((f / "report.html").is_file() for f in folders)
