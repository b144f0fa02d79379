"""Usable information between layers: ridge predictivity against closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from factorprobe.analysis import layer_predictivity


def _layers(*blocks):
    names = [name for name, block in blocks for _ in range(block.shape[1])]
    return xr.DataArray(
        np.hstack([block for _, block in blocks]),
        dims=("stimulus", "unit"),
        coords={"layer": ("unit", names)},
    )


def test_a_linear_copy_is_fully_predicted_and_noise_is_not():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 4))
    acts = _layers(
        ("a", x), ("b", x @ rng.standard_normal((4, 3))), ("c", rng.standard_normal((200, 2)))
    )
    out = layer_predictivity(acts)
    assert float(out["r2"].sel(layer="a", other_layer="b")) > 0.999
    assert abs(float(out["r2"].sel(layer="a", other_layer="c"))) < 0.1
    assert np.isnan(out["r2"].sel(layer="a", other_layer="a"))
    assert out["gaussian_bits"].attrs["units"] == "bits"


def test_gaussian_bits_match_the_closed_form_of_a_noisy_channel():
    # y = x + noise with var(x) = 1, var(noise) = 1/3: R2 = 3/4, -1/2 log2(1/4) = 1 bit
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4000, 1))
    y = x + rng.standard_normal((4000, 1)) / np.sqrt(3.0)
    out = layer_predictivity(_layers(("x", x), ("y", y)))
    assert float(out["r2"].sel(layer="x", other_layer="y")) == pytest.approx(0.75, abs=0.02)
    assert float(out["gaussian_bits"].sel(layer="x", other_layer="y")) == pytest.approx(
        1.0, abs=0.03
    )
    # both directions have the same R2 for one Gaussian pair
    assert float(out["r2"].sel(layer="y", other_layer="x")) == pytest.approx(0.75, abs=0.02)


def test_directions_differ_when_one_layer_keeps_less():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((300, 6))
    acts = _layers(("wide", x), ("narrow", x[:, :2]))
    out = layer_predictivity(acts)
    assert float(out["r2"].sel(layer="wide", other_layer="narrow")) > 0.99
    assert float(out["r2"].sel(layer="narrow", other_layer="wide")) < 0.5


def test_errors_name_the_bad_value():
    acts = _layers(("a", np.random.default_rng(0).standard_normal((10, 2))))
    with pytest.raises(ValueError, match="at least 2 layers"):
        layer_predictivity(acts)
    two = _layers(
        ("a", np.ones((10, 1)) * np.arange(10)[:, None]), ("b", np.arange(10.0)[:, None] ** 2)
    )
    with pytest.raises(ValueError, match="n_splits"):
        layer_predictivity(two, n_splits=1)
    with pytest.raises(ValueError, match="'layer' coordinate"):
        layer_predictivity(two.drop_vars("layer"))
