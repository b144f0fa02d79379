"""factor_mutual_information: 0 for a full grid, hand-computed MI, binning, and its errors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

from factorprobe.stimuli import factor_mutual_information, grid, random_design, render


def test_full_grid_has_zero_dependence_and_entropies_on_the_diagonal():
    space = grid(size=[16, 32, 48], x=[60, 112, 164, 180], y=[60, 112], shape=["disc", "cross"])
    dep = factor_mutual_information(space)
    assert dep.dims == ("factor_a", "factor_b") and dep.attrs["units"] == "bits"
    off = dep.values[~np.eye(4, dtype=bool)]
    assert np.all(off == 0.0)
    np.testing.assert_allclose(np.diag(dep.values), np.log2([3, 4, 2, 2]))


def test_dropped_points_make_size_and_position_dependent():
    with pytest.warns(UserWarning, match="Dropped 1 of 4"):
        space = grid(size=[16, 100], x=[40, 112], y=112, on_misfit="drop")
    # remaining (16, 40), (16, 112), (100, 112): hand-computed plug-in MI
    p = np.array([[1, 1], [0, 1]]) / 3
    pa, pb = p.sum(1), p.sum(0)
    nz = p > 0
    expected = np.sum(p[nz] * np.log2(p[nz] / np.outer(pa, pb)[nz]))
    assert float(
        factor_mutual_information(space).sel(factor_a="size", factor_b="x")
    ) == pytest.approx(expected)


def test_matches_sklearn_on_the_same_discretisation():
    space = random_design(3000, size=(16, 64), x=(40, 184), y=(40, 184), seed=1)
    dep = factor_mutual_information(space, n_bins=6)
    edges = np.quantile(space["size"], np.linspace(0, 1, 7)[1:-1])
    a = np.searchsorted(edges, space["size"], side="right")
    edges = np.quantile(space["x"], np.linspace(0, 1, 7)[1:-1])
    b = np.searchsorted(edges, space["x"], side="right")
    ref = mutual_info_score(a, b) / np.log(2)
    assert float(dep.sel(factor_a="size", factor_b="x")) == pytest.approx(ref, abs=1e-10)


def test_random_design_dependence_is_small_and_miller_madow_removes_the_bias():
    space = random_design(4000, size=(16, 32), x=(40, 184), y=(40, 184), seed=2)
    plugin = factor_mutual_information(space).sel(factor_a="size", factor_b="x")
    corrected = factor_mutual_information(space, estimator="miller_madow").sel(
        factor_a="size", factor_b="x"
    )
    bias = 7 * 7 / (2 * 4000 * np.log(2))
    assert 0 < float(plugin) < 3 * bias
    assert abs(float(corrected)) < float(plugin)


def test_works_on_a_rendered_dataset():
    stim = render(grid(size=[16, 32], x=[60, 112], y=112), canvas=224)
    dep = factor_mutual_information(stim, factors=["size", "x"])
    assert list(dep["factor_a"].values) == ["size", "x"]
    assert float(dep.sel(factor_a="size", factor_b="x")) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            dict(factors=["colour"]),
            ValueError,
            r"Unknown factor 'colour' for factor_mutual_information",
        ),
        (
            dict(n_bins=1),
            ValueError,
            r"'n_bins' parameter of factor_mutual_information must be an int",
        ),
        (dict(estimator="ksg"), ValueError, r"'plugin', 'miller_madow'; got 'ksg'"),
    ],
)
def test_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        factor_mutual_information(grid(size=16, x=60, y=60), **kwargs)


def test_rejects_other_inputs():
    with pytest.raises(TypeError, match=r"takes a FactorSpace or a stimuli Dataset; got list"):
        factor_mutual_information([1, 2])
