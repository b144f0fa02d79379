"""The unit table: contract (names, dims, attrs), consistency with the measures, options, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

from factorprobe.analysis import (
    DesignDependenceWarning,
    design_dependence,
    mutual_information,
    unit_table,
)
from factorprobe.analysis.significance import benjamini_hochberg

CORE_FACTOR = ["mi", "mi_raw", "p_value", "q_value", "kl_selectivity"]
CORE_UNIT = ["entropy", "selectivity", "modularity", "preferred_factor"]


@pytest.fixture(scope="module")
def table(planted):
    return unit_table(planted)


def test_contract(table, planted):
    for name in CORE_FACTOR:
        assert table[name].dims == ("unit", "factor"), name
    for name in CORE_UNIT:
        assert table[name].dims == ("unit",), name
    assert table["factor"].values.tolist() == ["size", "position"]
    assert np.array_equal(table["layer"].values, planted["layer"].values)
    assert np.array_equal(table["index"].values, planted["index"].values)
    assert table.attrs["units"] == "bits" and table.attrs["estimator"] == "copula"
    assert table["mi"].attrs["units"] == "bits"
    for value in table.attrs.values():
        assert isinstance(value, str | int | float)
    frame = table.to_dataframe()
    assert len(frame) == planted.sizes["unit"] * 2
    assert {"mi", "q_value", "preferred_factor", "layer"} <= set(frame.reset_index().columns)


def test_silent_units_have_no_preferred_factor(table, planted):
    silent = planted["kind"].values == "silent"
    assert set(table["preferred_factor"].values[silent]) == {"none"}
    assert np.all(np.isnan(table["selectivity"].values[silent]))
    assert np.all(table["mi"].values[silent] == 0.0)
    assert np.all(table["p_value"].values[silent] == 1.0)
    assert np.all(table["entropy"].values[silent] == 0.0)


def test_agrees_with_mutual_information_and_bh(table, planted):
    # the free-shuffle table is mutual_information's; the default (restricted) one shares mi_raw
    mi = mutual_information(planted, "position")
    free = unit_table(planted, null="free")
    np.testing.assert_allclose(free["mi"].sel(factor="position").values, mi.values)
    np.testing.assert_allclose(table["mi_raw"].values, free["mi_raw"].values)
    assert table.attrs["null"].startswith("size: within levels of position")
    np.testing.assert_allclose(table["q_value"].values, benjamini_hochberg(table["p_value"]).values)
    strong = planted["snr"].values > 1
    pref = table["preferred_factor"].values
    assert np.all(pref[strong & (planted["kind"].values == "size")] == "size")
    shares = table["share"].sel(factor=["size", "position"]).sum("factor")
    coded = pref != "none"
    np.testing.assert_allclose(shares.values[coded], 1.0)


def test_q_values_per_layer(planted):
    two = planted.assign_coords(layer=("unit", np.where(np.arange(180) < 90, "fc1", "fc2")))
    table = unit_table(two, n_permutations=200, significance="permutation")
    for name in ("fc1", "fc2"):
        part = table.sel(unit=table["layer"] == name)
        np.testing.assert_allclose(
            part["q_value"].values, benjamini_hochberg(part["p_value"], by=None).values
        )
    only = unit_table(two, layers="fc2", n_permutations=200)
    assert set(only["layer"].values) == {"fc2"} and only.sizes["unit"] == 90


def test_variants_and_options(planted):
    table = unit_table(
        planted,
        factors=["size", "x", "y", "position"],
        estimator="plugin",
        correction="analytic",
        significance="gtest",
    )
    assert table.attrs["compared"] == "size,position"
    # x and y tables are sums of the position table; check against a direct computation
    direct = mutual_information(planted, "x", estimator="plugin", raw=True)
    np.testing.assert_allclose(table["mi_raw"].sel(factor="x").values, direct.values, atol=1e-12)
    for name in ("selectivity_normalized", "selectivity_min_normalized", "selectivity_omega"):
        values = table[name].values
        assert np.nanmin(values) >= 0 and np.nanmax(values) <= 1
    assert np.all(np.isnan(table["share"].sel(factor="x").values))


def test_family_wise_option(small):
    table = unit_table(small, n_permutations=200, family_wise=True)
    assert np.all(table["p_fwer"].values >= table["p_value"].values - 1e-12)
    noise = small["kind"].values == "noise"
    assert np.all(table["p_fwer"].values[noise] > 0.05)
    strong = (small["kind"].values == "size") & (small["snr"].values > 0.5)
    assert np.all(table["p_fwer"].sel(factor="size").values[strong] < 0.01)


def test_design_dependence_warns_and_points_to_conditional_mi(make_acts):
    rng = np.random.default_rng(0)
    size = np.repeat(np.arange(4), 28)
    x = np.where(np.arange(112) % 28 < 20, size, (size + 1) % 4)  # x mostly follows size
    acts = make_acts(rng.normal(size=(112, 3)), size=size, x=x)
    with pytest.warns(DesignDependenceWarning, match="conditional_mutual_information"):
        unit_table(acts, factors=["size", "x"], n_permutations=50)
    crossed = make_acts(rng.normal(size=(112, 3)), size=size, x=np.arange(112) % 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dep = design_dependence(crossed, ["size", "x"])
        unit_table(crossed, factors=["size", "x"], n_permutations=50)
    assert float(dep.sel(factor="size", other_factor="x")) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"factors": ["size", "size"]}, ValueError, "names a factor twice"),
        ({"factors": []}, ValueError, "must be a non-empty list"),
        ({"compare": ["shape"]}, ValueError, "'compare' parameter of unit_table must name"),
        ({"layers": "fc9"}, KeyError, "Unknown layer 'fc9' for unit_table; valid layers: 'fc1'"),
        ({"significance": "bootstrap"}, ValueError, "'significance' parameter of unit_table"),
        ({"alpha": 2.0}, ValueError, r"'alpha' parameter of unit_table .* in \[0.0, 1.0\]"),
        ({"family_wise": True, "significance": "gtest"}, ValueError, "needs significance="),
        ({"factors": ["size", "shape"]}, KeyError, "Factor 'shape' of unit_table"),
    ],
)
def test_errors(make_acts, kwargs, error, match):
    size = np.repeat(np.arange(4), 10)
    acts = make_acts(
        np.random.default_rng(0).normal(size=(40, 2)),
        size=size,
        x=np.arange(40) % 2,
        y=np.arange(40) % 4 // 2,
    )
    with pytest.raises(error, match=match):
        unit_table(acts, **kwargs)


def test_table_is_deterministic_and_does_not_mutate(planted):
    before = planted.copy(deep=True)
    a = unit_table(planted, n_permutations=100, seed=7)
    b = unit_table(planted, n_permutations=100, seed=7)
    xr.testing.assert_identical(a, b)
    xr.testing.assert_identical(planted, before)


def test_every_variable_is_described(planted):
    from factorprobe.analysis._table_variables import VARIABLES

    table = unit_table(planted, n_permutations=20, family_wise=True)
    for name in table.data_vars:
        assert table[name].attrs["description"] == VARIABLES[name][0]
        assert table[name].attrs["units"] in {"bits", "1", ""}
    assert table["mi"].attrs["units"] == "bits"
