"""Disentanglement scores: hand-computed values on small matrices and codes, parity, errors."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from sklearn.metrics import mutual_info_score

from factorprobe.analysis._kernels.disentanglement import (
    active_units,
    dci_completeness_score,
    dci_disentanglement_score,
    histogram_bins,
    importance_matrix,
    infoc_score,
    infom_score,
    mig_score,
    modularity_score,
    mutual_information_matrix,
    sap_gap,
    sap_matrix_continuous,
    sap_matrix_discrete,
)
from factorprobe.analysis.disentanglement import disentanglement

LOG3_2 = np.log(2) / np.log(3)  # H_3(1/2, 1/2, 0): a factor split evenly over 2 of 3 units
FAST = {"n_estimators": 10, "infomec_estimator": "binned"}


def _grid():
    s, x, y = np.meshgrid(np.arange(4), np.arange(3), np.arange(3), indexing="ij")
    return tuple(np.tile(v.ravel(), 3) for v in (s, x, y))


def _code(*columns: np.ndarray, layer: str = "fc") -> xr.DataArray:
    """A layer whose units are the given functions of the grid's factors (108 stimuli)."""
    s, x, y = _grid()
    values = np.stack(columns, axis=1).astype(float)
    return xr.DataArray(
        values,
        dims=("stimulus", "unit"),
        coords={
            "size": ("stimulus", 16 * (s + 1)),
            "x": ("stimulus", 60 + 52 * x),
            "y": ("stimulus", 60 + 52 * y),
            "layer": ("unit", [layer] * values.shape[1]),
            "index": ("unit", np.arange(values.shape[1])),
        },
    )


def _scores(acts: xr.DataArray, **kwargs) -> dict[str, float]:
    out = disentanglement(acts, ["size", "x", "y"], **{**FAST, **kwargs})
    return {k: float(v.item()) for k, v in out.data_vars.items()}


# ------------------------------------------------------------ kernels on hand-made matrices

IDENTITY = np.eye(3)
DUPLICATED = np.array([[0.5, 0.0], [0.5, 0.0], [0.0, 1.0]])  # factor 0 split over units 0, 1
MIXING = np.array([[0.5, 0.5], [0.5, 0.0], [0.0, 0.5]])  # unit 0 mixes both factors


def test_mig_by_hand():
    assert mig_score(IDENTITY, np.ones(3)) == 1.0
    # duplicated factor: gap 0; the other: gap 1 bit of H = 2 bits
    mi = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    assert mig_score(mi, np.array([1.0, 2.0])) == pytest.approx((0.0 + 1.0) / 2)
    # a unit that codes two factors fully still has the full gap for both
    assert mig_score(np.array([[1.0, 1.0], [0.0, 0.0]]), np.ones(2)) == 1.0


def test_modularity_by_hand():
    assert modularity_score(IDENTITY) == 1.0
    mi = np.array([[1.0, 0.0, 0.0], [1.0, 0.5, 0.0], [0.0, 0.0, 0.0]])
    # unit 1: 1 - 0.5^2 / (1^2 * 2) = 0.875; the silent unit 2 scores 0 and counts
    assert modularity_score(mi) == pytest.approx((1.0 + 0.875 + 0.0) / 3)
    assert modularity_score(np.array([[1.0, 1.0, 1.0]])) == pytest.approx(0.0)


def test_sap_gap_by_hand():
    score = np.array([[0.9, 0.2], [0.4, 0.3], [0.1, 0.8]])
    assert sap_gap(score) == pytest.approx(((0.9 - 0.4) + (0.8 - 0.3)) / 2)


def test_dci_by_hand():
    assert dci_disentanglement_score(IDENTITY) == pytest.approx(1.0, abs=1e-8)
    assert dci_completeness_score(IDENTITY) == pytest.approx(1.0, abs=1e-8)
    # duplicated: every unit is pure (D = 1), factor 0 spread over 2 of 3 units
    assert dci_disentanglement_score(DUPLICATED) == pytest.approx(1.0, abs=1e-8)
    assert dci_completeness_score(DUPLICATED) == pytest.approx(((1 - LOG3_2) + 1) / 2, abs=1e-8)
    # mixing: unit 0 (weight 1/2) has D_0 = 1 - H_2(1/2, 1/2) = 0; units 1, 2 pure (1/4 each)
    assert dci_disentanglement_score(MIXING) == pytest.approx(0.5, abs=1e-8)
    assert dci_completeness_score(MIXING) == pytest.approx(1 - LOG3_2, abs=1e-8)
    # completeness is weighted by each factor's share of the importance
    unequal = np.array([[1.0, 0.0], [0.0, 0.25], [0.0, 0.25]])
    assert dci_completeness_score(unequal) == pytest.approx(
        (1.0 * 1.0 + 0.5 * (1 - LOG3_2)) / 1.5, abs=1e-8
    )
    # no importance at all: uniform weights, per-unit entropy of the 1e-11 floor (maximal)
    assert dci_disentanglement_score(np.zeros((3, 2))) == pytest.approx(0.0, abs=1e-8)


def test_infom_infoc_by_hand():
    everyone = np.ones(3, dtype=bool)
    assert infom_score(IDENTITY, everyone) == 1.0
    assert infoc_score(IDENTITY, everyone) == 1.0
    nmi = np.array([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]])
    # InfoM: unit ratios 1/2, 1, 1 -> mean 5/6 -> (5/6 - 1/2) / (1/2)
    assert infom_score(nmi, everyone) == pytest.approx(2 / 3)
    # InfoC: factor ratios 1/1.5 each -> (2/3 - 1/3) / (2/3)
    assert infoc_score(nmi, everyone) == pytest.approx(0.5)
    duplicated = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert infom_score(duplicated, everyone) == 1.0
    assert infoc_score(duplicated, everyone) == pytest.approx((0.75 - 1 / 3) / (2 / 3))
    # an inactive unit is pruned from both; a silent active unit is left out of InfoM
    assert infom_score(nmi, np.array([False, True, True])) == 1.0
    silent = np.vstack([IDENTITY, np.zeros(3)])
    assert infom_score(silent, np.ones(4, dtype=bool)) == 1.0
    assert infoc_score(silent, np.ones(4, dtype=bool)) == 1.0
    # a factor carried by no active unit leaves InfoC undefined
    assert np.isnan(infoc_score(np.array([[1.0, 0.0], [1.0, 0.0]]), np.ones(2, dtype=bool)))


def test_active_units_use_a_twentieth_of_the_largest_range():
    z = np.array([[0.0, 10.0], [0.0, 0.6], [0.0, 0.4], [1.0, 1.0]])
    assert active_units(z).tolist() == [True, True, False, False]


# ------------------------------------------------------------------ kernels: parity with refs


def test_histogram_bins_equal_numpy_histogram_digitize():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(40, 200))
    z[1] = 3.0  # constant
    z[2] = np.round(z[2], 1)  # ties and values on edges
    z[3] = np.repeat([0.0, 0.1, 0.3], [50, 50, 100])
    expected = np.stack([np.digitize(r, np.histogram(r, 20)[1][:-1]) - 1 for r in z])
    np.testing.assert_array_equal(histogram_bins(z, 20), expected)


def test_mutual_information_matrix_matches_sklearn():
    rng = np.random.default_rng(1)
    bins = rng.integers(0, 5, size=(6, 90))
    f1, f2 = rng.integers(0, 3, 90), bins[0] % 2
    mi = mutual_information_matrix(bins, 5, [f1, f2], [3, 2])
    expected = [[mutual_info_score(f, b) / np.log(2) for f in (f1, f2)] for b in bins]
    np.testing.assert_allclose(mi, expected, atol=1e-10)


def test_sap_matrices_on_duplicated_and_continuous_codes():
    s, x, _ = _grid()
    z = np.stack([s, s, x]).astype(float)
    score = sap_matrix_discrete(z, [s, x], z, [s, x], random_state=0)
    np.testing.assert_array_equal(score[0], score[1])  # identical units, identical SVMs
    r2 = sap_matrix_continuous(np.vstack([z, np.zeros(108)]), np.stack([s, x]).astype(float))
    np.testing.assert_allclose(r2, [[1, 0], [1, 0], [0, 1], [0, 0]], atol=1e-12)


def test_importance_matrix_columns_sum_to_one():
    s, x, y = _grid()
    z = np.stack([s, x, y]).astype(float)
    importance, accuracy = importance_matrix(z, [s, x], z, [s, x], n_estimators=5, random_state=0)
    np.testing.assert_allclose(importance.sum(axis=0), 1.0)
    np.testing.assert_allclose(importance, [[1, 0], [0, 1], [0, 0]], atol=1e-6)
    np.testing.assert_array_equal(accuracy, 1.0)


# -------------------------------------------------- end to end on identity, duplicated, mixed


def test_identity_code_scores_one():
    s, x, y = _grid()
    scores = _scores(_code(s, x, y))
    for key in ("mig", "modularity", "infom", "infoc", "dci_informativeness"):
        assert scores[key] == pytest.approx(1.0, abs=1e-12), key
    assert scores["dci_disentanglement"] == pytest.approx(1.0, abs=1e-3)
    assert scores["dci_completeness"] == pytest.approx(1.0, abs=1e-3)
    assert _scores(_code(s, x, y), sap_factors="continuous")["sap"] == pytest.approx(1.0)
    assert 0 < scores["sap"] < 1  # disentanglement_lib's SVM: one threshold per level


def test_duplicated_code_by_hand():
    s, x, y = _grid()
    acts = _code(s, s, x, y)
    scores = _scores(acts)
    assert scores["mig"] == pytest.approx(2 / 3)  # size's gap is 0
    assert scores["modularity"] == pytest.approx(1.0)
    assert scores["infom"] == pytest.approx(1.0)
    # size spread over 2 of 4 active units: (1/2 + 1 + 1) / 3 = 5/6, then normalised
    assert scores["infoc"] == pytest.approx((5 / 6 - 1 / 4) / (3 / 4))
    assert _scores(acts, sap_factors="continuous")["sap"] == pytest.approx(2 / 3)
    # completeness drops by size's share: 1 - H_4(p, 1 - p) for the trees' split p
    z = acts.values.T
    train, test = _split(acts)
    importance, _ = importance_matrix(
        z[:, train],
        [c[train] for c in (s, x, y)],
        z[:, test],
        [c[test] for c in (s, x, y)],
        n_estimators=10,
        random_state=_state(acts),
    )
    p = importance[0, 0]
    h4 = -(p * np.log(p) + (1 - p) * np.log(1 - p)) / np.log(4)
    assert 0.05 < p < 0.95
    assert scores["dci_completeness"] == pytest.approx((1 - h4 + 2) / 3, abs=1e-6)
    assert scores["dci_disentanglement"] == pytest.approx(1.0, abs=1e-3)


def test_code_mixing_two_factors_by_hand():
    s, x, y = _grid()
    scores = _scores(_code(3 * s + x, y))  # unit 0 codes size and x jointly
    h_s, h_x = 2.0, np.log2(3)
    # unit 0: MI = (2, log2 3, 0) bits -> 1 - (log2 3)^2 / (2^2 * 2); unit 1 pure
    assert scores["modularity"] == pytest.approx((1 - h_x**2 / (h_s**2 * 2) + 1) / 2)
    assert scores["mig"] == pytest.approx(1.0)  # MIG does not see the mixing
    # InfoM: unit 0 NMI (1, 1, 0) -> ratio 1/2; unit 1 -> 1; (3/4 - 1/3) / (2/3)
    assert scores["infom"] == pytest.approx(0.625)
    assert scores["infoc"] == pytest.approx(1.0)
    # DCI: unit 0 has importance (1, 1, 0) -> D_0 = 1 - log3(2), weight 2/3; unit 1: 1, 1/3
    assert scores["dci_disentanglement"] == pytest.approx(2 / 3 * (1 - LOG3_2) + 1 / 3, abs=2e-3)
    assert scores["dci_completeness"] == pytest.approx(1.0, abs=2e-3)


# ------------------------------------------------------------------ wrapper: labels, options


def test_layers_and_attrs_and_reproducibility():
    s, x, y = _grid()
    rng = np.random.default_rng(0)
    acts = xr.concat(
        [_code(s, x, y, layer="fc1"), _code(rng.normal(size=108), x, s, layer="fc2")], "unit"
    )
    before = acts.copy(deep=True)
    out = disentanglement(acts, ["size", "x", "y"], n_estimators=5, seed=4)
    xr.testing.assert_identical(acts, before)
    assert out["layer"].values.tolist() == ["fc1", "fc2"]
    assert set(out.data_vars) == {
        "mig",
        "modularity",
        "sap",
        "dci_disentanglement",
        "dci_completeness",
        "dci_informativeness",
        "infom",
        "infoc",
        "n_active_units",
    }
    assert out["mig"].sel(layer="fc1") > out["mig"].sel(layer="fc2")
    assert out.attrs["n_bins"] == 20 and out.attrs["n_estimators"] == 5
    assert out.attrs["seed"] == 4 and out.attrs["n_train"] + out.attrs["n_test"] == 108
    assert all(isinstance(v, int | float | str) for v in out.attrs.values())
    assert disentanglement(acts, ["size", "x", "y"], n_estimators=5, seed=4).identical(out)


def test_mi_scores_are_invariant_to_permuting_units():
    s, x, y = _grid()
    rng = np.random.default_rng(1)
    acts = _code(s + rng.normal(0, 0.3, 108), x, 3 * s + y, rng.normal(size=108))
    a = _scores(acts)
    b = _scores(acts.isel(unit=[2, 0, 3, 1]))
    for key in ("mig", "modularity", "infom", "infoc"):
        assert a[key] == pytest.approx(b[key], abs=1e-12), key


def test_ksg_infomec_on_an_identity_code_and_position_group():
    s, x, y = _grid()
    rng = np.random.default_rng(2)
    acts = _code(s + 0.1 * rng.normal(size=108), 3 * x + y + 0.1 * rng.normal(size=108))
    out = disentanglement(acts, ["size", "position"], n_estimators=5)
    assert out.attrs["infomec_estimator"] == "ksg"
    assert out["infom"].item() > 0.9 and out["infoc"].item() > 0.9
    assert out["mig"].item() > 0.8


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_bins": 1}, ValueError, r"'n_bins' parameter of disentanglement must be an int >= 2"),
        ({"sap_factors": "ordinal"}, ValueError, r"'sap_factors' .* one of 'discrete', 'conti"),
        ({"infomec_estimator": "knn"}, ValueError, r"one of 'ksg', 'binned'; got 'knn'"),
        ({"n_estimators": 0}, ValueError, r"'n_estimators' .* must be an int >= 1; got 0"),
        ({"factors": ["size"]}, ValueError, r"must name at least 2 factors; got \['size'\]"),
        ({"factors": ["size", "colour"]}, KeyError, r"Factor 'colour' of disentanglement"),
        (
            {"factors": ["size", "position"], "sap_factors": "continuous"},
            ValueError,
            r"'position' is a group of \('x', 'y'\)",
        ),
    ],
)
def test_disentanglement_errors(kwargs, error, match):
    s, x, y = _grid()
    kwargs = {"factors": ["size", "x"], **kwargs}
    with pytest.raises(error, match=match):
        disentanglement(_code(s, x, y), **kwargs)


def test_disentanglement_needs_two_units_numeric_factors_and_enough_stimuli():
    s, x, _ = _grid()
    with pytest.raises(ValueError, match=r"Layer 'fc' has 1 unit\(s\); disentanglement needs"):
        disentanglement(_code(s), ["size", "x"])
    shaped = _code(s, x).assign_coords(shape=("stimulus", np.where(x > 0, "disc", "square")))
    with pytest.raises(ValueError, match=r"'shape' has dtype <U6; use 'discrete'"):
        disentanglement(shaped, ["size", "shape"], sap_factors="continuous")
    a = np.array([0, 0, 0, 0, 1, 1])
    tiny = xr.DataArray(
        np.arange(12.0).reshape(6, 2),
        dims=("stimulus", "unit"),
        coords={"a": ("stimulus", a), "b": ("stimulus", [0, 1] * 3)},
    ).assign_coords(layer=("unit", ["fc", "fc"]))
    seed = next(k for k in range(200) if np.all(a[_split(tiny, k)[0]] == 0))
    with pytest.raises(ValueError, match=r"Factor 'a' .* training split of 4 of 6 stimuli holds"):
        disentanglement(tiny, ["a", "b"], seed=seed)


def _split(acts: xr.DataArray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The wrapper's train/test split for a seed (the rng draws the state first)."""
    rng = np.random.default_rng(seed)
    rng.integers(2**31 - 1)
    order = rng.permutation(acts.sizes["stimulus"])
    n_test = round(acts.sizes["stimulus"] / 3)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def _state(acts: xr.DataArray) -> int:
    return int(np.random.default_rng(0).integers(2**31 - 1))
