"""Permutation nulls shared across units, p-values, the G-test and multiple-testing control."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from factorprobe.analysis._kernels.plugin import gtest_pvalue, joint_counts, plugin_mi
from factorprobe.analysis.quantize import quantile_bins
from factorprobe.analysis.significance import (
    benjamini_hochberg,
    max_statistic_pvalues,
    permuted_codes,
    pvalues_from_null,
    shared_plugin_null,
)


def test_pvalue_formula_by_hand():
    null = np.array([[0.1, 0.2, 0.3, 0.4], [1.0, 2.0, 3.0, 4.0]])
    observed = np.array([0.25, 0.4, 0.5, 0.0, 3.0])
    group = np.array([0, 0, 0, 0, 1])
    p, mean = pvalues_from_null(observed, group, null)
    # (1 + #{null >= observed}) / (1 + P); a tie counts as exceeding
    np.testing.assert_allclose(p, [3 / 5, 2 / 5, 1 / 5, 5 / 5, 3 / 5])
    np.testing.assert_allclose(mean, [0.25] * 4 + [2.5])


def test_permuted_codes_within_strata_keep_each_stratum():
    rng = np.random.default_rng(0)
    codes = np.arange(40) % 5
    strata = np.repeat(np.arange(4), 10)
    perms = permuted_codes(codes, 30, rng, strata=strata)
    for row in perms:
        for s in range(4):
            assert sorted(row[strata == s]) == sorted(codes[strata == s])
    assert len({tuple(r) for r in perms}) == 30
    plain = permuted_codes(codes, 30, np.random.default_rng(0))
    assert all(sorted(r) == sorted(codes) for r in plain)
    assert not all(np.array_equal(r[strata == 0], np.sort(r[strata == 0])) for r in plain)


def test_shared_null_matches_each_units_own_null():
    rng = np.random.default_rng(1)
    n, n_levels = 300, 30
    codes = np.repeat(np.arange(n_levels), 10)
    values = rng.normal(size=(6, n))
    values[3:, :150] = -10.0  # tied minimum: three units with another bin-count profile
    bins = quantile_bins(values, 6)
    perms = permuted_codes(codes, 2000, rng)
    counts = joint_counts(bins, 6, codes, n_levels).sum(axis=-1)
    group, null = shared_plugin_null(counts, perms, n_levels)
    assert len(null) == 2 and group[0] == group[1] == group[2] != group[3]
    own = plugin_mi(joint_counts(bins[:, None, :], 6, perms[None], n_levels))  # (6, P)
    for u in (0, 4):
        shared = null[group[u]]
        assert stats.ks_2samp(shared, own[u]).pvalue > 0.01
        assert abs(shared.mean() - own[u].mean()) < 4 * own[u].std() / np.sqrt(2000) * 1.5


def test_gtest_matches_scipy_likelihood_ratio():
    rng = np.random.default_rng(2)
    bins = rng.integers(0, 4, (3, 500))
    codes = np.repeat(np.arange(5), 100)
    bins[0, :100] = 0
    joint = joint_counts(bins, 4, codes, 5)
    p = gtest_pvalue(plugin_mi(joint), joint)
    for u in range(3):
        ref = stats.chi2_contingency(joint[u], lambda_="log-likelihood", correction=False)
        assert p[u] == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)


def test_benjamini_hochberg_matches_scipy_per_layer():
    rng = np.random.default_rng(3)
    p = rng.uniform(size=(20, 2)) ** 3
    layer = np.repeat(["fc1", "fc2"], 10)
    da = xr.DataArray(p, dims=("unit", "factor"), coords={"layer": ("unit", layer)})
    q = benjamini_hochberg(da)
    for name in ("fc1", "fc2"):
        mask = layer == name
        ref = stats.false_discovery_control(p[mask].ravel(), method="bh").reshape(-1, 2)
        np.testing.assert_allclose(q.values[mask], ref)
    one_family = benjamini_hochberg(da, by=None)
    np.testing.assert_allclose(
        one_family.values, stats.false_discovery_control(p.ravel()).reshape(20, 2)
    )
    assert q.name == "q_value" and q.dims == ("unit", "factor")


def test_benjamini_hochberg_keeps_nan_and_rejects_bad_input():
    q = benjamini_hochberg(xr.DataArray([0.01, np.nan, 0.02], dims="unit"))
    assert np.isnan(q.values[1])
    np.testing.assert_allclose(q.values[[0, 2]], [0.02, 0.02])
    with pytest.raises(TypeError, match="expects a DataArray with a 'unit' dimension"):
        benjamini_hochberg(xr.DataArray([0.1], dims="x"))


def test_max_statistic_by_hand():
    z = np.array([[3.0], [0.5], [1.5]])
    null = np.array([[[0.3, 2.0, -1.0]], [[0.6, 0.5, 1.0]], [[-0.2, 0.7, 0.4]]])
    adjusted = max_statistic_pvalues(z, null, np.zeros(3, dtype=int))
    # max over units per shuffle: [0.6, 2.0, 1.0]; p = (1 + #{max >= z}) / (1 + P)
    np.testing.assert_allclose(adjusted[:, 0], [1 / 4, 4 / 4, 2 / 4])
