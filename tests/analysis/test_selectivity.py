"""Selectivity index, modularity, shares, KL selectivity, mean-response index and ω²."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from factorprobe.analysis import (
    kl_selectivity,
    mean_response_selectivity,
    modularity,
    mutual_information,
    omega_squared,
    selectivity_index,
    shares,
)
from factorprobe.analysis.selectivity import mean_response_kernel


def _mi(rows, factors=("size", "position", "shape")):
    return xr.DataArray(
        np.asarray(rows, float),
        dims=("unit", "factor"),
        coords={"factor": list(factors)},
        name="mi",
    )


def test_selectivity_modularity_shares_by_hand():
    mi = _mi([[0.6, 0.2, 0.0], [0.3, 0.3, 0.3], [0.5, -0.1, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(selectivity_index(mi).values, [0.5, 0.0, 1.0, np.nan])
    # modularity: 1 - sum_{k != k*} (I_k / I_k*)^2 / (K - 1)
    np.testing.assert_allclose(modularity(mi).values, [1 - (1 / 9) / 2, 0.0, 1.0, np.nan])
    np.testing.assert_allclose(shares(mi).values[0], [0.75, 0.25, 0.0])
    np.testing.assert_allclose(shares(mi).values[2], [1.0, 0.0, 0.0])
    two = selectivity_index(mi, factors=["position", "shape"])
    np.testing.assert_allclose(two.values, [1.0, 0.0, np.nan, np.nan])


def test_selectivity_errors():
    mi = _mi([[0.6, 0.2, 0.0]])
    with pytest.raises(KeyError, match="cannot compare 'colour'; the measure has factors 'size'"):
        selectivity_index(mi, factors=["size", "colour"])
    with pytest.raises(ValueError, match="needs at least 2 factors to compare; got"):
        modularity(mi, factors=["size"])
    with pytest.raises(TypeError, match=r"expects a DataArray with dims \('unit', 'factor'\)"):
        shares(mi.isel(factor=0))


def test_mean_response_index_by_hand_and_bounded_for_negative_means(make_acts):
    level = np.repeat(np.arange(3), 4)
    means = np.array([-2.0, -1.0, 1.0])
    acts = make_acts(np.stack([means[level], np.full(12, 5.0)], axis=1), size=level)
    out = mean_response_selectivity(acts, "size")
    # mu_max = 1, mu_rest = -1.5: (1 + 1.5) / (1 + 1.5) = 1
    np.testing.assert_allclose(out.values, [1.0, 0.0])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=8, max_size=8))
def test_mean_response_index_in_unit_interval(values):
    x = np.asarray(values)[None, :]
    out = mean_response_kernel(x, np.arange(8) % 4, 4)
    assert 0.0 <= out[0] <= 1.0 + 1e-12


def test_omega_squared_by_hand(make_acts):
    level = np.repeat(np.arange(3), 4)
    rng = np.random.default_rng(0)
    values = level + rng.normal(size=12)
    acts = make_acts(np.stack([values, np.ones(12)], axis=1), size=level)
    grand = values.mean()
    ss_b = sum(4 * (values[level == k].mean() - grand) ** 2 for k in range(3))
    ss_t = ((values - grand) ** 2).sum()
    ms_w = (ss_t - ss_b) / (12 - 3)
    expected = (ss_b - 2 * ms_w) / (ss_t + ms_w)
    np.testing.assert_allclose(omega_squared(acts, "size").values, [expected, 0.0])


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000))
def test_kl_selectivity_bounds_mutual_information(seed):
    from tests.analysis.conftest import make_acts

    rng = np.random.default_rng(seed)
    level = np.repeat(np.arange(5), 8)
    values = rng.normal(size=(40, 3)) + rng.uniform(0, 2, 3) * (level == rng.integers(5))[:, None]
    acts = make_acts(values, size=level)
    kl = kl_selectivity(acts, "size", n_bins=4)
    mi = mutual_information(acts, "size", n_bins=4, estimator="plugin", raw=True)
    # the MI is the p(f)-weighted mean of the specific informations, KL selectivity their max
    assert np.all(kl.values >= mi.values - 1e-12)
    assert kl.attrs["units"] == "bits"


def test_one_compared_factor_gives_mi_and_nan_selectivity(planted):
    from factorprobe.analysis import unit_table

    table = unit_table(planted, factors=["size"], n_permutations=500)
    assert list(table["factor"].values) == ["size"]
    assert np.isfinite(table["mi"].values).all()
    assert np.isnan(table["selectivity"].values).all()
    assert np.isnan(table["modularity"].values).all()
    coded = table["preferred_factor"].values == "size"
    assert coded.any()
    np.testing.assert_array_equal(table["share"].values[coded, 0], 1.0)
