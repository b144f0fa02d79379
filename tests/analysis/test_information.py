"""Entropy, MI (plug-in and copula), conditional MI and co-information: known answers."""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import mutual_info_score

from factorprobe.analysis import (
    co_information,
    conditional_mutual_information,
    entropy,
    kl_selectivity,
    mutual_information,
    quantize,
)
from factorprobe.analysis._kernels.plugin import LN2

FAST = {"n_permutations": 100}


def test_plugin_matches_sklearn_on_same_discretisation(make_acts, grid):
    size, x, y = grid(5, 4, 4, repeats=3)
    rng = np.random.default_rng(0)
    values = rng.normal(size=(len(size), 6)) + size[:, None] * rng.uniform(0, 1, 6)
    acts = make_acts(values, size=size * 8 + 16, x=x, y=y)
    bins = quantize(acts, n_bins=6).values
    position = x * 4 + y
    for factor, labels in (("size", size), ("position", position)):
        ours = mutual_information(acts, factor, n_bins=6, estimator="plugin", raw=True).values
        ref = np.array([mutual_info_score(b, labels) for b in bins]) / LN2
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10)


def test_function_of_factor_gives_entropy_of_response(make_acts):
    size = np.repeat(np.arange(10), 20)
    acts = make_acts(np.sin(size * 1.3) * 5 + size, size=size)  # injective in the level
    for n_bins in (4, 10):
        mi = mutual_information(acts, "size", n_bins=n_bins, estimator="plugin", raw=True)
        h_r = entropy(acts, n_bins=n_bins, quantizer="quantile")  # the same quantiser
        np.testing.assert_allclose(mi.values, h_r.values, atol=1e-12)
    # ten bins separate the ten equiprobable levels: I = H(R) = H(F) = log2 10
    np.testing.assert_allclose(mi.values, np.log2(10), atol=1e-12)


def test_entropy_defaults_to_a_fixed_quantiser(make_acts):
    # half the stimuli at 0, the rest spread: equal-width bins see it, quantile bins cannot
    values = np.stack([np.r_[np.zeros(50), np.linspace(1, 2, 50)], np.linspace(0, 1, 100)], 1)
    acts = make_acts(values, size=np.repeat(np.arange(10), 10))
    h = entropy(acts, n_bins=4)
    assert h.attrs["quantizer"] == "uniform"
    np.testing.assert_allclose(h.values[1], 2.0)
    assert h.values[0] < 1.9
    np.testing.assert_allclose(entropy(acts, n_bins=4, quantizer="quantile").values[1], 2.0)


def test_permuted_response_has_corrected_mi_near_zero(make_acts):
    rng = np.random.default_rng(3)
    size = np.repeat(np.arange(10), 50)
    values = np.stack([rng.permutation(size) + 0.01 * rng.normal(size=500) for _ in range(40)], 1)
    acts = make_acts(values, size=size)
    raw = mutual_information(acts, "size", estimator="plugin", raw=True)
    assert raw.mean() > 0.08  # the plug-in bias is there ...
    for estimator in ("plugin", "copula"):
        for correction in ("shuffle", "analytic"):
            mi = mutual_information(acts, "size", estimator=estimator, correction=correction)
            assert abs(float(mi.mean())) < 0.01, (estimator, correction)  # ... and removed


def test_one_level_of_four_kl_two_bits_mi_0811(make_acts):
    level = np.repeat(np.arange(4), 25)
    acts = make_acts((level == 2).astype(float), size=level)
    options = {"quantizer": "threshold", "threshold": 0.5}
    assert float(kl_selectivity(acts, "size", **options)[0]) == pytest.approx(2.0, abs=1e-12)
    mi = mutual_information(acts, "size", estimator="plugin", raw=True, **options)
    h = -(0.25 * np.log2(0.25) + 0.75 * np.log2(0.75))
    assert float(mi[0]) == pytest.approx(h, abs=1e-12)
    assert h == pytest.approx(0.811, abs=5e-4)


def test_constant_units_are_zero_without_warnings(make_acts):
    size = np.repeat(np.arange(5), 10)
    values = np.zeros((50, 3))
    values[:, 1] = 7.0
    values[:, 2] = size
    acts = make_acts(values, size=size)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for estimator in ("plugin", "copula"):
            mi = mutual_information(acts, "size", estimator=estimator, **FAST)
            assert mi.values[:2].tolist() == [0.0, 0.0]
            assert mi.values[2] > 1.0
        assert entropy(acts).values[:2].tolist() == [0.0, 0.0]


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(["plugin", "copula"]))
def test_invariant_to_relabelling_levels_and_permuting_units(seed, estimator):
    rng = np.random.default_rng(seed)
    from tests.analysis.conftest import make_acts

    size = np.repeat(np.arange(6), 15)
    values = rng.normal(size=(90, 5)) + rng.uniform(0, 2, 5) * np.cos(size)[:, None]
    acts = make_acts(values, size=size * 10.0)
    base = mutual_information(acts, "size", estimator=estimator, **FAST)
    relabelled = acts.assign_coords(size=("stimulus", rng.permutation(6)[size].astype(str)))
    np.testing.assert_allclose(
        mutual_information(relabelled, "size", estimator=estimator, **FAST).values,
        base.values,
        atol=1e-12,
    )
    order = rng.permutation(5)
    shuffled = mutual_information(acts.isel(unit=order), "size", estimator=estimator, **FAST)
    np.testing.assert_allclose(shuffled.values, base.values[order], atol=1e-12)


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 10_000))
def test_invariant_to_monotone_transforms(seed):
    rng = np.random.default_rng(seed)
    from tests.analysis.conftest import make_acts

    size = np.repeat(np.arange(5), 12)
    values = rng.normal(size=(60, 4)) + size[:, None] * rng.uniform(0, 1, 4)
    acts = make_acts(values, size=size)
    transformed = acts.copy(data=np.exp(values) * 3 - 1)
    for estimator in ("plugin", "copula"):
        a = mutual_information(acts, "size", estimator=estimator, **FAST)
        b = mutual_information(transformed, "size", estimator=estimator, **FAST)
        np.testing.assert_allclose(a.values, b.values, atol=1e-12)


def test_dask_is_lazy_and_equal(make_acts):
    size = np.repeat(np.arange(4), 10)
    values = np.random.default_rng(0).normal(size=(40, 6)) + size[:, None]
    acts = make_acts(values, size=size)
    lazy = acts.copy(data=da.from_array(values, chunks=(40, 2)))
    for estimator in ("plugin", "copula"):
        out = mutual_information(lazy, "size", estimator=estimator, **FAST)
        assert isinstance(out.data, da.Array)
        np.testing.assert_allclose(
            out.compute().values,
            mutual_information(acts, "size", estimator=estimator, **FAST).values,
        )
    assert mutual_information(acts, "size", **FAST).attrs["units"] == "bits"


def test_conditional_mi_separates_confounded_factors(make_acts):
    rng = np.random.default_rng(0)
    a = np.repeat(np.arange(4), 60)
    # b copies a for 48 of each level's 60 stimuli and takes each other value 4 times
    others = np.concatenate([np.repeat(np.setdiff1d(np.arange(4), [k]), 4) for k in range(4)])
    b = a.copy()
    b[np.concatenate([np.arange(k * 60 + 48, k * 60 + 60) for k in range(4)])] = others
    values = a[:, None] + 0.3 * rng.normal(size=(240, 5))  # units code a only
    acts = make_acts(values, a=a, b=b)
    marginal_b = mutual_information(acts, "b", estimator="plugin", n_bins=4, **FAST)
    assert float(marginal_b.min()) > 0.3  # b looks informative through a
    for estimator in ("plugin", "copula"):
        for correction in ("analytic", "shuffle"):
            cmi_b = conditional_mutual_information(
                acts,
                "b",
                "a",
                n_bins=4,
                estimator=estimator,
                correction=correction,
                n_permutations=50,
            )
            assert abs(float(cmi_b.mean())) < 0.03, (estimator, correction)
            cmi_a = conditional_mutual_information(
                acts,
                "a",
                "b",
                n_bins=4,
                estimator=estimator,
                correction=correction,
                n_permutations=50,
            )
            assert float(cmi_a.min()) > 0.2


def test_co_information_signs(make_acts):
    a, c = np.meshgrid(np.arange(2), np.arange(2), indexing="ij")
    a, c = np.repeat(a.ravel(), 25), np.repeat(c.ravel(), 25)
    options = {"estimator": "plugin", "correction": "none", "n_bins": 2}
    # XOR: neither factor alone, both together: synergy of 1 bit
    xor = make_acts((a ^ c).astype(float), a=a, c=c)
    assert float(co_information(xor, ["a", "c"], **options)[0]) == pytest.approx(1.0)
    # b = 2a + c contains a: a unit coding a is redundant across a and b
    red = make_acts(a.astype(float), a=a, b=2 * a + c)
    assert float(co_information(red, ["a", "b"], **options)[0]) == pytest.approx(-1.0)


@pytest.mark.parametrize("estimator", ["plugin", "copula"])
def test_conjunctive_unit_is_synergistic(make_acts, estimator):
    rng = np.random.default_rng(5)
    a, c = np.meshgrid(np.arange(2), np.arange(2), indexing="ij")
    a, c = np.repeat(a.ravel(), 100), np.repeat(c.ravel(), 100)
    values = (a * c + 0.1 * rng.normal(size=400))[:, None]
    co = co_information(
        make_acts(values, a=a, c=c), ["a", "c"], estimator=estimator, n_bins=4, n_permutations=200
    )
    # AND: I(R; a, c) = 0.811 > I(R; a) + I(R; c) = 2 × 0.311 bits in the noiseless limit
    assert float(co[0]) == pytest.approx(0.811 - 2 * 0.311, abs=0.05)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda a: mutual_information(a, "shape"), KeyError, "available factors: 'size'"),
        (lambda a: mutual_information(a, "position"), KeyError, "needs the stimulus coordinate"),
        (
            lambda a: mutual_information(a, "size", estimator="knn"),
            ValueError,
            "'estimator' parameter of mutual_information must be one of 'plugin', 'copula'",
        ),
        (
            lambda a: mutual_information(a, "size", correction="jackknife"),
            ValueError,
            "'correction' parameter of mutual_information must be one of",
        ),
        (
            lambda a: mutual_information(a, "size", n_permutations=0),
            ValueError,
            "'n_permutations' parameter of mutual_information must be an int >= 1",
        ),
        (lambda a: mutual_information(a, "size", seed="x"), TypeError, "'seed' must be an int"),
        (lambda a: co_information(a, ["size"]), ValueError, "must name 2 factors"),
        (
            lambda a: conditional_mutual_information(a, "size", "size2"),
            ValueError,
            "at least 2 stimuli per combination of 'size' and 'size2'",
        ),
        (lambda a: entropy(a, quantizer="kmeans"), ValueError, "'quantizer' parameter of entropy"),
    ],
)
def test_errors(make_acts, call, error, match):
    size = np.repeat(np.arange(4), 5)
    acts = make_acts(
        np.random.default_rng(0).normal(size=(20, 2)), size=size, size2=np.arange(20) % 5
    )
    with pytest.raises(error, match=match):
        call(acts)


def test_factor_errors(make_acts):
    values = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match="'size' of mutual_information must have at least 2 lev"):
        mutual_information(make_acts(values, size=np.full(20, 3.0)), "size")
    with pytest.raises(ValueError, match="needs at least 2 stimuli per level; 20 of its 20"):
        mutual_information(make_acts(values, size=np.arange(20.0)), "size")
    nan = values.copy()
    nan[4, 1] = np.nan
    with pytest.raises(ValueError, match=r"mutual_information got NaN responses .*fc1\[1\]"):
        mutual_information(make_acts(nan, size=np.arange(20) % 2), "size")
