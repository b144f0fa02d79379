"""Random-direction and principal-component pseudo-units, and the basis comparison."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from factorprobe.analysis.basis import basis_comparison
from factorprobe.analysis.directions import (
    directions,
    principal_components,
    random_directions,
)
from factorprobe.analysis.planted import planted_units
from factorprobe.analysis.table import unit_table


def _two_layers(seed: int = 0) -> xr.DataArray:
    """Planted units split into two layers ('fc1': 6 units, 'fc2': 4 units), 144 stimuli."""
    acts = planted_units(
        kinds=("size", "position"),
        n_units=5,
        noise=(0.3,),
        n_sizes=4,
        n_x=3,
        n_y=3,
        repeats=4,
        seed=seed,
    )
    layer = np.array(["fc1"] * 6 + ["fc2"] * 4)
    index = np.r_[np.arange(6), np.arange(4)]
    return acts.assign_coords(layer=("unit", layer), index=("unit", index))


@pytest.fixture(scope="module")
def acts() -> xr.DataArray:
    return _two_layers()


@pytest.fixture(scope="module")
def pure() -> xr.DataArray:
    """A layer of 40 planted pure-selective units (20 size, 20 position), 160 stimuli."""
    return planted_units(
        kinds=("size", "position"),
        n_units=20,
        noise=(0.25,),
        n_sizes=5,
        n_x=4,
        n_y=4,
        repeats=2,
        seed=0,
    )


# --- random directions -------------------------------------------------------------------------


def test_directions_have_unit_norm_and_stay_in_their_layer(acts):
    w = directions(acts, 7, seed=3)
    assert w.dims == ("unit", "source")
    assert w.shape == (14, 10)
    np.testing.assert_allclose(np.linalg.norm(w.values, axis=1), 1.0, atol=1e-12)
    own = w["layer"].values[:, None] == w["source_layer"].values[None, :]
    assert np.all(w.values[~own] == 0.0)
    assert np.all(w.values[own] != 0.0)


def test_random_directions_are_projections_onto_the_directions(acts):
    pseudo = random_directions(acts, 7, seed=3)
    w = directions(acts, 7, seed=3)
    np.testing.assert_allclose(pseudo.values, acts.values @ w.values.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(pseudo["layer"].values, w["layer"].values)


def test_shapes_coordinates_and_attrs(acts):
    pseudo = random_directions(acts, 5, seed=0)
    assert pseudo.dims == ("stimulus", "unit")
    assert dict(pseudo.sizes) == {"stimulus": 144, "unit": 10}
    assert pseudo["layer"].values.tolist() == ["fc1"] * 5 + ["fc2"] * 5
    assert pseudo["index"].values.tolist() == [0, 1, 2, 3, 4] * 2
    assert set(pseudo["basis"].values.tolist()) == {"random"}
    for factor in ("size", "x", "y"):
        np.testing.assert_array_equal(pseudo[factor].values, acts[factor].values)
    assert pseudo.name == "random_directions"
    assert pseudo.attrs["basis"] == "random"
    assert pseudo.attrs["directions_seed"] == 0
    assert pseudo.attrs["directions_n"] == 5
    assert pseudo.attrs["model"] == "planted"  # the source's attrs travel along
    assert all(isinstance(v, int | float | str) for v in pseudo.attrs.values())


def test_seeded_reproducibility(acts):
    a = random_directions(acts, 6, seed=11)
    b = random_directions(acts, 6, seed=11)
    c = random_directions(acts, 6, seed=12)
    np.testing.assert_array_equal(a.values, b.values)
    assert not np.allclose(a.values, c.values)
    # a Generator or None: the int seed recorded reproduces the draw
    d = random_directions(acts, 6, seed=np.random.default_rng(5))
    e = random_directions(acts, 6, seed=d.attrs["directions_seed"])
    np.testing.assert_array_equal(d.values, e.values)
    f = random_directions(acts, 6, seed=None)
    g = random_directions(acts, 6, seed=f.attrs["directions_seed"])
    np.testing.assert_array_equal(f.values, g.values)


def test_layer_directions_do_not_depend_on_other_layers_order_or_chunks(acts):
    full = random_directions(acts, 6, seed=2)
    only = random_directions(acts, 6, seed=2, layers="fc2")
    np.testing.assert_array_equal(only.values, full.sel(unit=full.layer == "fc2").values)
    subset = random_directions(acts.sel(unit=acts.layer == "fc2"), 6, seed=2)
    np.testing.assert_array_equal(subset.values, only.values)
    reordered = acts.isel(unit=np.r_[6:10, 0:6])  # fc2 first
    swapped = random_directions(reordered, 6, seed=2)
    np.testing.assert_array_equal(
        swapped.sel(unit=swapped.layer == "fc1").values, full.sel(unit=full.layer == "fc1").values
    )
    chunked = random_directions(acts.chunk({"unit": 3}), 6, seed=2)
    np.testing.assert_array_equal(chunked.values, full.values)


def test_isotropy_of_the_directions():
    # uniform on the sphere: each coordinate of a direction in R^U has mean 0 and variance 1/U
    acts = planted_units(kinds=("noise",), n_units=4, noise=(1.0,), n_sizes=2, n_x=2, n_y=2)
    w = directions(acts, 20000, seed=0).values
    np.testing.assert_allclose(w.mean(axis=0), 0.0, atol=0.02)
    np.testing.assert_allclose((w**2).mean(axis=0), 0.25, atol=0.01)
    # sign and axis symmetry: the covariance of the directions is I/U
    np.testing.assert_allclose(np.cov(w.T), np.eye(4) / 4, atol=0.01)


def test_one_unit_layer_gives_the_unit_itself_up_to_sign(acts):
    one = acts.isel(unit=[0])
    pseudo = random_directions(one, 4, seed=0)
    signs = np.sign(directions(one, 4, seed=0).values[:, 0])
    np.testing.assert_allclose(pseudo.values, one.values * signs[None, :])


def test_inputs_are_not_modified(acts):
    before = acts.copy(deep=True)
    random_directions(acts, 3, seed=0)
    principal_components(acts, 2)
    xr.testing.assert_identical(acts, before)


def test_pseudo_units_flow_through_unit_table_unchanged(acts):
    pseudo = random_directions(acts, 8, seed=0)
    table = unit_table(pseudo, n_permutations=100)
    assert table.sizes["unit"] == 16
    for coord in ("layer", "index", "basis"):
        np.testing.assert_array_equal(table[coord].values, pseudo[coord].values)
    plain = xr.DataArray(
        pseudo.values,
        dims=("stimulus", "unit"),
        coords={
            "size": ("stimulus", pseudo["size"].values),
            "x": ("stimulus", pseudo["x"].values),
            "y": ("stimulus", pseudo["y"].values),
            "layer": ("unit", pseudo["layer"].values),
        },
    )
    reference = unit_table(plain, n_permutations=100)
    for name in ("mi", "p_value", "q_value", "selectivity"):
        np.testing.assert_array_equal(table[name].values, reference[name].values)
    assert np.isfinite(table["mi"].values).all()


def test_centring_changes_no_information_measure(acts):
    # adding a constant to every activation shifts each pseudo-unit by a constant only
    shifted = acts + 3.0
    a = random_directions(acts, 4, seed=0)
    b = random_directions(shifted, 4, seed=0)
    offset = (b - a).values
    np.testing.assert_allclose(offset, np.broadcast_to(offset[:1], offset.shape), atol=1e-12)
    ta, tb = unit_table(a, n_permutations=100), unit_table(b, n_permutations=100)
    np.testing.assert_allclose(ta["mi"].values, tb["mi"].values, atol=1e-12)


# --- principal components ----------------------------------------------------------------------


def test_principal_components_equal_an_explicit_svd(acts):
    pcs = principal_components(acts, 3)
    for layer in ("fc1", "fc2"):
        block = acts.sel(unit=acts.layer == layer).values.astype(float)
        centred = block - block.mean(axis=0)
        u, s, vt = np.linalg.svd(centred, full_matrices=False)
        scores = u[:, :3] * s[:3]
        got = pcs.sel(unit=pcs.layer == layer).values
        got_centred = got - got.mean(axis=0)
        signs = np.sign((got_centred * scores).sum(axis=0))
        np.testing.assert_allclose(got_centred, scores * signs, atol=1e-10)
        # uncentred projection: the scores plus the projected mean
        np.testing.assert_allclose(got, block @ (vt[:3].T * signs), atol=1e-10)
        ratio = pcs.sel(unit=pcs.layer == layer)["explained_variance_ratio"].values
        np.testing.assert_allclose(ratio, s[:3] ** 2 / (s**2).sum(), rtol=1e-12)
    assert set(pcs["basis"].values.tolist()) == {"pca"}
    assert pcs.attrs["basis"] == "pca"
    assert "directions_seed" not in pcs.attrs


def test_principal_components_are_uncorrelated_and_ordered(acts):
    pcs = principal_components(acts)
    for layer, width in (("fc1", 6), ("fc2", 4)):
        block = pcs.sel(unit=pcs.layer == layer)
        assert block.sizes["unit"] == width
        cov = np.cov(block.values.T)
        np.testing.assert_allclose(cov - np.diag(np.diag(cov)), 0.0, atol=1e-10)
        assert np.all(np.diff(np.diag(cov)) <= 1e-12)
        np.testing.assert_allclose(block["explained_variance_ratio"].sum(), 1.0, rtol=1e-12)


def test_principal_axes_are_unit_norm_with_fixed_sign(acts):
    w = directions(acts, basis="pca")
    np.testing.assert_allclose(np.linalg.norm(w.values, axis=1), 1.0, atol=1e-12)
    biggest = w.values[np.arange(w.shape[0]), np.abs(w.values).argmax(axis=1)]
    assert np.all(biggest > 0)
    np.testing.assert_allclose(
        principal_components(acts).values, acts.values @ w.values.T, atol=1e-12
    )


def test_principal_components_stop_at_the_rank():
    acts = planted_units(kinds=("size",), n_units=2, noise=(0.5,), n_sizes=2, n_x=2, n_y=2)
    # four units spanning a 2-D space: the redundant two add no component
    values = np.c_[acts.values, acts.values @ [[1.0, 2.0], [-1.0, 0.5]]]
    wide = xr.DataArray(
        values,
        dims=("stimulus", "unit"),
        coords={**{k: acts[k] for k in ("size", "x", "y")}, "layer": ("unit", ["fc"] * 4)},
    )
    assert principal_components(wide).sizes["unit"] == 2
    with pytest.warns(UserWarning, match=r"layer 'fc' has rank 2 .* instead of n=3"):
        assert principal_components(wide, 3).sizes["unit"] == 2


# --- basis comparison --------------------------------------------------------------------------


def _measure(values, layer):
    return xr.DataArray(
        np.asarray(values, dtype=float),
        dims="unit",
        coords={"layer": ("unit", np.asarray(layer))},
        name="selectivity",
    )


def test_basis_comparison_hand_computed():
    units = _measure([0.9, 0.5, 0.97, np.nan, 0.2], ["a"] * 5)
    base = _measure([0.1, 0.2, 0.3, 0.4, 0.5, np.nan], ["a"] * 6)
    res = basis_comparison(units, base, percentile=90.0)
    row = res.sel(layer="a")
    # 90th percentile of 0.1..0.5 (linear): 0.46; units above: 0.9, 0.5, 0.97 of 4
    assert float(row["baseline_percentile"]) == pytest.approx(0.46)
    assert float(row["fraction_above"]) == pytest.approx(0.75)
    assert float(row["baseline_fraction_above"]) == pytest.approx(0.2)
    assert float(row["median_units"]) == pytest.approx(0.7)
    assert float(row["median_baseline"]) == pytest.approx(0.3)
    # U of the units: 0.9 and 0.97 beat 5, 0.5 beats 4 and ties 1, 0.2 beats 1 and ties 1 -> 16
    assert float(row["statistic"]) == pytest.approx(16.0)
    assert float(row["probability_greater"]) == pytest.approx(16 / 20)
    ref = stats.mannwhitneyu(
        [0.9, 0.5, 0.97, 0.2], [0.1, 0.2, 0.3, 0.4, 0.5], alternative="greater"
    )
    assert float(row["p_value"]) == pytest.approx(ref.pvalue)
    assert int(row["n_units"]) == 4 and int(row["n_baseline"]) == 5
    assert int(row["n_missing_units"]) == 1 and int(row["n_missing_baseline"]) == 1
    assert res.attrs["measure"] == "selectivity" and res.attrs["alternative"] == "greater"


def test_basis_comparison_missing_as_zero_and_ks():
    units = _measure([0.9, np.nan, 0.8], ["a"] * 3)
    base = _measure([0.1, 0.2, np.nan, 0.3], ["a"] * 4)
    res = basis_comparison(units, base, missing="zero", test="ks").sel(layer="a")
    assert int(res["n_units"]) == 3 and int(res["n_missing_units"]) == 1
    assert float(res["median_baseline"]) == pytest.approx(0.15)  # 0, 0.1, 0.2, 0.3
    ks = stats.ks_2samp([0.9, 0.0, 0.8], [0.1, 0.2, 0.0, 0.3], alternative="less")
    assert float(res["statistic"]) == pytest.approx(ks.statistic)
    assert float(res["p_value"]) == pytest.approx(ks.pvalue)


def test_basis_comparison_ties_at_the_percentile():
    units = _measure([1.0, 1.0, 0.5], ["a"] * 3)
    base = _measure([0.2, 0.4, 1.0, 1.0], ["a"] * 4)
    row = basis_comparison(units, base, percentile=95.0).sel(layer="a")
    assert float(row["baseline_percentile"]) == 1.0
    assert float(row["fraction_above"]) == 0.0
    assert float(row["fraction_at_or_above"]) == pytest.approx(2 / 3)
    assert float(row["baseline_fraction_at_or_above"]) == pytest.approx(0.5)


def test_basis_comparison_pairs_layers_and_handles_empty_ones():
    units = _measure([0.9, 0.8, np.nan, 0.4], ["fc1", "fc1", "fc2", "pool"])
    base = _measure([0.1, 0.2, 0.3, 0.5], ["fc2", "fc1", "fc1", "fc2"])
    res = basis_comparison(units, base)
    assert res["layer"].values.tolist() == ["fc1", "fc2"]  # units' order, shared layers only
    assert int(res["n_units"].sel(layer="fc1")) == 2
    assert int(res["n_baseline"].sel(layer="fc2")) == 2
    assert int(res["n_units"].sel(layer="fc2")) == 0
    assert np.isnan(float(res["p_value"].sel(layer="fc2")))
    assert np.isnan(float(res["fraction_above"].sel(layer="fc2")))


def test_basis_comparison_on_unit_tables(acts):
    tu = unit_table(acts, n_permutations=100)
    tp = unit_table(random_directions(acts, 20, seed=0), n_permutations=100)
    res = basis_comparison(tu, tp)
    assert res["layer"].values.tolist() == ["fc1", "fc2"]
    assert res.attrs["baseline_basis"] == "random"
    by_mi = basis_comparison(tu["mi"].sel(factor="size"), tp["mi"].sel(factor="size"))
    assert by_mi.attrs["measure"] == "mi"
    assert (by_mi["n_units"].values == [6, 4]).all()


def test_planted_pure_units_are_more_selective_than_random_directions(pure):
    tu = unit_table(pure, n_permutations=200)
    tp = unit_table(random_directions(pure, 200, seed=0), n_permutations=200)
    row = basis_comparison(tu, tp).sel(layer="planted")
    assert float(row["median_units"]) > float(row["median_baseline"]) + 0.2
    assert float(row["p_value"]) < 1e-6
    assert float(row["probability_greater"]) > 0.85
    # SI of 1 ties at the baseline's 95th percentile: the at-or-above fraction is the readout
    assert float(row["fraction_at_or_above"]) > float(row["baseline_fraction_at_or_above"]) + 0.5
    ks = basis_comparison(tu, tp, test="ks").sel(layer="planted")
    assert float(ks["p_value"]) < 1e-6


def test_a_rotated_basis_is_not_privileged(pure):
    # the "units" are a random rotation of planted units: exchangeable with random directions
    q = stats.ortho_group.rvs(pure.sizes["unit"], random_state=1)
    rotated = pure.copy(data=pure.values @ q)
    tu = unit_table(rotated, n_permutations=200)
    tp = unit_table(random_directions(rotated, 200, seed=0), n_permutations=200)
    row = basis_comparison(tu, tp).sel(layer="planted")
    assert abs(float(row["probability_greater"]) - 0.5) < 0.1
    assert float(row["p_value"]) > 0.05
    assert float(row["fraction_at_or_above"]) < float(row["baseline_fraction_at_or_above"]) + 0.15
    # a measure without ties: the fraction above the 95th percentile is near 5 %
    for factor in ("size", "position"):
        mi = basis_comparison(tu["mi"].sel(factor=factor), tp["mi"].sel(factor=factor))
        assert float(mi["fraction_above"].squeeze()) <= 0.15
        assert float(mi["baseline_fraction_above"].squeeze()) == pytest.approx(0.05, abs=0.01)


# --- errors ------------------------------------------------------------------------------------


def test_direction_errors(acts):
    with pytest.raises(TypeError, match=r"'n' parameter of random_directions must be an int"):
        random_directions(acts, 2.5)
    with pytest.raises(ValueError, match=r"'n' parameter of random_directions must be an int >= 1"):
        random_directions(acts, 0)
    with pytest.raises(ValueError, match=r"'n' parameter of principal_components .* >= 1; got 0"):
        principal_components(acts, 0)
    with pytest.raises(ValueError, match=r"'basis' parameter of directions must be one of 'rand"):
        directions(acts, 2, basis="ica")
    with pytest.raises(ValueError, match=r"must be an int >= 1 for basis='random'; got None"):
        directions(acts)
    with pytest.raises(KeyError, match=r"Unknown layer 'fc9' for directions; valid layers: 'fc1'"):
        random_directions(acts, 2, layers=["fc9"])
    with pytest.raises(ValueError, match=r"must name at least one layer .*; got \[\]"):
        principal_components(acts, layers=[])
    with pytest.raises(TypeError, match=r"'seed' must be an int, a numpy Generator or None"):
        random_directions(acts, 2, seed="zero")
    with pytest.raises(TypeError, match=r"expects an xarray.DataArray"):
        random_directions(acts.values, 2)
    with pytest.raises(ValueError, match=r"needs a 'layer' coordinate on 'unit'"):
        random_directions(acts.drop_vars("layer"), 2)
    with pytest.raises(ValueError, match=r"NaN responses"):
        random_directions(acts.where(acts.stimulus != 0), 2)


def test_basis_comparison_errors(acts):
    u = _measure([0.5, 0.6], ["a", "a"])
    with pytest.raises(ValueError, match=r"'percentile' parameter of basis_comparison .* 100"):
        basis_comparison(u, u, percentile=120.0)
    with pytest.raises(ValueError, match=r"must be in \(0, 100\), exclusive; got 100.0"):
        basis_comparison(u, u, percentile=100)
    with pytest.raises(ValueError, match=r"'test' parameter of basis_comparison must be one of"):
        basis_comparison(u, u, test="t")
    with pytest.raises(ValueError, match=r"'missing' parameter .* 'exclude', 'zero'; got 'drop'"):
        basis_comparison(u, u, missing="drop")
    table = unit_table(acts, n_permutations=20)
    with pytest.raises(KeyError, match=r"'measure' 'sharpness' .* variables over 'unit': 'ent"):
        basis_comparison(table, table, measure="sharpness")
    with pytest.raises(ValueError, match=r"must have dims \('unit',\); got \('unit', 'factor'\)"):
        basis_comparison(table, table, measure="mi")
    with pytest.raises(ValueError, match=r"need a 'layer' coordinate on 'unit'"):
        basis_comparison(u.drop_vars("layer"), u)
    with pytest.raises(TypeError, match=r"'baseline' argument of basis_comparison must be a unit"):
        basis_comparison(u, [0.5])
    with pytest.raises(TypeError, match=r"must be numeric; got <U"):
        basis_comparison(u, u.copy(data=np.array(["a", "b"])))
    with pytest.raises(KeyError, match=r"no layer in both inputs; units have layers \['a'\]"):
        basis_comparison(u, _measure([0.1], ["b"]))
