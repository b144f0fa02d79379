"""Decoding, V-information and linear CKA: closed-form cases, invariances, parity and errors."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from factorprobe.analysis.population import _decode, _hsic, cka, decoding, linear_cka_matrix


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
        x, codes, C=1.0, n_splits=5, max_iter=1000, random_state=out.attrs["random_state"]
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
