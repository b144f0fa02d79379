"""Contact sheet layout and write_stimuli's outputs."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from PIL import Image

from factorprobe.stimuli import contact_sheet, grid, render, write_stimuli


@pytest.fixture(scope="module")
def stim():
    space = grid(size=[8, 16, 24], x=[20, 44], y=[20, 32, 44], shape=["disc", "square"])
    return render(space, canvas=64)


def test_layout_and_cells(stim):
    sheet = contact_sheet(stim, columns="size", rows="x")
    assert sheet.mode == "L"
    arr = np.asarray(sheet)
    top, left = arr.shape[0] - 2 * 66, arr.shape[1] - 3 * 66  # the label bands
    assert top >= 2 * 11 and left >= 4 * 5
    # row x=20, column size=24: the middle y (32) and the first shape (disc) by default
    cell = arr[top : top + 64, left + 2 * 66 : left + 2 * 66 + 64].astype(float) / 255
    expected = stim["image"].sel(stimulus=(stim.size == 24) & (stim.x == 20) & (stim.y == 32)
                                 & (stim.shape == "disc"))  # fmt: skip
    np.testing.assert_allclose(cell, expected.values[0, ..., 0], atol=0.5 / 255)


def test_fixed_values_with_at(stim):
    sheet = np.asarray(
        contact_sheet(stim, columns="y", rows="size", at={"x": 44, "shape": "square"})
    )
    top, left = sheet.shape[0] - 3 * 66, sheet.shape[1] - 3 * 66
    cell = sheet[top : top + 64, left : left + 64]  # size=8, y=20, square at x=44
    rows, cols = np.nonzero(cell > 127)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (16, 23, 40, 47)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            dict(columns="area"),
            ValueError,
            r"Unknown factor 'area' for the contact sheet's columns",
        ),
        (dict(at={"y": 50}), ValueError, r"No stimulus has y=50 .* values are 20, 32, 44"),
        (dict(at={"z": 1}), ValueError, r"Unknown factor 'z' in the contact sheet's 'at'"),
        (dict(zoom=0), ValueError, r"'zoom' parameter of contact_sheet must be an int >= 1"),
    ],
)
def test_errors(stim, kwargs, error, match):
    with pytest.raises(error, match=match):
        contact_sheet(stim, **kwargs)


def test_write_stimuli_round_trips_through_netcdf(tmp_path):
    space = grid(size=[16, 32], x=[40, 88], y=64, shape=["disc", "triangle"])
    paths = write_stimuli(space, tmp_path / "out", canvas=128)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "contact_sheet.png",
        "stimuli.nc",
    ]
    back = xr.load_dataset(paths["dataset"], engine="h5netcdf")
    expected = render(space, canvas=128)
    np.testing.assert_array_equal(back["image"].values, expected["image"].values)
    assert list(back["shape"].values) == list(space["shape"])
    assert back.attrs["canvas"] == 128 and back.attrs["seed"] == "none"
    width, height = Image.open(paths["contact_sheet"]).size
    assert width >= 2 * 130 + 20 and height >= 2 * 130 + 2 * 11


def test_write_stimuli_writes_nothing_on_bad_input(tmp_path):
    with pytest.raises(ValueError, match="Unknown factor 'area'"):
        write_stimuli(grid(size=16, x=40, y=40), tmp_path / "out", columns="area")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("n_sizes", "canvas"), [(2, 64), (6, 224), (12, 224)])
def test_labels_are_legible_where_the_report_shows_the_sheet(n_sizes, canvas):
    """Labels >= MIN_LABEL_PX tall on screen at DISPLAY_WIDTH (how the report shows it)."""
    from factorprobe.stimuli.sheet import DISPLAY_WIDTH, MIN_LABEL_PX

    space = grid(size=list(np.linspace(8, 40, n_sizes)), x=[20, 44], y=[20, 32])
    sheet = contact_sheet(render(space, canvas=canvas), columns="size", rows="x")
    shown = min(1.0, DISPLAY_WIDTH / sheet.size[0])
    assert sheet.info["label_px"] * shown >= MIN_LABEL_PX
    assert sheet.info["label_px"] >= 11


def test_title_names_units_and_fixed_levels(stim):
    sheet = contact_sheet(stim, columns="size", rows="x", at={"y": 20})
    assert sheet.info["title"] == (
        "across: size (px); down: x (px); fixed: y = 20 px, shape = disc"
    )
