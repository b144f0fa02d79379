"""attrs['seed'] is recorded one way: the int the result was drawn with, and it reproduces it."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from factorprobe.analysis import tuning_curves
from factorprobe.analysis.planted import planted_units


@pytest.mark.parametrize("seed", [3, None, np.random.default_rng(1)])
def test_planted_units_records_an_int_seed_that_reproduces(seed):
    acts = planted_units(kinds=("size",), n_units=2, n_sizes=3, n_x=2, n_y=2, seed=seed)
    recorded = acts.attrs["seed"]
    assert isinstance(recorded, int) and not isinstance(recorded, bool)
    again = planted_units(kinds=("size",), n_units=2, n_sizes=3, n_x=2, n_y=2, seed=recorded)
    xr.testing.assert_identical(acts, again)


@pytest.mark.parametrize("seed", [0, None, np.random.default_rng(2)])
def test_tuning_curves_record_an_int_seed_that_reproduces(seed):
    acts = planted_units(kinds=("size",), n_units=2, n_sizes=3, n_x=2, n_y=2, repeats=2, seed=0)
    curves = tuning_curves(acts, "size", n_boot=40, seed=seed)
    recorded = curves.attrs["seed"]
    assert isinstance(recorded, int)
    xr.testing.assert_identical(curves, tuning_curves(acts, "size", n_boot=40, seed=recorded))
