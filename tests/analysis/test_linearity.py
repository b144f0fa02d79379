"""Linearity: closed-form cases, an independent least-squares check, planted units, errors."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from factorprobe.analysis.linearity import linearity, linearity_kernel


def _acts(values, **factors) -> xr.DataArray:
    values = np.asarray(values, dtype=float)
    values = values[:, None] if values.ndim == 1 else values
    coords = {k: ("stimulus", np.asarray(v)) for k, v in factors.items()}
    coords["layer"] = ("unit", np.array(["fc1"] * values.shape[1]))
    coords["index"] = ("unit", np.arange(values.shape[1]))
    return xr.DataArray(values, dims=("stimulus", "unit"), coords=coords)


def _grid(n=(3, 3, 3), repeats=1):
    levels = [np.linspace(-1.0, 1.0, k) for k in n]
    return tuple(np.repeat(g.ravel(), repeats) for g in np.meshgrid(*levels, indexing="ij"))


def test_closed_form_cases():
    s, x, y = _grid()
    r = np.stack([2 * s + 3 * x - y + 5, s**2, s + s**2, s * x, np.full(s.size, 4.0)], 1)
    res = linearity(_acts(r, size=s, x=x, y=y))
    # s² on symmetric levels {-1, 0, 1} is orthogonal to s: no linear part at all;
    # s + s²: var(s) = 2/3, var(s²) = 2/9, so R²_linear = (2/3) / (8/9) = 0.75
    np.testing.assert_allclose(res["linearity"].values[:4], [1.0, 0.0, 0.75, 0.0], atol=1e-12)
    np.testing.assert_allclose(res["r2_factorial"].values[:4], 1.0)  # one stimulus per cell
    assert np.isnan(res["linearity"].values[4]) and np.isnan(res["r2_linear"].values[4])
    assert res["linearity"].dims == ("unit",)
    assert res.attrs["factors"] == "size,x,y"  # position expanded into its members


def test_matches_independent_least_squares_with_replicates():
    s, x, y = _grid(n=(4, 3, 2), repeats=3)
    rng = np.random.default_rng(0)
    r = np.stack([s + x, np.exp(2 * s) + y, s * y], 1) + 0.3 * rng.normal(size=(s.size, 3))
    res = linearity(_acts(r, size=s, x=x, y=y))
    design = np.column_stack([np.ones(s.size), s, x, y])
    coef, *_ = np.linalg.lstsq(design, r, rcond=None)
    ss_total = ((r - r.mean(0)) ** 2).sum(0)
    r2_lin = 1 - ((r - design @ coef) ** 2).sum(0) / ss_total
    cells = np.unique(np.column_stack([s, x, y]), axis=0, return_inverse=True)[1].ravel()
    means = np.stack([np.bincount(cells, r[:, u]) / np.bincount(cells) for u in range(3)], 1)
    r2_full = 1 - ((r - means[cells]) ** 2).sum(0) / ss_total
    np.testing.assert_allclose(res["r2_linear"].values, r2_lin, rtol=1e-10)
    np.testing.assert_allclose(res["r2_factorial"].values, r2_full, rtol=1e-10)
    np.testing.assert_allclose(res["linearity"].values, r2_lin / r2_full, rtol=1e-10)
    assert (res["r2_factorial"] < 1).all()


def test_planted_linear_and_nonlinear_units():
    s, x, y = _grid(n=(8, 6, 6), repeats=2)
    rng = np.random.default_rng(1)
    linear = 0.5 * s - 0.8 * x + 0.3 * y
    bump = np.exp(-(s**2 + x**2 + y**2) / 0.3)  # a peak in the middle of the grid
    conj = s * x  # a saddle: no linear component
    mixed = 0.5 * s + np.exp(-(x**2) / 0.1)
    r = np.stack([linear, bump, conj, mixed], 1) + 0.05 * rng.normal(size=(s.size, 4))
    lin = linearity(_acts(r, size=s, x=x, y=y))["linearity"].values
    assert lin[0] > 0.98
    assert lin[1] < 0.05 and lin[2] < 0.05
    assert 0.2 < lin[3] < 0.9


def test_invariances_parity_and_dask():
    s, x, y = _grid(n=(4, 3, 3), repeats=2)
    r = np.random.default_rng(2).normal(size=(s.size, 5)) + np.stack([s, x * s, y**2, s, x], 1)
    acts = _acts(r, size=s, x=x, y=y)
    base = linearity(acts)
    rescaled = acts.assign_coords(size=("stimulus", 16 + 24 * s), x=("stimulus", 112 - 50 * x))
    xr.testing.assert_allclose(linearity(rescaled), base)
    # a non-linear relabelling of the levels is a different model: linearity changes
    warped = linearity(acts.assign_coords(size=("stimulus", np.exp(3 * s))))
    assert not np.allclose(warped["linearity"].values[0], base["linearity"].values[0])
    order = [2, 4, 0, 3, 1]
    xr.testing.assert_allclose(linearity(acts.isel(unit=order)), base.isel(unit=order))
    centred = np.column_stack([s, x, y]) - np.column_stack([s, x, y]).mean(0)
    basis = np.linalg.svd(centred, full_matrices=False)[0]
    cells = np.unique(np.column_stack([s, x, y]), axis=0, return_inverse=True)[1].ravel()
    kernel = linearity_kernel(r.T, basis, cells, int(cells.max()) + 1)
    np.testing.assert_allclose(kernel[:, 0], base["linearity"].values)
    lazy = linearity(acts.chunk(unit=2))
    assert lazy["linearity"].chunks is not None
    xr.testing.assert_allclose(lazy.compute(), base)


def test_subset_of_factors_and_continuous_design():
    rng = np.random.default_rng(3)
    s, x = rng.uniform(16, 64, 200), rng.uniform(40, 184, 200)
    r = np.stack([2 * s, 0.01 * (s - 40) ** 2 + x], 1) + rng.normal(size=(200, 2))
    only_size = linearity(_acts(r, size=s, x=x), ["size"])
    assert only_size.attrs["factors"] == "size" and only_size.attrs["n_cells"] == 200
    assert only_size["linearity"].values[0] > 0.99  # every stimulus its own cell: R²_full = 1


@pytest.mark.parametrize(
    ("factors", "coords", "error", "match"),
    [
        (["size", "shape"], {}, TypeError, r"Factor 'shape' of linearity must be numeric"),
        (["colour"], {}, KeyError, r"Factor 'colour' of linearity is not a coordinate"),
        (["size", "flat"], {}, ValueError, r"Factor 'flat' of linearity must take at least 2"),
        (["size", "twice"], {}, ValueError, r"collinear in this design \(rank 1 of 2\)"),
        ([], {}, ValueError, r"linearity needs at least one factor"),
        (["size"], {"size": np.r_[np.nan, np.ones(17)]}, ValueError, r"missing \(NaN\)"),
    ],
)
def test_errors(factors, coords, error, match):
    s, x, y = _grid(n=(3, 3, 2))
    factor_coords = {
        "size": s,
        "x": x,
        "y": y,
        "shape": np.array(["disc", "square"] * 9),
        "flat": np.ones(18),
        "twice": 2 * s,
    }
    factor_coords.update(coords)
    with pytest.raises(error, match=match):
        linearity(_acts(s, **factor_coords), factors)


def test_does_not_mutate_input():
    s, x, y = _grid()
    acts = _acts(s + x, size=s, x=x, y=y)
    before = acts.copy(deep=True)
    linearity(acts)
    xr.testing.assert_identical(acts, before)
