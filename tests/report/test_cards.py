"""Unit cards: what the pipeline saves for them, the card figure and row, the CLI, the HTML."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from factorprobe.cli import main
from factorprobe.io.files import load_netcdf
from factorprobe.io.results import card_file
from factorprobe.io.saved import open_saved
from factorprobe.pipeline.cards import parse_unit
from factorprobe.pipeline.runner import run
from factorprobe.report.cards import card_anchor, card_units, unit_card, unit_row
from tests.report.test_html import TINYNET

CONFIG = """
name = "tiny-cards"
[stimuli]
size = [4, 6, 8, 10]
x = [10, 16, 22]
y = [10, 22]
[model]
name = "python:tinynet_cards:build"
input_size = 32
mean = [0.0]
std = [1.0]
kwargs = {width = 10}
layers = ["4"]
[analysis]
n_permutations = 50
n_boot = 40
n_splits = 2
tuning = ["size", "x", "y"]
decode = ["size"]
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cards")
    (folder / "tinynet_cards.py").write_text(TINYNET)
    (folder / "run.toml").write_text(CONFIG)
    return run(folder / "run.toml", out=folder / "results", quiet=True)


def test_parse_unit():
    assert parse_unit("fc1:17") == ("fc1", 17)
    assert parse_unit("blocks.3[2]") == ("blocks.3", 2)
    with pytest.raises(ValueError, match="LAYER:INDEX or LAYER\\[INDEX\\]"):
        parse_unit("fc1")


def test_the_run_saves_the_top_units_card_inputs(results):
    table = load_netcdf(results / "units.nc")
    units = card_units(table)
    assert units, "the tiny model codes size"
    for layer, index in units:
        card = xr.load_dataset(results / card_file(layer, index), engine="h5netcdf")
        acts = card["activation"].values
        assert card.sizes["strip"] == 10 and list(card["rank"].values[:2]) == ["most 1", "most 2"]
        assert np.all(np.diff(acts[:5]) <= 0) and np.all(np.diff(acts[5:]) >= 0)
        assert acts[:5].min() >= acts[5:].max()
        assert card["saliency"].shape == (32, 32)  # the model's input
        assert card["image"].shape[1:] == (32, 32)  # small images are not subsampled
        saved = open_saved(results / "activations.zarr")
        column = saved.isel(
            unit=int(
                np.flatnonzero((saved["layer"].values == layer) & (saved["index"].values == index))[
                    0
                ]
            )
        ).values
        np.testing.assert_allclose(acts[:5], np.sort(column)[::-1][:5])
        np.testing.assert_allclose(acts[5:], np.sort(column)[:5])


def test_the_report_has_the_cards_and_links_them(results):
    page = (results / "report.html").read_text(encoding="utf-8")
    for layer, index in card_units(load_netcdf(results / "units.nc")):
        assert f'id="{card_anchor(layer, index)}"' in page
        assert f'href="#{card_anchor(layer, index)}"' in page
    assert page.count("<img") >= 3


def test_unit_card_and_row(results):
    layer, index = card_units(load_netcdf(results / "units.nc"))[0]
    fig = unit_card(results, layer, index)
    titles = [ax.get_title() for ax in fig.axes]
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("range" in t and "q(" in t for t in titles)  # maps print range and q-value
    assert any(t.startswith("most 1:") for t in texts) and any("saliency" in t for t in titles)
    assert sum(t.startswith("least") for t in texts) == 5
    row = unit_row(results, layer, index)
    assert {"value", "units", "description"} <= set(row.columns)
    assert row.loc["mi_size", "units"] == "bits" and row.loc["mi_size", "description"]
    with pytest.raises(KeyError, match="Unknown unit 4:99"):
        unit_card(results, "4", 99)


def test_the_unit_command_writes_a_card_for_any_unit(results, capsys):
    config = str(results.parent / "run.toml")
    assert main(["unit", str(results), "4:3", "--config", config]) == 0
    png = results / card_file("4", 3).replace(".nc", ".png")
    assert png.is_file() and png.with_suffix(".csv").is_file()
    assert "card:" in capsys.readouterr().out
    frame = pd.read_csv(png.with_suffix(".csv"), index_col=0)
    assert frame.loc["index", "value"] == "3"
    assert main(["unit", str(results), "4:99", "--config", config]) == 2
    assert "Unknown unit 4:99" in capsys.readouterr().err
