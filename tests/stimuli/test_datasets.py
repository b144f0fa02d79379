"""load_dsprites on a tiny dSprites-format file written by the test."""

from __future__ import annotations

import numpy as np
import pytest

from factorprobe.dims import CHANNEL, COL, ROW, STIMULUS
from factorprobe.stimuli import factor_mutual_information, load_dsprites


@pytest.fixture
def tiny(tmp_path):
    shapes, scales, orients, xs, ys = np.arange(3), [0.5, 1.0], [0.0, np.pi], [0.0, 1.0], [0.5]
    classes, values = [], []
    for s in shapes:
        for k, sc in enumerate(scales):
            for o, ori in enumerate(orients):
                for i, x in enumerate(xs):
                    for j, y in enumerate(ys):
                        classes.append([0, s, k, o, i, j])
                        values.append([1.0, s + 1, sc, ori, x, y])
    n = len(values)
    imgs = np.zeros((n, 8, 8), dtype=np.uint8)
    imgs[np.arange(n), 3, np.arange(n) % 8] = 1
    path = tmp_path / "dsprites_tiny.npz"
    np.savez(path, imgs=imgs, latents_values=np.array(values), latents_classes=np.array(classes))
    return path, imgs, np.array(values)


def test_loads_images_and_factors_as_coordinates(tiny):
    path, imgs, values = tiny
    stim = load_dsprites(path)
    assert stim["image"].dims == (STIMULUS, ROW, COL, CHANNEL)
    assert stim["image"].shape == (24, 8, 8, 1) and stim["image"].dtype == np.float32
    np.testing.assert_array_equal(stim["image"].values[..., 0], imgs)
    assert list(np.unique(stim["shape"].values)) == ["ellipse", "heart", "square"]
    assert stim["shape"].values[0] == "square"
    np.testing.assert_allclose(stim["rotation"].values, np.rad2deg(values[:, 3]))
    np.testing.assert_array_equal(stim["size"].values, values[:, 2])
    np.testing.assert_array_equal(stim["x"].values, values[:, 4])
    assert stim["x"].attrs["units"].startswith("fraction of canvas")
    assert stim.attrs["canvas"] == 8 and stim.attrs["source"] == "dsprites"
    dep = factor_mutual_information(stim)
    assert np.all(dep.values[~np.eye(dep.shape[0], dtype=bool)] == 0)  # a full factorial


def test_selects_indices_and_keeps_their_numbers(tiny):
    path, imgs, _ = tiny
    stim = load_dsprites(path, indices=[5, 2])
    np.testing.assert_array_equal(stim[STIMULUS].values, [5, 2])
    np.testing.assert_array_equal(stim["image"].values[1, ..., 0], imgs[2])


def test_missing_array_is_named(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, imgs=np.zeros((1, 4, 4)))
    with pytest.raises(KeyError, match=r"is not a dSprites file: it lacks 'latents_values'"):
        load_dsprites(path)


def test_inconsistent_shapes(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, imgs=np.zeros((2, 4, 4)), latents_values=np.zeros((3, 6)),
             latents_classes=np.zeros((3, 6)))  # fmt: skip
    with pytest.raises(ValueError, match=r"got imgs \(2, 4, 4\), latents_values \(3, 6\)"):
        load_dsprites(path)
