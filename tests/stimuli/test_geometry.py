"""Exact geometry: area, centroid and sub-pixel placement of every shape."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import factorprobe as fp
from factorprobe.stimuli import shapes


def _moments(image: np.ndarray, background: float = 0.0) -> tuple[float, float, float]:
    w = image[..., 0].astype(float) - background
    area = w.sum()
    rows, cols = np.indices(w.shape) + 0.5
    return area, (w * cols).sum() / area, (w * rows).sum() / area


def _one(size, x, y, shape="disc", rotation=0.0, canvas=64, **options):
    space = fp.stimuli.grid(size=size, x=x, y=y, shape=shape, rotation=rotation, canvas=canvas)
    return fp.stimuli.render(space, canvas=canvas, **options)["image"].values[0]


@settings(max_examples=60, deadline=None)
@given(
    d=st.floats(8, 40),
    x=st.floats(28, 36),
    y=st.floats(28, 36),
)
def test_disc_area_and_centroid_at_any_subpixel_position(d, x, y):
    area, cx, cy = _moments(_one(d, x, y, canvas=80))
    assert abs(area / (np.pi * d * d / 4) - 1) < 0.01
    assert abs(cx - x) < 0.1 and abs(cy - y) < 0.1


def test_disc_area_is_exact_not_just_within_one_percent():
    area, _, _ = _moments(_one(8.0, 20.37, 19.81))
    assert area == pytest.approx(np.pi * 16, rel=1e-6)


def test_disc_coverage_matches_dense_supersampling():
    xs, ys = np.arange(11.0) - 5.3, np.arange(11.0) - 4.8
    exact = shapes.disc_coverage(0.0, 0.0, 4.0, xs, ys)
    k = 200
    sub = (np.arange(10 * k) + 0.5) / k
    inside = (sub[None, :] + xs[0]) ** 2 + (sub[:, None] + ys[0]) ** 2 < 16
    sampled = inside.reshape(10, k, 10, k).mean(axis=(1, 3))
    assert np.abs(exact - sampled).max() < 0.01
    assert exact.min() >= -1e-12 and exact.max() <= 1 + 1e-12


@pytest.mark.parametrize(
    ("shape", "area_per_size2"),
    [
        ("square", 1.0),
        ("triangle", 3 * np.sqrt(3) / 16),  # circumradius 1/2: area (3 sqrt 3 / 4) r^2
        ("cross", 5 / 9),  # five squares of side 1/3
        ("disc", np.pi / 4),
    ],
)
@pytest.mark.parametrize("rotation", [0.0, 17.0, 45.0, 90.0, 211.5])
def test_every_shape_has_its_documented_area_and_centre(shape, area_per_size2, rotation):
    size, x, y = 20.0, 32.3, 31.6
    area, cx, cy = _moments(_one(size, x, y, shape=shape, rotation=rotation))
    assert area == pytest.approx(area_per_size2 * size**2, rel=1e-6)
    assert abs(cx - x) < 0.02 and abs(cy - y) < 0.02


def test_square_size_is_its_side_in_pixels():
    img = _one(10.0, 20.0, 30.0, shape="square")[..., 0]
    rows, cols = np.nonzero(img)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (25, 34, 15, 24)
    assert np.all(img[25:35, 15:25] == 1.0)


def test_triangle_points_up_and_rotation_is_counterclockwise_on_screen():
    up = _one(30.0, 32.0, 32.0, shape="triangle")[..., 0]
    rows = np.nonzero(up.sum(axis=1))[0]
    # circumradius 15 upwards, 7.5 downwards from the centre
    assert rows.min() == 32 - 15 and rows.max() == 32 + 8 - 1
    turned = _one(30.0, 32.0, 32.0, shape="triangle", rotation=90.0)[..., 0]
    cols = np.nonzero(turned.sum(axis=0))[0]
    assert cols.min() == 32 - 15  # the apex now points left
    assert np.allclose(turned, np.rot90(up), atol=1e-6)


def test_cross_bars_are_a_third_of_the_size_thick():
    img = _one(30.0, 32.0, 32.0, shape="cross")[..., 0]
    assert img[32, 17:47].min() == 1.0 and img[32, 16] == 0 and img[32, 47] == 0
    assert img[27:37, 32].min() == 1.0 and img[20, 26] == 0.0  # outside the bars, a corner
    assert img[17:47, 32].sum() == 30


def test_intensity_is_linear_in_coverage_with_contrast():
    full = _one(12.3, 30.4, 29.7, background=0.2, foreground=0.9)
    space = fp.stimuli.grid(size=12.3, x=30.4, y=29.7, contrast=0.5, canvas=64)
    half = fp.stimuli.render(space, canvas=64, background=0.2, foreground=0.9)["image"].values[0]
    np.testing.assert_allclose(half - 0.2, 0.5 * (full - 0.2), atol=1e-6)
    area, _, _ = _moments(full, background=0.2)
    assert area == pytest.approx(0.7 * np.pi * 12.3**2 / 4, rel=1e-5)
    assert full.min() == pytest.approx(0.2) and full.max() == pytest.approx(0.9)


def test_object_touching_the_border_fits_and_keeps_its_area():
    area, _, _ = _moments(_one(20.0, 10.0, 54.0))
    assert area == pytest.approx(np.pi * 100, rel=1e-6)


def test_rgb_color_and_non_square_canvas():
    space = fp.stimuli.grid(size=16, x=[20, 100], y=30, color=["red", "#00ff00"], canvas=(48, 120))
    stim = fp.stimuli.render(space, canvas=(48, 120), background=0.5)
    img = stim["image"].values
    assert img.shape == (4, 48, 120, 3)
    assert stim.attrs["canvas"] == "48x120"
    np.testing.assert_allclose(img[0, 30, 20], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(img[1, 30, 20], [0.0, 1.0, 0.0])
    np.testing.assert_allclose(img[0, 2, 2], [0.5, 0.5, 0.5])


def test_largest_size_follows_the_bounding_box_rule():
    assert fp.stimuli.largest_size("disc", 20, 112) == 40
    assert fp.stimuli.largest_size("square", 112, 112, rotation=45) == pytest.approx(
        224 / np.sqrt(2)
    )
    assert fp.stimuli.largest_size("triangle", 112, 20) == pytest.approx(40)  # apex up
