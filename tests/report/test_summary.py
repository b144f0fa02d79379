"""The report's first screen: every number in its sentences and table equals units.csv's."""

from __future__ import annotations

import re
import warnings
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from factorprobe import analysis
from factorprobe.pipeline.config import AnalysisConfig
from factorprobe.pipeline.runner import analyze
from factorprobe.report.build import make_report

OPTIONS = AnalysisConfig(
    factors=("size", "position"), n_permutations=100, tuning=("size", "x", "y"), n_boot=40,
    decode=("size", "x"), n_splits=2, cka=False,
)  # fmt: skip


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("glance")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        acts = analysis.planted_units(
            kinds=("size", "position", "conjunctive", "noise"), n_units=3, n_sizes=4, n_x=3,
            n_y=3, seed=0,
        )  # fmt: skip
    layer = np.where(np.arange(acts.sizes["unit"]) % 3 == 0, "even", "odd")
    acts.drop_vars("kind").assign_coords(layer=("unit", layer)).to_netcdf(
        folder / "activations.nc", engine="h5netcdf"
    )
    analyze(folder, config=OPTIONS, quiet=True)
    return make_report(folder, quiet=True)


class _Glance(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.items: dict[str, str] = {}
        self._layer: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "li" and dict(attrs).get("data-layer"):
            self._layer = dict(attrs)["data-layer"]

    def handle_data(self, data):
        if self._layer is not None:
            self.items[self._layer] = self.items.get(self._layer, "") + data

    def handle_endtag(self, tag):
        if tag == "li":
            self._layer = None


def expected_counts(units: pd.DataFrame, alpha: float) -> dict[str, dict[str, float]]:
    """From units.csv, independently of the report's code."""
    out = {}
    for layer, rows in units.groupby("layer", sort=False):
        size = rows["q_value_size"].fillna(1) < alpha
        position = rows["q_value_position"].fillna(1) < alpha
        out[str(layer)] = {
            "units": len(rows),
            "size": int(size.sum()),
            "position": int(position.sum()),
            "both": int((size & position).sum()),
            "only size": int((size & ~position).sum()),
            "only position": int((~size & position).sum()),
            "neither": int((~size & ~position).sum()),
            "si": float(rows["selectivity"].median()),
            "with si": int(rows["selectivity"].notna().sum()),
            "eta size": float(rows["eta_squared_size"].median()),
            "eta position": float(rows["eta_squared_position"].median()),
        }
    return out


def test_the_sentences_say_the_tables_numbers(report):
    units = pd.read_csv(report.parent / "units.csv")
    expected = expected_counts(units, 0.05)
    page = _Glance()
    page.feed(report.read_text(encoding="utf-8"))
    assert set(page.items) == set(expected) == {"even", "odd"}
    layers = pd.read_csv(report.parent / "layers.csv")
    for layer, want in expected.items():
        text = page.items[layer]
        pattern = (
            rf"{layer}: of (\d+) units, (\d+) code size, (\d+) code position; (\d+) code both, "
            rf"(\d+) only size, (\d+) only position; (\d+) code neither\. Median SI ([\d.]+|none) "
            rf"\((\d+) units with an SI\)\. Median variance share \(η²\): size ([\d.]+), "
            rf"position ([\d.]+)\."
        )
        found = re.match(pattern, text)
        assert found, text
        got = [float("nan") if g == "none" else float(g) for g in found.groups()]
        assert got[:7] == [want[k] for k in ("units", "size", "position", "both", "only size",
                                             "only position", "neither")]  # fmt: skip
        assert got[7] == pytest.approx(round(want["si"], 2), abs=0.006, nan_ok=True)
        assert got[8] == want["with si"]
        assert got[9] == pytest.approx(round(want["eta size"], 2), abs=0.006)
        assert got[10] == pytest.approx(round(want["eta position"], 2), abs=0.006)
        for _, row in layers[layers["layer"] == layer].iterrows():
            assert f"{row['factor']} {row['accuracy']:.2f} (chance {row['chance']:.2f})" in text
        assert "random directions" in text.lower()


def test_the_glance_table_is_the_same_counts(report):
    """coding_counts (the page's table) equals the counts made from units.csv."""
    from factorprobe.io.files import load_netcdf
    from factorprobe.report.summary import coding_counts

    units = pd.read_csv(report.parent / "units.csv")
    expected = expected_counts(units, 0.05)
    frame = coding_counts(load_netcdf(report.parent / "units.nc"))
    for layer, want in expected.items():
        row = frame.loc[layer]
        assert int(row["codes size"]) == want["size"]
        assert int(row["codes position"]) == want["position"]
        assert int(row["both"]) == want["both"]
        assert int(row["only size"]) == want["only size"]
        assert int(row["neither"]) == want["neither"]
        assert row["median SI"] == pytest.approx(want["si"], nan_ok=True)
        assert row["median eta² size"] == pytest.approx(want["eta size"])
    html = report.read_text(encoding="utf-8")
    assert "<th>only position</th>" in html and "<th>neither</th>" in html
