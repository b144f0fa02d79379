"""report.html: self-contained, every section present, escaped; opened in headless Chromium."""

from __future__ import annotations

import base64
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from factorprobe.analysis import planted_units, unit_table
from factorprobe.pipeline._analysis_outputs import write_report_inputs
from factorprobe.pipeline.runner import run
from factorprobe.report.html import layer_summary, write_html
from tests.report.browser import INSTALL_HINT, find_chromium, load_page

TINYNET = """
import torch.nn as nn


def build(width=8):
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=2), nn.SiLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(4, width), nn.SiLU(), nn.Linear(width, 3),
    )
"""
CONFIG = """
name = "tiny-report"
[stimuli]
size = [4, 6, 8, 10]
x = [10, 16, 22]
y = [10, 22]
[model]
name = "python:tinynet_h11:build"
input_size = 32
mean = [0.0]
std = [1.0]
kwargs = {width = 10}
layers = ["4"]
[analysis]
n_permutations = 50
n_boot = 20
n_splits = 2
tuning = ["size", "x", "y"]
decode = ["size"]
[ablation]
layer = "4"
rankings = ["mi:size"]
grid = 3
"""
EVIL = '<script>alert("x")</script>&'


class _Page(HTMLParser):
    """Tags, attributes, ids and text of a document, as the browser's parser would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def attrs_of(self, tag: str, name: str) -> list[str]:
        return [str(a[name]) for t, a in self.tags if t == tag and a.get(name) is not None]

    @property
    def ids(self) -> set[str]:
        return {str(a["id"]) for _, a in self.tags if a.get("id")}


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """A real run (tiny torch model at 32 px, one layer, with ablation); writes report.html."""
    folder = tmp_path_factory.mktemp("report")
    (folder / "tinynet_h11.py").write_text(TINYNET)
    (folder / "run.toml").write_text(CONFIG)
    return run(folder / "run.toml", out=folder / "results", quiet=True)


@pytest.fixture(scope="module")
def planted_results(tmp_path_factory) -> Path:
    """A results folder made by hand: planted units in a layer with a hostile name, a hostile
    configuration and run name, activations as NetCDF, the analysis outputs the report draws
    (random directions, basis comparison, response maps), no tuning, layer or ablation files."""
    folder = tmp_path_factory.mktemp("planted")
    acts = planted_units(kinds=("size", "position"), n_units=3, n_sizes=4, n_x=3, n_y=3, seed=0)
    acts = acts.assign_coords(layer=("unit", np.full(acts.sizes["unit"], EVIL)))
    table = unit_table(acts, n_permutations=200, seed=0)
    table.to_netcdf(folder / "units.nc", engine="h5netcdf")
    options = {"n_permutations": 200, "seed": 0}
    write_report_inputs(acts, table, folder, options=options, timings={})
    acts.drop_vars(["kind"]).to_netcdf(folder / "activations.nc", engine="h5netcdf")
    (folder / "config.toml").write_text(f'name = "x"\n# {EVIL}</pre>\n')
    (folder / "manifest.json").write_text(json.dumps({"run": EVIL, "versions": {"numpy": EVIL}}))
    return folder


@pytest.fixture(scope="module")
def planted_report(planted_results) -> Path:
    """Its report, written elsewhere (``out``)."""
    out = planted_results / "elsewhere" / "r.html"
    assert write_html(planted_results, out=out, quiet=True) == out
    return out


# --------------------------------------------------------------------------- structure


def test_a_run_writes_report_html_through_the_report_seam(results):
    report = results / "report.html"  # run -> make_report -> write_html
    assert report.is_file() and report.stat().st_size > 50_000
    assert not [p.name for p in results.iterdir() if ".tmp-" in p.name]
    # written inside the run's temporary folder, it names the run, not that folder
    raw = report.read_text()
    assert "factorprobe report: tiny-report" in raw and ".tmp-" not in raw


def test_every_section_is_present(results):
    page = _parse(results / "report.html")
    assert {"overview", "layer-0", "provenance"} <= page.ids
    text = " ".join(page.text)
    for heading in (
        "Layers at a glance",
        "Population decoding",
        "Linear CKA",
        "Stimuli",
        "Layer 4",
        "Summary",
        "Top 3 units per factor",
        "Basis units against random directions",
        "Cumulative ablation",
        "Configuration (config.toml)",
        "Versions that produced the results",
    ):
        assert heading in text, heading
    assert 'name = "tiny-report"' in text  # the saved configuration, verbatim
    assert "torch" in text and "numpy" in text  # versions from manifest.json
    alts = " ".join(page.attrs_of("img", "alt"))
    for figure in ("selectivity scatter", "histograms", "tuning curves", "response maps",
                   "basis units against random directions", "ablation curves"):  # fmt: skip
        assert figure in alts, figure


def test_every_image_is_an_embedded_png(results):
    sources = _parse(results / "report.html").attrs_of("img", "src")
    assert len(sources) >= 8
    prefix = "data:image/png;base64,"
    assert all(s.startswith(prefix) for s in sources)
    for s in sources:
        image = Image.open(io.BytesIO(base64.b64decode(s[len(prefix) :])))
        assert image.format == "PNG" and min(image.size) > 50


def test_nothing_is_fetched_from_anywhere(results):
    page = _parse(results / "report.html")
    assert not [t for t, _ in page.tags if t in ("script", "link", "iframe", "object", "embed")]
    for _, attrs in page.tags:
        for name in ("src", "href", "srcset", "action", "data"):
            value = attrs.get(name)
            assert value is None or value.startswith(("data:", "#")), (name, value)
    anchors = {h[1:] for h in page.attrs_of("a", "href")}
    assert anchors and anchors <= page.ids  # every contents link lands on a section
    raw = (results / "report.html").read_text()
    assert "url(" not in raw and "@import" not in raw


def test_data_and_configuration_are_escaped(planted_report):
    path = planted_report
    raw = path.read_text()
    assert "<script" not in raw and "</pre>\n" not in raw.split("<pre>")[1].split("</pre>")[0]
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in raw
    page = _parse(path)
    text = " ".join(page.text)
    assert f"Layer {EVIL}" in text  # the parser unescapes: the name shows as written
    assert not [t for t, _ in page.tags if t == "script"]


def test_missing_optional_files_leave_their_sections_out(planted_report):
    page = _parse(planted_report)
    text = " ".join(page.text)
    assert "Population decoding" not in text and "Cumulative ablation" not in text
    # no tuning/: no tuning curves, and a note naming the files; the saved maps are drawn
    alts = " ".join(page.attrs_of("img", "alt"))
    assert "tuning curves" not in alts and "response maps" in alts
    assert "Not drawn: tuning/x.nc, tuning/y.nc are not in the results folder" in text
    assert "basis units against random directions" in alts


def test_out_writes_elsewhere_atomically(planted_results, planted_report):
    assert planted_report.read_text().startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in planted_report.parent.iterdir()) == ["r.html"]
    assert not (planted_results / "report.html").exists()


# --------------------------------------------------------------------------- numbers


def test_layer_summary_matches_the_table_computed_by_hand():
    acts = planted_units(
        kinds=("size", "position", "noise"), n_units=2, noise=(0.2, 0.6), n_x=3, n_y=3,
        repeats=3, seed=1,
    )  # fmt: skip
    layer = np.where(np.arange(acts.sizes["unit"]) % 2 == 0, "b", "a")
    table = unit_table(acts.assign_coords(layer=("unit", layer)), n_permutations=100, seed=0)
    summary = layer_summary(table)
    assert summary.index.tolist() == ["b", "a"]  # order of the units, not alphabetical
    for name in ("a", "b"):
        rows = table.isel(unit=np.flatnonzero(layer == name))
        q = rows["q_value"].sel(factor="size").values
        assert summary.loc[name, "units"] == rows.sizes["unit"]
        assert summary.loc[name, "q < 0.05: size"] == pytest.approx(np.mean(q < 0.05))
        mi = rows["mi"].sel(factor="position").values
        assert summary.loc[name, "median MI position (bits)"] == pytest.approx(np.median(mi))
        si = rows["selectivity"].values
        assert np.isfinite(si).any()
        assert summary.loc[name, "median SI"] == pytest.approx(np.nanmedian(si))
        assert summary.loc[name, "units with SI"] == np.isfinite(si).sum()
        preferred = rows["preferred_factor"].values
        assert summary.loc[name, "preferred: none"] == np.sum(preferred == "none")
        counts = summary.loc[name, [c for c in summary if c.startswith("preferred: ")]]
        assert counts.sum() == rows.sizes["unit"]


def test_layer_summary_without_layer_coordinate_is_one_row():
    acts = planted_units(kinds=("size",), n_units=2, n_x=3, n_y=3, seed=0).drop_vars("layer")
    summary = layer_summary(unit_table(acts, n_permutations=20))
    assert summary.index.tolist() == ["all units"]
    assert summary["units"].iloc[0] == acts.sizes["unit"] == 6


# --------------------------------------------------------------------------- errors


def test_a_folder_without_units_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"is not a results folder: it has no units\.nc"):
        write_html(tmp_path)


@pytest.mark.parametrize(
    ("option", "value", "error", "match"),
    [
        ("top", 0, ValueError, "'top' parameter of write_html"),
        ("n_directions", 1, ValueError, "'n_directions' parameter of write_html"),
        ("dpi", 2.5, TypeError, "'dpi' parameter of write_html"),
    ],
)
def test_bad_options_are_named(planted_results, option, value, error, match):
    with pytest.raises(error, match=match):
        write_html(planted_results, **{option: value})


def test_n_directions_is_deprecated_and_ignored(planted_results, tmp_path):
    with pytest.warns(DeprecationWarning, match="'n_directions' parameter of write_html"):
        write_html(planted_results, out=tmp_path / "r.html", n_directions=16, quiet=True)


# --------------------------------------------------------------------------- in a browser


@pytest.fixture(scope="module")
def chromium():
    if find_chromium() is None:
        pytest.skip(INSTALL_HINT)


def test_the_browser_check_catches_errors_and_requests(chromium, tmp_path):
    """Control: a page with a script error, a console error and a missing image fails it."""
    bad = tmp_path / "bad.html"
    bad.write_text('<p>x</p><img src="missing.png"><script>console.error("boom"); f();</script>')
    load = load_page(bad, width=400, height=300)
    assert any("boom" in e for e in load.console)
    assert load.exceptions and load.failed
    assert any(u.endswith("missing.png") for u in load.requests)


def test_report_renders_in_chromium_without_errors(chromium, results, tmp_path):
    load = load_page(results / "report.html", width=1280, height=2000)
    (tmp_path / "report.png").write_bytes(load.screenshot)
    assert load.errors == []
    assert all(u.startswith(("file:", "data:")) for u in load.requests), load.requests
    pixels = np.asarray(Image.open(io.BytesIO(load.screenshot)).convert("RGB"))
    assert pixels.shape == (2000, 1280, 3)
    assert pixels.std() > 20  # not blank
    colours = np.unique(pixels.reshape(-1, 3)[::7], axis=0)
    assert len(colours) > 200  # text, tables and figures, not a flat page


GLANCE_JS = """JSON.stringify({
  glance: [...document.querySelectorAll('#glance li')].map(li => [li.dataset.layer, li.innerText]),
  sheet: (() => { const img = document.querySelector('figure.sheet img');
                  return img ? [img.getBoundingClientRect().width, img.naturalWidth] : null; })()
})"""


def test_the_summary_in_chromium_says_the_tables_numbers(chromium, results):
    """The first screen as the browser renders it: each layer's counts equal units.csv's, and
    the contact sheet is shown at a size where its labels are >= 10 px."""
    import re

    import pandas as pd

    from factorprobe.stimuli.sheet import MIN_LABEL_PX
    from tests.report.test_summary import expected_counts

    load = load_page(results / "report.html", width=1280, height=1200, evaluate=GLANCE_JS)
    assert load.errors == []
    seen = json.loads(load.value)
    expected = expected_counts(pd.read_csv(results / "units.csv"), 0.05)
    assert {layer for layer, _ in seen["glance"]} == set(expected)
    for layer, text in seen["glance"]:
        want = expected[layer]
        found = re.match(rf"{re.escape(layer)}: of (\d+) units, (\d+) code size, (\d+) code "
                         rf"position; (\d+) code both, (\d+) only size, (\d+) only position; "
                         rf"(\d+) code neither", text)  # fmt: skip
        assert found, text
        assert [int(g) for g in found.groups()] == [
            want[k] for k in ("units", "size", "position", "both", "only size", "only position",
                              "neither")
        ]  # fmt: skip
    shown, natural = seen["sheet"]
    sheet = Image.open(results / "plots" / "stimuli.png")
    assert natural == sheet.size[0]
    # the labels' font is label_px image pixels (recorded in the PNG); on screen, x shown/natural
    on_screen = int(sheet.info["label_px"]) * shown / natural
    assert on_screen >= MIN_LABEL_PX - 0.5 >= 10
