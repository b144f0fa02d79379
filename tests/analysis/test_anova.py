"""Two-way ANOVA: hand-computed table, independent least squares, planted classes, calibration."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from factorprobe.analysis.anova import anova_kernel, two_way_anova


def _acts(values, layer=None, **factors) -> xr.DataArray:
    values = np.asarray(values, dtype=float)
    values = values[:, None] if values.ndim == 1 else values
    n = values.shape[1]
    coords = {k: ("stimulus", np.asarray(v)) for k, v in factors.items()}
    coords["layer"] = ("unit", np.asarray(layer if layer is not None else ["fc1"] * n))
    coords["index"] = ("unit", np.arange(n))
    return xr.DataArray(values, dims=("stimulus", "unit"), coords=coords)


def _design(n_s=4, n_x=3, n_y=3, repeats=4):
    """Codes (0..L-1) of size, x, y on a full grid, ``repeats`` stimuli per cell."""
    grids = np.meshgrid(np.arange(n_s), np.arange(n_x), np.arange(n_y), indexing="ij")
    return tuple(np.repeat(g.ravel(), repeats) for g in grids)


# 2 × 2 design, 2 replicates: cell means 2, 6 / 3, 11, each replicate ±1 from its cell mean
TINY_A = np.array([0, 0, 0, 0, 1, 1, 1, 1])
TINY_B = np.array([0, 0, 1, 1, 0, 0, 1, 1])
TINY_R = np.array([1.0, 3.0, 5.0, 7.0, 2.0, 4.0, 10.0, 12.0])


def test_hand_computed_two_by_two():
    # grand mean 5.5; A means 4, 7; B means 2.5, 8.5; cells 2, 6, 3, 11
    # SS_A = 4·(1.5² + 1.5²) = 18, SS_B = 4·(3² + 3²) = 72, SS_cells = 2·49 = 98 -> SS_AB = 8,
    # SS_E = 8 · 1² = 8 on 4 df, MS_E = 2
    res = two_way_anova(_acts(TINY_R, a=TINY_A, b=TINY_B), ("a", "b"), multiple_testing="none")
    assert res["effect"].values.tolist() == ["a", "b", "a:b"]
    np.testing.assert_allclose(res["ss"].values[0], [18.0, 72.0, 8.0])
    np.testing.assert_allclose(res["ss_error"].values, [8.0])
    np.testing.assert_allclose(res["df"].values, [1.0, 1.0, 1.0])
    assert res.attrs["df_error"] == 4.0
    np.testing.assert_allclose(res["f"].values[0], [9.0, 36.0, 4.0])
    np.testing.assert_allclose(res["p_value"].values[0], stats.f.sf([9.0, 36.0, 4.0], 1, 4))
    np.testing.assert_allclose(res["eta_squared"].values[0], [18 / 26, 72 / 80, 8 / 16])
    # ω²_p = (SS − df·MS_E) / (SS + (N − df)·MS_E), N = 8
    np.testing.assert_allclose(res["omega_squared"].values[0], [16 / 32, 70 / 86, 6 / 22])
    np.testing.assert_allclose(res["q_value"], res["p_value"])
    assert res["ss"].dims == ("unit", "effect") and res["category"].dims == ("unit",)


def test_model_sums_agree_with_scipy_one_way_on_cells():
    s, x, _ = _design(n_s=3, n_x=4, n_y=1, repeats=5)
    r = np.random.default_rng(0).normal(size=(s.size, 4)) + 0.5 * (s * x)[:, None]
    res = two_way_anova(_acts(r, size=s, x=x), ("size", "x"), multiple_testing="none")
    cells = s * 4 + x
    for u in range(4):
        groups = [r[cells == c, u] for c in range(12)]
        f_cells = stats.f_oneway(*groups).statistic
        ss_model = res["ss"].values[u].sum()
        ms_error = res["ss_error"].values[u] / res.attrs["df_error"]
        np.testing.assert_allclose(ss_model / res["df"].values.sum() / ms_error, f_cells)


def _rss(design: np.ndarray, r: np.ndarray) -> np.ndarray:
    coef, *_ = np.linalg.lstsq(design, r, rcond=None)
    return ((r - design @ coef) ** 2).sum(axis=0)


def test_unbalanced_type_ii_matches_raw_least_squares():
    rng = np.random.default_rng(1)
    s, x, _ = _design(n_s=3, n_x=3, n_y=1, repeats=4)
    keep = rng.random(s.size) < 0.7  # an unbalanced subset, every cell still present
    keep[np.unique(s * 3 + x, return_index=True)[1]] = True
    s, x = s[keep], x[keep]
    r = rng.normal(size=(s.size, 3)) + np.stack([s, s * x, (x == 1) * 2.0], 1)
    res = two_way_anova(_acts(r, size=s, x=x), ("size", "x"), multiple_testing="none")
    one = np.ones((s.size, 1))
    da = np.eye(3)[s][:, 1:]
    db = np.eye(3)[x][:, 1:]
    cells = np.eye(9)[s * 3 + x]
    rss_a, rss_b = _rss(np.hstack([one, da]), r), _rss(np.hstack([one, db]), r)
    rss_ab, rss_full = _rss(np.hstack([one, da, db]), r), _rss(cells, r)
    expected = np.stack([rss_b - rss_ab, rss_a - rss_ab, rss_ab - rss_full], 1)
    np.testing.assert_allclose(res["ss"].values, expected, rtol=1e-10)
    np.testing.assert_allclose(res["ss_error"].values, rss_full, rtol=1e-10)
    assert res.attrs["df_error"] == s.size - 9


def _planted(n_units=5, noise=0.1, seed=0):
    """Units with known class over size (4) × position (3 × 3), 4 repeats, and their classes."""
    s, x, y = _design()
    p = x * 3 + y
    rng = np.random.default_rng(seed)
    f = np.stack([rng.permutation(np.linspace(0, 1, 4)) for _ in range(n_units)], 1)[s]
    g = np.stack([rng.permutation(np.linspace(0, 1, 9)) for _ in range(n_units)], 1)[p]
    blocks = {"pure": [f, g], "linear_mixed": [f + g], "nonlinear_mixed": [4 * f * g]}
    blocks["none"] = [np.zeros_like(f)]
    values, truth = [], []
    for label, parts in blocks.items():
        for part in parts:
            values.append(part)
            truth += [label] * n_units
    r = np.hstack(values)
    r = r + noise * rng.standard_normal(r.shape)
    return _acts(r, size=s * 16.0 + 16, x=x * 50.0, y=y * 50.0), np.array(truth)


def test_planted_units_get_their_class():
    acts, truth = _planted()
    # default: size × position (joint x, y), BH over the layer. BH bounds the *rate* of false
    # discoveries, so at alpha=0.05 a null interaction among 35 real effects passes now and then
    # (seeds 0 and 2 each misclass one pure unit); planted effects have p < 1e-60, so a strict
    # alpha separates them exactly (checked for seeds 0-19)
    res = two_way_anova(acts, alpha=0.001)
    assert res["effect"].values.tolist() == ["size", "position", "size:position"]
    assert res["df"].values.tolist() == [3.0, 8.0, 24.0]
    assert res["category"].values.tolist() == truth.tolist()
    pure = np.flatnonzero(truth == "pure")
    # the first five pure units code size, the next five position
    assert res["significant"].values[pure[:5]].tolist() == [[True, False, False]] * 5
    assert res["significant"].values[pure[5:]].tolist() == [[False, True, False]] * 5


def test_noise_free_units_classified_without_rounding_artefacts():
    s, x, _ = _design(n_s=3, n_x=3, n_y=1, repeats=2)
    f, g = np.array([0.0, 2.0, 1.0])[s], np.array([1.0, 0.0, 3.0])[x]
    r = np.stack([f, f + g, f * g, np.full(s.size, 7.0), 1e6 + f + g], 1)
    res = two_way_anova(_acts(r, size=s, x=x), ("size", "x"))
    cats = res["category"].values.tolist()
    assert cats == ["pure", "linear_mixed", "nonlinear_mixed", "none", "linear_mixed"]
    assert np.isinf(res["f"].values[1, 0]) and np.isnan(res["f"].values[1, 2])
    assert np.isnan(res["p_value"].values[3]).all()
    np.testing.assert_array_equal(res["eta_squared"].values[3], 0.0)
    np.testing.assert_array_equal(res["omega_squared"].values[3], 0.0)


def test_null_units_are_calibrated():
    s, x, y = _design(repeats=2)
    r = np.random.default_rng(5).standard_normal((s.size, 400))
    acts = _acts(r, size=s, x=x, y=y)
    raw = two_way_anova(acts, multiple_testing="none")
    p = raw["p_value"].values.ravel()
    assert stats.kstest(p, "uniform").pvalue > 0.01
    assert 0.03 < (p < 0.05).mean() < 0.07
    corrected = two_way_anova(acts)
    assert (corrected["category"] == "none").mean() > 0.99
    # ω² is bias-corrected: under the null it is 0 whenever F <= 1 (about half the time, after
    # clipping), while η² is always positive
    assert float(raw["omega_squared"].median()) == 0.0
    assert float(raw["omega_squared"].mean()) < 0.3 * float(raw["eta_squared"].mean())
    assert (raw["eta_squared"] > 0).all()


def test_bh_families_are_layers():
    acts, _ = _planted(n_units=3, noise=0.6, seed=2)
    layer = np.where(np.arange(acts.sizes["unit"]) % 2 == 0, "fc1", "fc2")
    acts = acts.assign_coords(layer=("unit", layer))
    res = two_way_anova(acts)
    for name in ("fc1", "fc2"):
        members = layer == name
        p = res["p_value"].values[members]
        expected = stats.false_discovery_control(p.ravel()).reshape(p.shape)
        np.testing.assert_allclose(res["q_value"].values[members], expected)
    assert res.attrs["family"] == "layer" and res.attrs["multiple_testing"] == "bh"


def test_invariances_and_parity():
    acts, _ = _planted(n_units=2, noise=0.3, seed=3)
    base = two_way_anova(acts, multiple_testing="none")
    order = np.random.default_rng(0).permutation(acts.sizes["unit"])
    xr.testing.assert_allclose(
        two_way_anova(acts.isel(unit=order), multiple_testing="none"), base.isel(unit=order)
    )
    relabelled = acts.assign_coords(
        size=("stimulus", 500.0 - acts["size"].values ** 2), y=("stimulus", -acts["y"].values)
    )
    xr.testing.assert_allclose(two_way_anova(relabelled, multiple_testing="none"), base)
    affine = (3.0 * acts + 100.0).assign_attrs(acts.attrs)
    scaled = two_way_anova(affine, multiple_testing="none")
    for name in ("f", "p_value", "eta_squared", "omega_squared"):
        np.testing.assert_allclose(scaled[name], base[name], rtol=1e-8)
    np.testing.assert_allclose(scaled["ss"], 9.0 * base["ss"], rtol=1e-8)
    s = np.searchsorted(np.unique(acts["size"]), acts["size"].values)
    xy = np.stack([acts["x"].values, acts["y"].values], 1)
    p = np.unique(xy, axis=0, return_inverse=True)[1].ravel()
    cells = s * 9 + p
    basis = np.linalg.svd(
        2.0
        * np.hstack(
            [
                np.ones((36, 1)),
                np.eye(4)[np.arange(36) // 9][:, 1:],
                np.eye(9)[np.arange(36) % 9][:, 1:],
            ]
        ),
        full_matrices=False,
    )[0][:, :12]
    ss = anova_kernel(
        acts.values.T, cells, 36, np.eye(4)[np.arange(36) // 9], np.eye(9)[np.arange(36) % 9], basis
    )
    np.testing.assert_allclose(ss[:, :3], base["ss"].values, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ss[:, 3], base["ss_error"].values, rtol=1e-9)


def test_dask_input_gives_same_result_and_input_untouched():
    acts, _ = _planted(n_units=2, seed=4)
    before = acts.copy(deep=True)
    eager = two_way_anova(acts)
    lazy = two_way_anova(acts.chunk(unit=3))
    xr.testing.assert_allclose(lazy, eager)
    xr.testing.assert_identical(acts, before)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"alpha": 1.5}, ValueError, r"'alpha' parameter of two_way_anova must be a finite"),
        (
            {"multiple_testing": "holm"},
            ValueError,
            r"'multiple_testing' .* one of 'bh', 'none'; got 'holm'",
        ),
        ({"factors": ("size", "colour")}, KeyError, r"Factor 'colour' of two_way_anova"),
        ({"factors": ("x", "position")}, ValueError, r"two different factors; 'x' and 'position'"),
        ({"factors": "size"}, ValueError, r"two_way_anova needs a pair of factor names"),
    ],
)
def test_option_errors(kwargs, error, match):
    acts, _ = _planted(n_units=1)
    with pytest.raises(error, match=match):
        two_way_anova(acts, **kwargs)


def test_one_stimulus_per_cell_tests_main_effects_against_the_interaction():
    # a deterministic network on a grid: no replicates, the interaction is the error term
    s, x, y = _design(repeats=1)
    rng = np.random.default_rng(0)
    g = rng.standard_normal(x.max() + 1)[x] + rng.standard_normal(y.max() + 1)[y]
    interaction = 0.3 * rng.standard_normal(s.size)
    r = np.stack([s * 1.0 + interaction, s + g + interaction], 1)
    res = two_way_anova(_acts(r, size=s, x=x, y=y))
    assert res.attrs["error"] == "interaction (one stimulus per cell)"
    assert res["category"].values.tolist() == ["pure", "linear_mixed"]
    assert np.isnan(res["p_value"].values[:, 2]).all()
    # F of a main effect is MS_effect / MS_interaction
    ss = res["ss"].values[0]
    df = res["df"].values
    expected = (ss[0] / df[0]) / (ss[2] / df[2])
    np.testing.assert_allclose(res["f"].values[0, 0], expected)


def test_design_errors():
    a = np.repeat([0, 1, 2], 4)
    with pytest.raises(ValueError, match=r"needs a design that crosses 'a' and 'b'; they are"):
        two_way_anova(_acts(np.arange(12.0), a=a, b=a + 10), ("a", "b"))
    a, b = np.array([0, 0, 0, 0, 1, 1]), np.array([0, 0, 1, 1, 0, 0])
    with pytest.raises(ValueError, match=r"cannot estimate the 'a' × 'b' interaction"):
        two_way_anova(_acts(np.arange(6.0), a=a, b=b), ("a", "b"))
    with pytest.raises(TypeError, match=r"two_way_anova expects an xarray.DataArray"):
        two_way_anova(np.zeros((4, 2)))
