"""Role table and role correlations: joins by (layer, index), Spearman against scipy."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from factorprobe.analysis import partial_information, role_correlations, role_table
from factorprobe.analysis.planted import planted_units


@pytest.fixture(scope="module")
def acts():
    return planted_units(kinds=("size", "position", "conjunctive"), n_units=6, noise=(0.1,),
                         n_sizes=5, n_x=4, n_y=4, seed=0)  # fmt: skip


def test_table_joins_inputs_by_layer_and_index(acts):
    n = acts.sizes["unit"]
    # a joined input in reverse order, with one unit missing
    jac = xr.Dataset(
        {k: ("unit", np.arange(n, dtype=float)[::-1][1:] + i)
         for i, k in enumerate(("gain", "input_participation", "jacobian_variability"))},
        coords={"layer": ("unit", ["planted"] * (n - 1)),
                "index": ("unit", np.arange(n)[::-1][1:])},
    )  # fmt: skip
    pid = partial_information(acts, n_permutations=10)
    roles = role_table(acts, jacobian=jac, pid=pid)
    # unit k gets value k; the last unit is missing from the input
    np.testing.assert_array_equal(roles["gain"].values[:-1], np.arange(n - 1))
    assert np.isnan(roles["gain"].values[-1])
    np.testing.assert_allclose(roles["pid_synergy"].values, pid["pid_synergy"].values)
    kind = acts["kind"].values
    assert (
        roles["mi_size"].values[kind == "size"].mean()
        > roles["mi_position"].values[kind == "size"].mean()
    )
    assert roles["linearity"].attrs or roles["linearity"].dims == ("unit",)


def test_spearman_matches_scipy_and_ci_covers_it(acts):
    roles = role_table(acts)
    corr = role_correlations(roles, n_boot=200, seed=1)
    a, b = roles["linearity"].values, roles["mi_size"].values
    ok = np.isfinite(a) & np.isfinite(b)
    expected = stats.spearmanr(a[ok], b[ok]).statistic
    got = corr["spearman"].sel(layer="planted", variable="linearity", other_variable="mi_size")
    assert float(got) == pytest.approx(expected, abs=1e-12)
    low = float(corr["ci_low"].sel(layer="planted", variable="linearity", other_variable="mi_size"))
    high = float(
        corr["ci_high"].sel(layer="planted", variable="linearity", other_variable="mi_size")
    )
    assert low <= expected <= high
    np.testing.assert_allclose(np.diagonal(corr["spearman"].values[0]), 1.0)


def test_a_monotone_pair_has_correlation_one():
    x = np.random.default_rng(0).standard_normal(30)
    roles = xr.Dataset(
        {"p": ("unit", x), "q": ("unit", np.exp(x)), "r": ("unit", -x)},
        coords={"layer": ("unit", ["l"] * 30)},
    )
    corr = role_correlations(roles, n_boot=50)
    assert float(
        corr["spearman"].sel(layer="l", variable="p", other_variable="q")
    ) == pytest.approx(1.0)
    assert float(
        corr["spearman"].sel(layer="l", variable="p", other_variable="r")
    ) == pytest.approx(-1.0)
    assert float(corr["ci_low"].sel(layer="l", variable="p", other_variable="q")) == pytest.approx(
        1.0
    )


def test_errors_name_the_bad_value(acts):
    roles = role_table(acts)
    with pytest.raises(KeyError, match="'nope'"):
        role_correlations(roles, variables=["nope"])
    with pytest.raises(ValueError, match="n_boot"):
        role_correlations(roles, n_boot=1)
    bad = xr.Dataset({"gain": ("unit", np.ones(acts.sizes["unit"]))})
    with pytest.raises(ValueError, match="'jacobian' input of role_table needs"):
        role_table(
            acts, jacobian=bad.assign(input_participation=bad.gain, jacobian_variability=bad.gain)
        )
