"""Quantisers: hand cases, ties, constant units, invariances, laziness and errors."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from factorprobe.analysis import quantize
from factorprobe.analysis.quantize import quantile_bins, uniform_bins


def test_quantile_bins_equal_population(make_acts):
    acts = make_acts(np.arange(12.0)[::-1])
    bins = quantize(acts, n_bins=3).values.ravel()
    assert bins.tolist() == [2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0]
    assert quantize(acts, n_bins=3).dims == ("unit", "stimulus")


def test_quantile_bins_keep_ties_together():
    x = np.array([[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0]])
    bins = quantile_bins(x, 5)
    assert np.all(bins[0, :6] == 0)
    assert bins[0, 6:].tolist() == [3, 3, 4, 4]


def test_constant_unit_is_one_bin():
    x = np.full((2, 10), 3.5)
    assert np.all(quantile_bins(x, 4) == 0)
    assert np.all(uniform_bins(x, 4) == 0)


def test_uniform_and_threshold(make_acts):
    acts = make_acts([0.0, 0.1, 0.5, 0.9, 1.0, -2.0])
    assert quantize(acts, n_bins=2, quantizer="uniform").values.ravel().tolist() == [
        1,
        1,
        1,
        1,
        1,
        0,
    ]
    out = quantize(acts, quantizer="threshold", threshold=0.5)
    assert out.values.ravel().tolist() == [0, 0, 0, 1, 1, 0]
    assert out.attrs["n_bins"] == 2


def test_raw_floats_never_become_labels(make_acts):
    # every value distinct: a discrete estimator fed raw floats would see 200 labels
    acts = make_acts(np.random.default_rng(0).normal(size=(200, 3)))
    bins = quantize(acts, n_bins=8).values
    assert len(np.unique(bins)) == 8


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(-1000, 1000), min_size=4, max_size=60))
def test_quantile_bins_invariant_to_monotone_transforms(values):
    # integers keep the transforms exactly order-preserving in floating point
    x = np.asarray(values, dtype=float)[None, :]
    n_bins = 2 if x.shape[1] < 8 else 4
    base = quantile_bins(x, n_bins)
    assert np.array_equal(base, quantile_bins(x**3 + 2 * x - 7, n_bins))
    assert np.array_equal(base, quantile_bins(np.exp(x / 100.0), n_bins))
    assert base.min() >= 0 and base.max() < n_bins


def test_dask_stays_lazy_and_matches(make_acts):
    values = np.random.default_rng(1).normal(size=(50, 6))
    acts = make_acts(values)
    lazy = acts.copy(data=da.from_array(values, chunks=(50, 2)))
    out = quantize(lazy, n_bins=4)
    assert isinstance(out.data, da.Array)
    xr.testing.assert_equal(out.compute(), quantize(acts, n_bins=4))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"quantizer": "kmeans"}, ValueError, "'quantizer' parameter of quantize must be one of"),
        ({"n_bins": 1}, ValueError, r"'n_bins' parameter of quantize must be an int >= 2; got 1"),
        ({"n_bins": 6}, ValueError, "got 6"),
        ({"n_bins": 2.5}, TypeError, "must be an int"),
        ({"threshold": float("nan"), "n_bins": 2}, ValueError, "'threshold' parameter of quantize"),
    ],
)
def test_errors(make_acts, kwargs, error, match):
    with pytest.raises(error, match=match):
        quantize(make_acts(np.arange(10.0)), **kwargs)


def test_input_errors(make_acts):
    with pytest.raises(TypeError, match=r"expects an xarray\.DataArray"):
        quantize(np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"dims \('stimulus', 'unit'\); got \('a', 'b'\)"):
        quantize(xr.DataArray(np.zeros((3, 3)), dims=("a", "b")))
    values = np.ones((10, 4))
    values[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"NaN responses for 1 unit\(s\): fc1\[2\]"):
        quantize(make_acts(values))
