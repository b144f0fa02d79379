"""Tuning curves, response maps, separability and tolerance: hand-computed and planted cases."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from factorprobe.analysis.tuning import (
    cell_means_kernel,
    response_map,
    separability,
    separability_kernel,
    tolerance,
    tolerance_kernel,
    tuning_curves,
)


def _acts(values, **factors) -> xr.DataArray:
    values = np.asarray(values, dtype=float)
    values = values[:, None] if values.ndim == 1 else values
    coords = {k: ("stimulus", np.asarray(v)) for k, v in factors.items()}
    coords["layer"] = ("unit", np.array(["fc1"] * values.shape[1]))
    coords["index"] = ("unit", np.arange(values.shape[1]))
    return xr.DataArray(values, dims=("stimulus", "unit"), coords=coords)


def _grid(n_s=4, n_x=3, n_y=3, repeats=1):
    """Factor values of a full size × x × y grid, ``repeats`` stimuli per cell."""
    levels = (
        16.0 * np.arange(1, n_s + 1),
        40.0 * np.arange(1, n_x + 1),
        30.0 * np.arange(1, n_y + 1),
    )
    return tuple(np.repeat(v.ravel(), repeats) for v in np.meshgrid(*levels, indexing="ij"))


def _planted_matrix(matrix_per_unit, s_codes, p_codes, noise=0.0, seed=0):
    """Responses whose (size, position) cell means are given, shape (U, Ls, Lp)."""
    m = np.asarray(matrix_per_unit)
    r = m[:, s_codes, p_codes].T
    return r + noise * np.random.default_rng(seed).standard_normal(r.shape)


# ------------------------------------------------------------------------------ tuning curves


def test_tuning_curves_hand_computed():
    size = np.array([1, 1, 1, 2, 2, 2])
    r = np.array([1.0, 2.0, 3.0, 10.0, 10.0, 13.0])
    c = tuning_curves(_acts(r, size=size), "size", n_boot=200, seed=0)
    np.testing.assert_allclose(c["mean"].values[0], [2.0, 11.0])
    np.testing.assert_allclose(c["sem"].values[0], [1.0 / np.sqrt(3), np.sqrt(3.0) / np.sqrt(3)])
    assert c["count"].values.tolist() == [3, 3]
    assert c["level"].values.tolist() == [1, 2]
    assert c["mean"].dims == ("unit", "level")
    # the percentile interval lies within the range of the level's values, around the mean
    assert 1.0 <= c["ci_low"].values[0, 0] <= 2.0 <= c["ci_high"].values[0, 0] <= 3.0
    assert 10.0 <= c["ci_low"].values[0, 1] <= 11.0 <= c["ci_high"].values[0, 1] <= 13.0
    assert c.attrs["n_boot"] == 200 and c.attrs["ci"] == 0.95


def test_bootstrap_interval_matches_independent_resampling():
    rng = np.random.default_rng(3)
    size = np.repeat([0, 1], 40)
    r = rng.normal(size=80) + size
    c = tuning_curves(_acts(r, size=size), "size", n_boot=4000, ci=0.9, seed=1)
    # an independent, loop-based stratified bootstrap agrees to Monte-Carlo precision
    boot = np.array([[rng.choice(r[size == k], 40).mean() for _ in range(4000)] for k in (0, 1)])
    lo, hi = np.quantile(boot, [0.05, 0.95], axis=1)
    np.testing.assert_allclose(c["ci_low"].values[0], lo, atol=0.03)
    np.testing.assert_allclose(c["ci_high"].values[0], hi, atol=0.03)
    # and the 90% interval spans about ±1.645 SEM
    width = c["ci_high"] - c["ci_low"]
    np.testing.assert_allclose(width.values[0], 2 * 1.645 * c["sem"].values[0], rtol=0.1)


def test_tuning_curves_seeded_and_chunk_invariant():
    s, x, y = _grid(repeats=2)
    r = np.random.default_rng(0).normal(size=(s.size, 5))
    acts = _acts(r, size=s, x=x, y=y)
    a = tuning_curves(acts, "size", n_boot=100, seed=7)
    b = tuning_curves(acts, "size", n_boot=100, seed=7)
    xr.testing.assert_identical(a, b)
    lazy = tuning_curves(acts.chunk(unit=2), "size", n_boot=100, seed=7)
    assert lazy["ci_low"].chunks is not None  # nothing computed yet
    xr.testing.assert_allclose(lazy.compute(), a)
    other = tuning_curves(acts, "size", n_boot=100, seed=8)
    assert not np.allclose(other["ci_low"], a["ci_low"])


def test_tuning_curves_permuting_units_permutes_results():
    s, x, y = _grid(repeats=2)
    r = np.random.default_rng(1).normal(size=(s.size, 6))
    acts = _acts(r, size=s, x=x, y=y)
    order = [3, 0, 5, 1, 4, 2]
    a = tuning_curves(acts, "size", n_boot=50)
    b = tuning_curves(acts.isel(unit=order), "size", n_boot=50)
    xr.testing.assert_allclose(a.isel(unit=order), b)


def test_tuning_curves_position_group_levels():
    s, x, y = _grid()
    acts = _acts(x + 1000 * y, size=s, x=x, y=y)
    c = tuning_curves(acts, "position", n_boot=20)
    assert c.sizes["level"] == 9
    np.testing.assert_allclose(c["mean"].values[0], c["x"].values + 1000 * c["y"].values)
    assert (c["count"] == 4).all()


def test_tuning_curve_planted_size_unit_peaks_at_planted_level():
    s, x, y = _grid(n_s=5, repeats=3)
    bump = np.exp(-((s - 48.0) ** 2) / (2 * 12.0**2))
    r = bump + 0.05 * np.random.default_rng(2).standard_normal(s.size)
    c = tuning_curves(_acts(r, size=s, x=x, y=y), "size", n_boot=100)
    assert float(c["mean"].isel(unit=0).idxmax("level")) == 48.0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_boot": 0}, ValueError, r"'n_boot' parameter of tuning_curves must be an int >= 1"),
        ({"n_boot": 2.5}, TypeError, r"'n_boot' parameter of tuning_curves must be an int"),
        ({"ci": 1.0}, ValueError, r"'ci' parameter of tuning_curves must be strictly between"),
        ({"ci": 1.5}, ValueError, r"'ci' parameter of tuning_curves must be a finite number"),
        ({"seed": "a"}, TypeError, r"'seed' must be an int"),
        ({"factor": "colour"}, KeyError, r"Factor 'colour' of tuning_curves needs"),
    ],
)
def test_tuning_curves_errors(kwargs, error, match):
    s, x, y = _grid()
    acts = _acts(s, size=s, x=x, y=y)
    with pytest.raises(error, match=match):
        tuning_curves(acts, **{"factor": "size", **kwargs})


def test_tuning_curves_does_not_mutate_input():
    s, x, y = _grid()
    acts = _acts(np.arange(s.size, dtype=float), size=s, x=x, y=y)
    before = acts.copy(deep=True)
    tuning_curves(acts, "size", n_boot=10)
    xr.testing.assert_identical(acts, before)


# -------------------------------------------------------------------------------- response map


def test_response_map_pools_other_factors_and_labels_dims():
    s, x, y = _grid()
    acts = _acts(np.stack([s + x, y], 1), size=s, x=x, y=y)
    m = response_map(acts, ("size", "x"))
    assert m.dims == ("unit", "size", "x")
    np.testing.assert_allclose(m.values[0], m["size"].values[:, None] + m["x"].values[None, :])
    np.testing.assert_allclose(m.values[1], np.mean([30.0, 60.0, 90.0]))
    assert (m["count"] == 3).all()
    xy = response_map(acts, ("x", "y"))
    assert xy.dims == ("unit", "x", "y") and xy.shape == (2, 3, 3)


def test_response_map_empty_cells_are_nan_and_parity_with_kernel():
    s = np.array([1, 1, 2, 2, 1, 1])
    x = np.array([1, 1, 1, 1, 2, 2])
    r = np.random.default_rng(0).normal(size=(6, 3))
    acts = _acts(r, size=s, x=x)
    m = response_map(acts, ("size", "x"))
    assert np.isnan(m.values[:, 1, 1]).all()
    assert m["count"].values.tolist() == [[2, 2], [2, 0]]
    kernel = cell_means_kernel(
        r.T, np.array([0, 0, 1, 1, 0, 0]), 2, np.array([0, 0, 0, 0, 1, 1]), 2
    )
    np.testing.assert_allclose(m.values, kernel)


def test_response_map_lazy_with_dask():
    s, x, y = _grid()
    acts = _acts(np.random.default_rng(0).normal(size=(s.size, 4)), size=s, x=x, y=y)
    lazy = response_map(acts.chunk(unit=2), ("size", "position"))
    assert lazy.chunks is not None
    xr.testing.assert_allclose(lazy.compute(), response_map(acts, ("size", "position")))


@pytest.mark.parametrize(
    ("factors", "match"),
    [
        (("x", "position"), r"response_map needs two different factors; 'x' and 'position' share"),
        (("size",), r"response_map needs a pair of factor names"),
        (("size", "x", "y"), r"response_map needs a pair of factor names"),
    ],
)
def test_response_map_errors(factors, match):
    s, x, y = _grid()
    with pytest.raises(ValueError, match=match):
        response_map(_acts(s, size=s, x=x, y=y), factors)


# -------------------------------------------------------------------------------- separability


def test_separability_rank_one_is_one_identity_is_one_over_n():
    s, x, y = _grid(n_s=4, n_x=2, n_y=2)
    sizes = np.unique(s)
    s_codes = np.searchsorted(sizes, s)
    p_codes = (np.searchsorted(np.unique(x), x) * 2 + np.searchsorted(np.unique(y), y)).astype(int)
    rng = np.random.default_rng(0)
    rank1 = np.outer(rng.uniform(0.1, 1, 4), rng.uniform(0.1, 1, 4))
    identity = np.eye(4)
    additive = np.add.outer([-1.0, 1.0, -1.0, 1.0], [1.0, 1.0, -1.0, -1.0])  # rank 2, equal σ
    r = _planted_matrix([rank1, identity, additive], s_codes, p_codes)
    sep = separability(_acts(r, size=s, x=x, y=y))
    np.testing.assert_allclose(sep.values, [1.0, 0.25, 0.5], atol=1e-12)
    assert sep.name == "separability" and sep.dims == ("unit",)
    assert sep.attrs["factors"] == "size,position"


def test_separability_planted_separable_beats_inseparable():
    s, x, y = _grid(n_s=6, n_x=4, n_y=4, repeats=2)
    t_s = (s - s.min()) / np.ptp(s)
    t_x = (x - x.min()) / np.ptp(x)
    size_tuning = np.exp(-((t_s - 0.5) ** 2) / 0.05)
    pos_tuning = np.exp(-((t_x - 0.3) ** 2) / 0.1)
    shifting = np.exp(-((t_s - t_x) ** 2) / 0.02)  # preferred size moves with x
    rng = np.random.default_rng(0)
    r = np.stack([size_tuning * pos_tuning, shifting], 1) + 0.02 * rng.normal(size=(s.size, 2))
    sep = separability(_acts(r, size=s, x=x, y=y)).values
    assert sep[0] > 0.98
    assert sep[1] < 0.7


def test_separability_invariances_and_parity():
    s, x, y = _grid(n_s=4, n_x=3, n_y=2)
    r = np.random.default_rng(4).normal(size=(s.size, 5))
    acts = _acts(r, size=s, x=x, y=y)
    base = separability(acts)
    # relabelling levels (any one-to-one map of the values) permutes rows/columns only
    relabelled = acts.assign_coords(size=("stimulus", 1000.0 - s**2), x=("stimulus", -x))
    xr.testing.assert_allclose(separability(relabelled), base)
    order = [4, 2, 0, 1, 3]
    xr.testing.assert_allclose(separability(acts.isel(unit=order)), base.isel(unit=order))
    s_codes = np.searchsorted(np.unique(s), s)
    p_codes = np.unique(np.stack([x, y], 1), axis=0, return_inverse=True)[1].ravel()
    np.testing.assert_allclose(base.values, separability_kernel(r.T, s_codes, 4, p_codes, 6))
    lazy = separability(acts.chunk(unit=2))
    assert lazy.chunks is not None
    xr.testing.assert_allclose(lazy.compute(), base)


def test_separability_zero_unit_is_nan_and_missing_cells_raise():
    s, x, y = _grid()
    assert np.isnan(separability(_acts(np.zeros(s.size), size=s, x=x, y=y)).values[0])
    keep = ~((s == 16.0) & (x == 40.0) & (y == 30.0))
    acts = _acts(s[keep], size=s[keep], x=x[keep], y=y[keep])
    with pytest.raises(ValueError, match=r"separability needs every combination of 'size' and"):
        separability(acts)


# ----------------------------------------------------------------------------------- tolerance


def test_tolerance_known_values():
    s, x, y = _grid(n_s=4, n_x=2, n_y=2)
    s_codes = np.searchsorted(np.unique(s), s)
    p_codes = np.searchsorted(np.unique(x), x) * 2 + np.searchsorted(np.unique(y), y)
    curve = np.array([0.0, 1.0, 3.0, 2.0])
    same = np.stack([curve * g + o for g, o in [(1, 0), (2, 5), (0.5, -1), (3, 0)]], 1)
    half_reversed = np.stack([curve, curve, -curve, -curve], 1)
    one_flat = np.stack([curve, curve, np.zeros(4), curve], 1)
    r = _planted_matrix([same, half_reversed, one_flat], s_codes, p_codes)
    tol = tolerance(_acts(r, size=s, x=x, y=y))
    # half reversed: pairs (2 same-sign) = +1 each, 4 cross pairs = −1 each -> (2 − 4) / 6
    np.testing.assert_allclose(tol.values, [1.0, -1.0 / 3.0, 1.0], atol=1e-12)
    assert tol.name == "tolerance" and tol.attrs["units"] == "Pearson correlation"
    s_codes = np.searchsorted(np.unique(s), s)
    np.testing.assert_allclose(tol.values, tolerance_kernel(r.T, s_codes, 4, p_codes, 4))


def test_tolerance_planted_invariant_vs_shifting_unit():
    s, x, y = _grid(n_s=6, n_x=4, n_y=3, repeats=2)
    t_s = (s - s.min()) / np.ptp(s)
    t_x = (x - x.min()) / np.ptp(x)
    invariant = np.exp(-((t_s - 0.6) ** 2) / 0.05) * (1 + t_x)
    shifting = np.exp(-((t_s - t_x) ** 2) / 0.02)
    rng = np.random.default_rng(1)
    r = np.stack([invariant, shifting], 1) + 0.02 * rng.normal(size=(s.size, 2))
    tol = tolerance(_acts(r, size=s, x=x, y=y)).values
    assert tol[0] > 0.95
    assert tol[1] < 0.3


def test_tolerance_relabelling_sizes_is_invariant_and_flat_unit_is_nan():
    s, x, y = _grid(n_s=4)
    r = np.random.default_rng(5).normal(size=(s.size, 3))
    r[:, 2] = x  # no size tuning anywhere
    acts = _acts(r, size=s, x=x, y=y)
    base = tolerance(acts)
    xr.testing.assert_allclose(tolerance(acts.assign_coords(size=("stimulus", -(s**3)))), base)
    assert np.isnan(base.values[2])


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda a: tolerance(a, "y", across="x"), ValueError, r"tolerance needs at least 3 levels"),
        (lambda a: tolerance(a, "size", across="x2"), KeyError, r"Factor 'x2' of tolerance"),
        (lambda a: tolerance(a, "x", across="position"), ValueError, r"share 'x'"),
        (lambda a: tolerance(a.values), TypeError, r"tolerance expects an xarray.DataArray"),
    ],
)
def test_tolerance_errors(call, error, match):
    s, x, y = _grid(n_y=2)
    with pytest.raises(error, match=match):
        call(_acts(s, size=s, x=x, y=y))
