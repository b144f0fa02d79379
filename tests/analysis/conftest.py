"""Fixtures for the analysis tests: planted units and small hand-made designs."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from factorprobe.analysis.planted import planted_units


def make_acts(values, **factors) -> xr.DataArray:
    """A DataArray[stimulus, unit] from a (S, U) array and factor coordinates on stimulus."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    n_units = values.shape[1]
    coords = {name: ("stimulus", np.asarray(v)) for name, v in factors.items()}
    coords["layer"] = ("unit", np.array(["fc1"] * n_units))
    coords["index"] = ("unit", np.arange(n_units))
    return xr.DataArray(values, dims=("stimulus", "unit"), coords=coords)


def grid(n_sizes: int = 4, n_x: int = 3, n_y: int = 3, repeats: int = 1):
    """Codes of a full size × x × y grid (each cell ``repeats`` times)."""
    s, x, y = np.meshgrid(np.arange(n_sizes), np.arange(n_x), np.arange(n_y), indexing="ij")
    return tuple(np.repeat(v.ravel(), repeats) for v in (s, x, y))


@pytest.fixture(scope="session")
def planted() -> xr.DataArray:
    """Every planted kind at three noise levels: 1000 stimuli (10 levels per factor), 180 units."""
    return planted_units(n_units=10, noise=(0.25, 0.5, 1.0), seed=0)


@pytest.fixture(scope="session")
def small() -> xr.DataArray:
    """A small design with repeats (so joint factors have 2+ stimuli per cell): 144 stimuli."""
    return planted_units(
        kinds=("size", "position", "conjunctive", "noise"),
        n_units=3,
        noise=(0.3,),
        n_sizes=4,
        n_x=3,
        n_y=3,
        repeats=4,
        seed=1,
    )


@pytest.fixture(name="make_acts")
def _make_acts():
    return make_acts


@pytest.fixture(name="grid")
def _grid():
    return grid
