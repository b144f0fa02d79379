"""Role plots: the role-correlation forest plot and the PID atoms per layer."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure
from PIL import Image

from factorprobe.analysis import partial_information, role_correlations, role_table, unit_table
from factorprobe.analysis.planted import planted_units
from factorprobe.report.plots import save_figure
from factorprobe.report.roles_plots import plot_pid_atoms, plot_role_correlations

PAIRS = [("linearity", "entropy"), ("linearity", "mi_size")]


@pytest.fixture(scope="module")
def acts() -> xr.DataArray:
    kinds = ("size", "position", "conjunctive", "noise")
    layers = [
        planted_units(kinds=kinds, n_units=3, noise=(noise,), n_sizes=4, n_x=3, n_y=3,
                      layer=name, seed=i)
        for i, (name, noise) in enumerate((("fc1", 0.1), ("fc2", 0.5)))
    ]  # fmt: skip
    return xr.concat(layers, dim="unit")


@pytest.fixture(scope="module")
def pid(acts) -> xr.Dataset:
    return partial_information(acts, n_permutations=20)


def _blank(fig: Figure, path) -> bool:
    save_figure(fig, path, dpi=40)
    return len(np.unique(np.asarray(Image.open(path).convert("L")))) < 3


def test_role_correlations_forest_plot_is_labelled(acts, tmp_path):
    corr = role_correlations(role_table(acts), n_boot=50)
    fig = plot_role_correlations(corr, pairs=PAIRS)
    (ax,) = fig.axes
    assert ax.get_xlabel().startswith("Spearman r over units (dimensionless; bars: 95 % bootstrap")
    assert ax.get_ylabel() == "pair of role measures"
    ticks = dict(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels()), strict=True))
    assert [ticks[y] for y in sorted(ticks, reverse=True)] == [f"{a} vs {b}" for a, b in PAIRS]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["fc1", "fc2"]
    # each layer's markers sit at its Spearman r (first pair on top)
    points = [line.get_xdata() for line in ax.lines if line.get_marker() == "o"]
    expected = corr["spearman"].sel(variable="linearity", other_variable=["entropy", "mi_size"])
    np.testing.assert_allclose(points[0], expected.sel(layer="fc1").values)
    np.testing.assert_allclose(points[1], expected.sel(layer="fc2").values)
    assert not _blank(fig, tmp_path / "corr.png")
    # default: every pair of different variables
    n_vars = corr.sizes["variable"]
    default = plot_role_correlations(corr)
    assert len(default.axes[0].get_yticks()) == n_vars * (n_vars - 1) // 2


def test_pid_atoms_bars_are_the_layer_means(pid, tmp_path):
    fig = plot_pid_atoms(pid)
    (ax,) = fig.axes
    assert ax.get_ylabel() == "mean information per unit (bits)"
    assert ax.get_xlabel() == "layer"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["fc1", "fc2"]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["redundancy", "unique size", "unique position", "synergy", "I(R; A, B)"]
    means = pid.groupby("layer").mean()
    expected = np.stack([
        means["pid_redundancy"].values,
        means["pid_unique"].sel(factor="size").values,
        means["pid_unique"].sel(factor="position").values,
        means["pid_synergy"].values,
    ])  # fmt: skip
    heights = np.asarray([p.get_height() for p in ax.patches]).reshape(4, 2)
    np.testing.assert_allclose(heights, expected)
    total = next(line for line in ax.lines if line.get_label() == "I(R; A, B)")
    np.testing.assert_allclose(total.get_ydata(), means["pid_mi_joint"].values)
    assert not _blank(fig, tmp_path / "pid.png")


def test_pid_atoms_of_a_unit_table_skip_its_other_factors(acts):
    table = unit_table(
        acts, factors=["size", "x", "position"], n_permutations=20, pid=("size", "position")
    )
    labels = [t.get_text() for t in plot_pid_atoms(table).axes[0].get_legend().get_texts()]
    assert labels[:4] == ["redundancy", "unique size", "unique position", "synergy"]


def test_bad_inputs_raise_one_line_errors(pid, acts):
    corr = role_correlations(role_table(acts), n_boot=20)
    with pytest.raises(KeyError, match=r"Unknown pair \('linearity', 'gain'\) for plot_role_corr"):
        plot_role_correlations(corr, pairs=[("linearity", "gain")])
    with pytest.raises(KeyError, match=r"needs role_correlations' output .* 'spearman' is missing"):
        plot_role_correlations(corr.drop_vars("spearman"))
    with pytest.raises(KeyError, match=r"plot_pid_atoms needs .* 'pid_synergy' is missing"):
        plot_pid_atoms(pid.drop_vars("pid_synergy"))
