"""render and iter_batches: the Dataset contract, determinism, batching, sprites, errors."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from PIL import Image

import factorprobe as fp
from factorprobe.dims import CHANNEL, COL, ROW, STIMULUS
from factorprobe.stimuli import grid, iter_batches, random_design, render

SHAPES4 = ["disc", "square", "triangle", "cross"]


@pytest.fixture(scope="module")
def design():
    return random_design(
        120, size=(8, 32), x=(20, 108), y=(20, 108), seed=0, shape=SHAPES4,
        rotation=(0, 360), contrast=(0.2, 1.0), canvas=128,
    )  # fmt: skip


def test_dataset_contract(design):
    stim = render(design, canvas=128)
    image = stim["image"]
    assert image.dims == (STIMULUS, ROW, COL, CHANNEL)
    assert image.shape == (120, 128, 128, 1) and image.dtype == np.float32
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    np.testing.assert_array_equal(stim[STIMULUS].values, np.arange(120))
    for name in design.factors:
        assert stim[name].dims == (STIMULUS,)
        np.testing.assert_array_equal(stim[name].values, design[name])
    assert stim["shape"].values.dtype.kind == "U"
    attrs = stim.attrs
    assert attrs["canvas"] == 128 and attrs["units"] == "pixels" and attrs["seed"] == 0
    assert attrs["background"] == 0.0 and attrs["foreground"] == 1.0
    assert attrs["renderer_version"] == fp.stimuli.RENDERER_VERSION
    assert all(isinstance(v, str | int | float) for v in attrs.values())


def test_every_shape_renders_with_area_scaled_by_contrast(design):
    stim = render(design, canvas=128)
    areas = stim["image"].sum(dim=(ROW, COL, CHANNEL)).values
    per_size2 = {"disc": np.pi / 4, "square": 1.0, "triangle": 3 * np.sqrt(3) / 16, "cross": 5 / 9}
    expected = np.array([per_size2[s] for s in design["shape"]]) * design["size"] ** 2
    np.testing.assert_allclose(areas, expected * design["contrast"], rtol=1e-5)


def test_render_is_deterministic_byte_for_byte(design):
    a = render(design, canvas=128)["image"].values
    b = render(design, canvas=128)["image"].values
    assert a.tobytes() == b.tobytes()
    again = random_design(
        120, size=(8, 32), x=(20, 108), y=(20, 108), seed=0, shape=SHAPES4,
        rotation=(0, 360), contrast=(0.2, 1.0), canvas=128,
    )  # fmt: skip
    assert render(again, canvas=128)["image"].values.tobytes() == a.tobytes()


def test_batches_concatenate_to_render(design):
    batches = list(iter_batches(design, batch_size=50, canvas=128))
    assert [b.sizes[STIMULUS] for b in batches] == [50, 50, 20]
    np.testing.assert_array_equal(batches[1][STIMULUS].values, np.arange(50, 100))
    assert xr.concat(batches, dim=STIMULUS).identical(render(design, canvas=128))


def test_iter_batches_is_lazy_and_validates_up_front():
    big = random_design(10**6, size=(8, 16), x=(20, 100), y=(20, 100), seed=0, canvas=128)
    first = next(iter_batches(big, batch_size=8, canvas=128))
    assert first.sizes[STIMULUS] == 8
    with pytest.raises(ValueError, match=r"needs 61\.04 GiB, over max_bytes=.* use iter_batches"):
        render(big, canvas=128)
    with pytest.raises(ValueError, match=r"'batch_size' parameter of iter_batches must be"):
        iter_batches(big, batch_size=0)


def test_render_refuses_a_space_that_does_not_fit_its_canvas():
    space = grid(size=[16, 48], x=[30, 110], y=100)  # checked against 224
    msg = (
        r"Object of size 48 px at x=110, y=100 .* does not fit on a 128 px canvas; .*larger canvas"
    )
    with pytest.raises(ValueError, match=msg):
        render(space, canvas=128)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(background=1.5), ValueError, r"'background' parameter of render .* got 1\.5"),
        (dict(mode="CMYK"), ValueError, r"'mode' parameter of render must be one of 'L', 'RGB'"),
        (dict(canvas=(64,)), TypeError, r"'canvas' parameter of render must be an int"),
        (dict(sprites=[1]), TypeError, r"'sprites' parameter of render must be a mapping"),
    ],
)
def test_render_option_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        render(grid(size=8, x=30, y=30), **kwargs)


def test_render_rejects_other_inputs_and_color_in_grayscale():
    with pytest.raises(TypeError, match=r"render takes a FactorSpace .* got dict"):
        render({"size": [8]})
    with pytest.raises(ValueError, match=r"'color' factor needs mode='RGB'"):
        render(grid(size=8, x=30, y=30, color="red"), mode="L")


def test_grayscale_space_in_rgb_mode_has_three_equal_channels():
    img = render(grid(size=20, x=30, y=30), canvas=64, mode="RGB")["image"].values[0]
    assert img.shape == (64, 64, 3)
    np.testing.assert_array_equal(img[..., 0], img[..., 2])


def test_per_stimulus_foreground_and_background_factors():
    space = grid(size=20, x=30, y=30, background=[0.1, 0.3], foreground=0.8)
    img = render(space, canvas=64)["image"].values
    assert img[0, 0, 0, 0] == pytest.approx(0.1) and img[1, 0, 0, 0] == pytest.approx(0.3)
    assert img[1, 30, 30, 0] == pytest.approx(0.8)


def _sprite(h: int, w: int) -> np.ndarray:
    rgba = np.zeros((h, w, 4), dtype=np.uint8)
    rgba[..., :3] = 200
    rgba[..., 3] = 255  # fully opaque rectangle
    return rgba


def test_sprite_array_scaled_to_its_longer_side():
    space = grid(size=32, x=40.25, y=40.0, shape="sprite:bar", rotation=[0, 90])
    stim = render(space, canvas=80, sprites={"bar": _sprite(4, 8)})
    flat, turned = stim["image"].values[..., 0]
    assert flat.sum() == pytest.approx(32 * 16, rel=1e-6)  # 8x4 source -> 32x16 px
    rows, cols = np.nonzero(flat > 0.5)
    assert cols.max() - cols.min() + 1 == 32 and rows.max() - rows.min() + 1 == 16
    assert turned.sum() == pytest.approx(32 * 16, rel=0.01)
    assert np.ptp(np.nonzero(turned > 0.5)[0]) + 1 == 32  # now tall


def test_sprite_from_a_png_file_with_alpha(tmp_path):
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)
    yy, xx = np.mgrid[:10, :10]
    rgba[..., 3] = np.where((xx - 4.5) ** 2 + (yy - 4.5) ** 2 < 16, 255, 0)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "blob.png")
    space = grid(size=30, x=40, y=40, shape="sprite:blob")
    img = render(space, canvas=80, sprites={"sprite:blob": tmp_path / "blob.png"})["image"].values
    assert img.sum() == pytest.approx((rgba[..., 3] > 0).sum() * 9, rel=1e-6)


@pytest.mark.parametrize(
    ("source", "match"),
    [
        (np.zeros((4, 4, 5)), r"must be \(h, w\), .* got shape \(4, 4, 5\)"),
        (np.zeros((4, 4)), r"alpha is 0 everywhere"),
        (np.full((4, 4), 2.0), r"in \[0, 1\] .* got a range of \[2, 2\]"),
        (np.array([["a"]]), r"must hold numbers; got dtype <U1"),
    ],
)
def test_sprite_errors(source, match):
    with pytest.raises(ValueError, match=match):
        fp.stimuli.sprite_alpha(source)


def test_missing_sprite_is_named():
    with pytest.raises(ValueError, match=r"Shape 'sprite:duck' needs a sprite named 'duck' .*none"):
        render(grid(size=20, x=30, y=30, shape="sprite:duck"))
