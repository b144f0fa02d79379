"""Decoding, V-information and linear CKA: closed-form cases, invariances, parity and errors."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from factorprobe.analysis.decoders import regress, stratified_folds
from factorprobe.analysis.population import (
    C_GRID,
    _decode,
    _hsic,
    cka,
    decoding,
    linear_cka_matrix,
)
from factorprobe.io.tables import layer_dataframe


def _grid(repeats: int = 5):
    s, x, y = np.meshgrid(np.arange(4), np.arange(3), np.arange(3), indexing="ij")
    return tuple(np.tile(v.ravel(), repeats) for v in (s, x, y))


def _layers(**blocks: np.ndarray) -> xr.DataArray:
    """A DataArray[stimulus, unit] from named (S, U) blocks, with a size x y grid as factors."""
    s, x, y = _grid()
    values = np.hstack(list(blocks.values()))
    layer = np.concatenate([[name] * b.shape[1] for name, b in blocks.items()])
    index = np.concatenate([np.arange(b.shape[1]) for b in blocks.values()])
    return xr.DataArray(
        values,
        dims=("stimulus", "unit"),
        coords={
            "size": ("stimulus", 16 + 16 * s),
            "x": ("stimulus", 60 + 52 * x),
            "y": ("stimulus", 60 + 52 * y),
            "layer": ("unit", layer),
            "index": ("unit", index),
        },
    )


@pytest.fixture
def acts() -> xr.DataArray:
    """Layer 'sep' codes size one-hot (plus small noise); layer 'noise' is independent noise."""
    rng = np.random.default_rng(0)
    s, _, _ = _grid()
    sep = np.eye(4)[s] + 0.05 * rng.normal(size=(len(s), 4))
    return _layers(sep=sep, noise=rng.normal(size=(len(s), 5)))


# ------------------------------------------------------------------------------- decoding


def test_v_information_of_a_decodable_factor_is_close_to_its_entropy(acts):
    out = decoding(acts, ["size"], C=100.0)
    h = out["entropy_factor"].sel(layer="sep", factor="size").item()
    assert h == pytest.approx(2.0)  # 4 equally frequent levels
    assert out["accuracy"].sel(layer="sep", factor="size").item() == 1.0
    assert out["v_information"].sel(layer="sep", factor="size").item() == pytest.approx(h, abs=0.02)


def test_v_information_of_an_independent_layer_is_close_to_zero(acts):
    out = decoding(acts, ["size", "x"])
    v = out["v_information"].sel(layer="noise")
    assert np.all(np.abs(v.values) < 0.12)
    assert np.all(out["accuracy"].sel(layer="noise") < 0.45)


def test_v_information_is_entropy_minus_cross_entropy_and_chance_is_the_majority(acts):
    out = decoding(acts, ["size", "x"])
    np.testing.assert_allclose(out["v_information"], out["entropy_factor"] - out["cross_entropy"])
    np.testing.assert_allclose(out["chance"].sel(factor="size"), 0.25)
    np.testing.assert_allclose(out["chance"].sel(factor="x"), 1 / 3)
    np.testing.assert_allclose(out["entropy_factor"].sel(factor="x"), np.log2(3))


def test_unbalanced_factor_entropy_and_chance_by_hand():
    rng = np.random.default_rng(1)
    f = np.repeat([0, 1, 2], [10, 20, 30])
    a = xr.DataArray(
        rng.normal(size=(60, 3)),
        dims=("stimulus", "unit"),
        coords={"shape": ("stimulus", f), "layer": ("unit", ["fc"] * 3)},
    )
    out = decoding(a, ["shape"])
    p = np.array([10, 20, 30]) / 60
    assert out["entropy_factor"].item() == pytest.approx(-(p * np.log2(p)).sum())
    assert out["chance"].item() == pytest.approx(0.5)


def test_position_group_is_decoded_as_its_joint_label(acts):
    out = decoding(acts, ["position"], n_splits=3)
    assert out["entropy_factor"].item(0) == pytest.approx(np.log2(9))
    assert out["chance"].item(0) == pytest.approx(1 / 9)


def test_layers_keep_their_order_and_attrs_record_the_decoder(acts):
    out = decoding(acts, ["size"], C=0.5, n_splits=4, max_iter=300, seed=3)
    assert out["accuracy"].dims == ("layer", "factor")
    assert out["layer"].values.tolist() == ["sep", "noise"]
    assert (out.attrs["C"], out.attrs["n_splits"], out.attrs["max_iter"], out.attrs["seed"]) == (
        0.5,
        4,
        300,
        3,
    )
    assert out.attrs["units"] == out["v_information"].attrs["units"] == "bits"
    assert all(isinstance(v, int | float | str) for v in out.attrs.values())


def test_wrapper_matches_the_kernel_and_seeds_repeat(acts):
    out = decoding(acts, ["size"], seed=7)
    x = acts.sel(unit=acts.layer == "noise").values
    codes = np.unique(acts["size"].values, return_inverse=True)[1]
    acc, ce = _decode(
        x, codes, C=C_GRID, n_splits=5, max_iter=1000, random_state=out.attrs["random_state"]
    )
    assert out["accuracy"].sel(layer="noise").item() == acc
    assert out["cross_entropy"].sel(layer="noise").item() == ce
    assert decoding(acts, ["size"], seed=7).identical(out)


def test_decoding_is_invariant_to_permuting_units_and_does_not_mutate(acts):
    before = acts.copy(deep=True)
    out = decoding(acts, ["size"])
    order = np.random.default_rng(2).permutation(acts.sizes["unit"])
    permuted = decoding(acts.isel(unit=order), ["size"])
    xr.testing.assert_identical(acts, before)
    np.testing.assert_allclose(
        permuted["v_information"].sel(layer=["sep", "noise"]), out["v_information"], atol=1e-4
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"C": 0.0}, ValueError, r"'C' parameter of decoding must be a finite number > 0; got 0"),
        ({"C": "big"}, TypeError, r"'C' parameter of decoding must be a real number"),
        ({"C": [0.1]}, ValueError, r"'C' .* or a sequence of at least 2 finite numbers > 0 .*"),
        ({"C": [1.0, 0.0]}, ValueError, r"'C' parameter .* got \[1.0, 0.0\]"),
        ({"C": [1.0, "a"]}, ValueError, r"'C' parameter of decoding must be one number > 0"),
        (
            {"alpha": -1.0},
            ValueError,
            r"'alpha' parameter of decoding must be a finite number >= 0",
        ),
        ({"alpha": [1.0, np.inf]}, ValueError, r"'alpha' .* numbers >= 0 to choose from"),
        ({"alpha": None}, TypeError, r"'alpha' parameter of decoding must be a real number"),
        ({"n_splits": 1}, ValueError, r"'n_splits' parameter of decoding must be an int >= 2"),
        ({"n_splits": 46}, ValueError, r"level with 45 stimuli; n_splits=46 needs at least 46"),
        ({"max_iter": 0}, ValueError, r"'max_iter' parameter of decoding must be an int >= 1"),
        ({"factors": [3]}, TypeError, r"'factors' parameter of decoding must be a sequence"),
        ({"factors": ["size", "size"]}, ValueError, r"names a factor twice"),
        ({"factors": []}, ValueError, r"must name at least 1 factors"),
        ({"factors": ["colour"]}, KeyError, r"Factor 'colour' of decoding needs"),
        ({"seed": 1.5}, TypeError, r"'seed' must be an int"),
    ],
)
def test_decoding_errors(acts, kwargs, error, match):
    kwargs = {"factors": ["size"], **kwargs}
    with pytest.raises(error, match=match):
        decoding(acts, **kwargs)


def test_decoding_needs_a_layer_coordinate_and_a_dataarray(acts):
    with pytest.raises(ValueError, match=r"needs a 'layer' coordinate on 'unit'"):
        decoding(acts.drop_vars("layer"), ["size"])
    with pytest.raises(TypeError, match=r"decoding expects an xarray.DataArray"):
        decoding(acts.values, ["size"])


def test_decoding_needs_two_stimuli_per_level_in_each_training_fold_to_choose_c():
    f = np.repeat([0, 1, 2], 2)
    a = xr.DataArray(
        np.random.default_rng(0).normal(size=(6, 2)),
        dims=("stimulus", "unit"),
        coords={"size": ("stimulus", f), "layer": ("unit", ["fc"] * 2)},
    )
    with pytest.raises(ValueError, match=r"choosing 'C' by inner cross-validation with n_splits"
                       r"=2 needs at least 4 per level \(pass a single C"):  # fmt: skip
        decoding(a, ["size"], n_splits=2)
    assert decoding(a, ["size"], n_splits=2, C=1.0)["accuracy"].notnull().all()


# ------------------------------------------------------------------------ decoding as values


def _linear_layers(rng: np.random.Generator) -> xr.DataArray:
    """'lin': 6 units, noisy linear mixes of size, x and y; 'noise': 6 independent units."""
    s, x, y = _grid()
    z = np.column_stack([s, x, y]).astype(float)
    z = (z - z.mean(0)) / z.std(0)
    lin = z @ rng.normal(size=(3, 6)) + 1e-3 * rng.normal(size=(len(s), 6))
    return _layers(lin=lin, noise=rng.normal(size=(len(s), 6)))


def test_a_linear_code_is_decoded_with_r2_near_one_and_errors_near_zero():
    out = decoding(_linear_layers(np.random.default_rng(0)), ["size", "x", "y", "position"], C=1.0)
    lin = out.sel(layer="lin")
    np.testing.assert_array_less(0.999, lin["r2"])
    np.testing.assert_array_less(lin["rmse"], 0.01 * lin["sd_factor"])
    np.testing.assert_array_less(lin["mae"], lin["rmse"] + 1e-12)  # mean |e| <= sqrt(mean e^2)
    # sd_factor: size 16..64 in 4 levels; position the root of the summed x and y variances
    sd = out["sd_factor"].sel(layer="lin")
    assert sd.sel(factor="size").item() == pytest.approx(np.std(16 + 16 * np.arange(4)))
    assert sd.sel(factor="position").item() == pytest.approx(np.sqrt(2) * np.std([60, 112, 164]))


def test_noise_gives_r2_near_zero_and_the_factors_sd_as_error():
    out = decoding(_linear_layers(np.random.default_rng(1)), ["size", "x", "y", "position"], C=1.0)
    noise = out.sel(layer="noise")
    assert np.all((noise["r2"] > -0.1) & (noise["r2"] < 0.05))
    np.testing.assert_allclose(noise["rmse"], noise["sd_factor"], rtol=0.05)


def test_shuffled_values_give_no_r2_no_leakage():
    """A layer that codes size perfectly, with size shuffled over the stimuli: nothing to learn."""
    acts = _linear_layers(np.random.default_rng(2))
    shuffled = np.random.default_rng(3).permutation(acts["size"].values)
    out = decoding(acts.assign_coords(size=("stimulus", shuffled)), ["size"])
    np.testing.assert_array_less(out["r2"], 0.03)
    np.testing.assert_array_less(out["v_information"], 0.1)


def test_regression_matches_a_hand_rolled_cross_fit_with_choices_on_training_folds():
    """Standardisation and alpha are fitted on each training fold alone (here by hand)."""
    from sklearn.linear_model import RidgeCV
    from sklearn.preprocessing import StandardScaler

    acts = _linear_layers(np.random.default_rng(4))
    out = decoding(acts, ["position"], C=1.0, alpha=[0.1, 10.0, 1000.0], seed=5)
    x = acts.sel(unit=acts.layer == "noise").values
    v = np.column_stack([acts["x"].values, acts["y"].values]).astype(float)
    codes = np.unique(v[:, 0] * 1000 + v[:, 1], return_inverse=True)[1]
    folds = stratified_folds(codes, n_splits=5, random_state=out.attrs["random_state"])
    predicted = np.empty_like(v)
    for train, test in folds:
        scaler = StandardScaler().fit(x[train])
        model = RidgeCV(alphas=[0.1, 10.0, 1000.0]).fit(scaler.transform(x[train]), v[train])
        predicted[test] = model.predict(scaler.transform(x[test]))
    e = predicted - v
    r2 = np.mean(1 - (e**2).sum(0) / ((v - v.mean(0)) ** 2).sum(0))  # unweighted mean of x, y
    got = out.sel(layer="noise", factor="position")
    assert got["r2"].item() == pytest.approx(r2, abs=1e-12)
    assert got["rmse"].item() == pytest.approx(np.sqrt((e**2).sum(1).mean()), abs=1e-9)
    assert got["mae"].item() == pytest.approx(np.sqrt((e**2).sum(1)).mean(), abs=1e-9)
    assert regress(x, v, folds, alphas=np.array([0.1, 10.0, 1000.0]))[0] == got["r2"].item()


def _planted_position(noise_units: int = 60) -> xr.DataArray:
    """7 x 7 positions, 6 stimuli each; 10 units code x and y linearly (noise 0.3), plus noise."""
    rng = np.random.default_rng(0)
    levels = 40.0 + 24.0 * np.arange(7)
    x, y = (np.tile(v.ravel(), 6) for v in np.meshgrid(levels, levels, indexing="ij"))
    z = np.column_stack([(x - 112) / 48, (y - 112) / 48])
    code = z @ rng.normal(size=(2, 10)) + 0.3 * rng.normal(size=(len(x), 10))
    values = np.hstack([code, rng.normal(size=(len(x), noise_units))])
    return xr.DataArray(
        values,
        dims=("stimulus", "unit"),
        coords={
            "x": ("stimulus", x, {"units": "pixels"}),
            "y": ("stimulus", y, {"units": "pixels"}),
            "layer": ("unit", ["fc"] * values.shape[1]),
        },
    )


def test_joint_position_is_recovered_as_values_where_the_49_way_classifier_fails():
    out = decoding(_planted_position(), ["position"]).sel(layer="fc", factor="position")
    assert out["chance"].item() == pytest.approx(1 / 49)
    assert out["accuracy"].item() < 0.15  # 4-5 training stimuli per level: labels are not learnt
    assert out["r2"].item() > 0.95  # ... but the (x, y) values are
    assert out["rmse"].item() < 12.0  # pixels, half the 24 px grid step
    assert out["rmse"].item() < 0.2 * out["sd_factor"].item()
    assert out["rmse"].attrs["units"] == out["mae"].attrs["units"] == "pixels"


def test_v_information_is_not_negative_when_the_classifier_is_above_chance():
    acts = _planted_position()
    fixed = decoding(acts, ["position"], C=1.0).isel(layer=0, factor=0)
    chosen = decoding(acts, ["position"]).isel(layer=0, factor=0)
    # the symptom: an overfitted decoder above chance with negative V-information
    assert fixed["accuracy"].item() > 2 * fixed["chance"].item()
    assert fixed["v_information"].item() < 0
    # C chosen by inner cross-validation on the training folds
    assert chosen["accuracy"].item() > 2 * chosen["chance"].item()
    assert chosen["v_information"].item() > 0.3
    assert chosen["decoder_c"].item() < 1.0
    assert chosen["v_information_chance"].item() < 0  # the cross-fitted floor of "nothing"


def test_floor_of_v_information_is_what_a_layer_without_information_scores():
    rng = np.random.default_rng(6)
    s, _, _ = _grid()
    out = decoding(_layers(noise=rng.normal(size=(len(s), 5))), ["size", "x", "position"])
    v, floor = out["v_information"], out["v_information_chance"]
    assert np.all(floor <= 1e-12)  # 0 when every level splits evenly over the folds
    np.testing.assert_allclose(v, floor, atol=0.08)  # inner CV picks ~the level frequencies


def test_unordered_factors_have_no_value_decoding_and_units_are_described():
    s, _, _ = _grid()
    rng = np.random.default_rng(7)
    acts = _layers(fc=np.eye(4)[s] + 0.05 * rng.normal(size=(len(s), 4))).assign_coords(
        shape=("stimulus", np.array(["disc", "square"])[s % 2])
    )
    acts.attrs["stimuli_units"] = "pixels"
    out = decoding(acts, ["shape", "size"], C=1.0)
    assert np.isnan(out["r2"].sel(factor="shape")).all()
    assert np.isnan(out["sd_factor"].sel(factor="shape")).all()
    assert out["accuracy"].sel(factor="shape").item() > 0.9
    assert out["r2"].sel(factor="size").item() > 0.95
    for name, variable in out.data_vars.items():
        assert variable.attrs["description"], name
        assert "units" in variable.attrs, name
    assert out["rmse"].attrs["units"] == "pixels"  # from the stimuli's attrs
    assert out["r2"].attrs["units"] == out["accuracy"].attrs["units"] == "1"
    assert out["v_information"].attrs["units"] == "bits"
    assert all(isinstance(v, int | float | str) for v in out.attrs.values())
    frame = layer_dataframe(out)  # what layers.csv holds: one column per variable
    assert list(frame.columns) == ["layer", "factor", *out.data_vars]
    assert frame.shape == (2, 2 + len(out.data_vars))


def test_errors_of_factors_in_different_units_name_each():
    acts = _linear_layers(np.random.default_rng(8))
    acts["size"].attrs["units"] = "degrees of visual angle"
    acts["x"].attrs["units"] = "pixels"
    out = decoding(acts, ["size", "x"], C=1.0)
    assert out["rmse"].attrs["units"] == "size: degrees of visual angle; x: pixels"


def test_attrs_record_the_choices_of_c_and_alpha(acts):
    out = decoding(acts, ["size"])
    assert out.attrs["C"] == "inner-cv"
    assert out.attrs["C_grid"] == "0.0001 0.001 0.01 0.1 1 10 100 1000"
    assert "inner stratified 3-fold" in out.attrs["C_selection"]
    assert out.attrs["alpha"] == "leave-one-out"
    assert out.attrs["r2_of_groups"] == "unweighted mean of the members' R2"
    fixed = decoding(acts, ["size"], C=2.0, alpha=3.0)
    assert (fixed.attrs["C"], fixed.attrs["alpha"]) == (2.0, 3.0)
    np.testing.assert_array_equal(fixed["decoder_c"], 2.0)
    np.testing.assert_array_equal(fixed["ridge_alpha"], 3.0)


def test_embedded_model_layers_decode_x_and_y_as_values():
    import factorprobe as fp

    space = fp.stimuli.grid(
        size=[16.0, 32.0, 48.0], x=[60.0, 86.0, 112.0, 138.0, 164.0],
        y=[60.0, 86.0, 112.0, 138.0, 164.0], shape="disc",
    )  # fmt: skip
    acts = fp.probing.capture(
        fp.probing.load_model("embedded"), fp.stimuli.render(space, canvas=224), progress=False
    )
    acts = acts.sel(unit=np.isin(acts.layer, ["pool", "fc1"]))
    out = decoding(acts, ["size", "x", "y", "position"], C=1.0, n_splits=3)
    r2 = out["r2"]
    assert r2.sel(factor="size").min() > 0.95
    assert r2.sel(factor=["x", "y", "position"]).min() > 0.2  # measured 0.33 to 0.45
    assert (out["rmse"] < out["sd_factor"]).all()
    assert out["rmse"].attrs["units"] == "pixels"


# ------------------------------------------------------------------------------------ CKA


def _cka_by_hand(x: np.ndarray, y: np.ndarray) -> float:
    """tr(K H L H) / sqrt(tr(K H K H) tr(L H L H)) with explicit Gram and centring matrices."""
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n
    k, l_ = x @ x.T, y @ y.T

    def hsic(a, b):
        return np.trace(a @ h @ b @ h)

    return hsic(k, l_) / np.sqrt(hsic(k, k) * hsic(l_, l_))


def _unbiased_hsic_by_hand(x: np.ndarray, y: np.ndarray) -> float:
    """Song et al. (2012), eq. 5, on the linear Grams with zeroed diagonals."""
    n = len(x)
    k, l_ = x @ x.T, y @ y.T
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(l_, 0.0)
    one = np.ones(n)
    return (
        np.trace(k @ l_)
        + (one @ k @ one) * (one @ l_ @ one) / ((n - 1) * (n - 2))
        - 2 / (n - 2) * one @ k @ l_ @ one
    ) / (n * (n - 3))


def test_cka_matches_the_gram_formula_and_is_one_on_the_diagonal():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(12, 3)), rng.normal(size=(12, 30))  # feature and Gram paths
    b[:, :3] += 2 * a
    acts = _named(a=a, b=b)
    out = cka(acts)
    assert out.dims == ("layer", "other_layer")
    np.testing.assert_allclose(np.diag(out), 1.0)
    assert out.sel(layer="a", other_layer="b").item() == pytest.approx(_cka_by_hand(a, b))
    np.testing.assert_allclose(out, out.T)


def test_debiased_cka_matches_the_unbiased_hsic_by_hand():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(10, 4)), rng.normal(size=(10, 25))
    expected = _unbiased_hsic_by_hand(a, b) / np.sqrt(
        _unbiased_hsic_by_hand(a, a) * _unbiased_hsic_by_hand(b, b)
    )
    out = cka(_named(a=a, b=b), debiased=True)
    assert out.sel(layer="a", other_layer="b").item() == pytest.approx(expected)
    assert out.attrs["debiased"] == 1


def test_hsic_feature_and_gram_paths_agree():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6, 40))
    y = rng.normal(size=(6, 2))
    x, y = x - x.mean(0), y - y.mean(0)
    gram = float(np.sum((x @ x.T) * (y @ y.T)))
    assert _hsic(x, y, debiased=False) == pytest.approx(gram)  # Gram path (6 < 40)
    assert _hsic(y, y, debiased=False) == pytest.approx(float(np.square(y.T @ y).sum()))


def test_cka_is_invariant_to_orthogonal_transforms_and_isotropic_scaling():
    rng = np.random.default_rng(3)
    a, c = rng.normal(size=(40, 6)), rng.normal(size=(40, 8))
    c[:, :6] += a
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    out = cka(_named(a=a, rotated=5.0 * a @ q + 1.0, c=c))
    assert out.sel(layer="a", other_layer="rotated").item() == pytest.approx(1.0)
    assert out.sel(layer="rotated", other_layer="c").item() == pytest.approx(
        out.sel(layer="a", other_layer="c").item()
    )
    # not invariant to an arbitrary invertible linear map (stretching one unit)
    stretched = a * np.array([10.0, 1, 1, 1, 1, 1])
    assert cka(_named(a=a, s=stretched)).sel(layer="a", other_layer="s").item() < 0.9


def test_cka_of_independent_layers_is_small_when_debiased_and_constant_layer_is_nan():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(30, 50)), rng.normal(size=(30, 50))
    biased = cka(_named(a=a, b=b)).sel(layer="a", other_layer="b").item()
    debiased = cka(_named(a=a, b=b), debiased=True).sel(layer="a", other_layer="b").item()
    assert biased > 0.5  # the plain estimator's bias with more units than stimuli
    assert abs(debiased) < 0.1
    assert np.isnan(linear_cka_matrix([a, np.ones((30, 2))])[0, 1])


def test_cka_does_not_mutate_and_errors():
    rng = np.random.default_rng(5)
    acts = _named(a=rng.normal(size=(3, 2)), b=rng.normal(size=(3, 2)))
    before = acts.copy(deep=True)
    cka(acts)
    xr.testing.assert_identical(acts, before)
    with pytest.raises(TypeError, match=r"'debiased' parameter of cka must be a bool; got 1"):
        cka(acts, debiased=1)
    with pytest.raises(ValueError, match=r"cka needs at least 4 stimuli when debiased; got 3"):
        cka(acts, debiased=True)
    with pytest.raises(ValueError, match=r"needs a 'layer' coordinate"):
        cka(acts.drop_vars("layer"))


def _named(**blocks: np.ndarray) -> xr.DataArray:
    values = np.hstack(list(blocks.values()))
    layer = np.concatenate([[name] * b.shape[1] for name, b in blocks.items()])
    return xr.DataArray(values, dims=("stimulus", "unit"), coords={"layer": ("unit", layer)})
