"""Figures that say what they show: clipped values, near-constant histograms, which units."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

from factorprobe import analysis
from factorprobe.analysis import response_map, tuning_curves, unit_table
from factorprobe.pipeline._analysis_outputs import replicates, with_ranking
from factorprobe.report.figures import tuning_units
from factorprobe.report.table_plots import plot_histograms, plot_selectivity_scatter
from factorprobe.report.tuning_plots import conditional_map, plot_unit_tuning


@pytest.fixture(scope="module")
def acts() -> xr.DataArray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        acts = analysis.planted_units(
            kinds=("size", "position", "noise"), n_units=2, n_sizes=4, n_x=3, n_y=3, seed=0
        )
    return acts.drop_vars("kind")


@pytest.fixture(scope="module")
def table(acts) -> xr.Dataset:
    return unit_table(acts, n_permutations=100, seed=0)


def _texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in [ax.title, *ax.texts]]


def test_the_scatter_says_how_many_negative_mi_it_draws_at_zero(table):
    negative = (table["mi"].values < 0).any(axis=1).sum()
    assert negative > 0  # the planted noise units
    fig = plot_selectivity_scatter(table, x="size", y="position")
    assert any(f"{negative} with MI < 0 drawn at 0 (clipped)" in t for t in _texts(fig))


def test_a_near_constant_histogram_says_so_instead_of_zooming(table):
    flat = table.assign(flat=("unit", 1.0 + 1e-7 * np.arange(table.sizes["unit"])))
    fig = plot_histograms(flat, variables=["flat", "entropy"])
    assert any("near-constant" in t and f"all {table.sizes['unit']} units" in t
               for t in _texts(fig))  # fmt: skip
    assert not any("near-constant" in t for t in _texts(fig) if "entropy" in t)


def test_tuning_units_are_significant_ones_by_mi_or_say_none(table, acts):
    curves = tuning_curves(acts, "size", n_boot=40)
    chosen, _ = tuning_units(table, curves, "size")
    q = table["q_value"].sel(factor="size").values
    assert chosen and all(q[i] < 0.05 for i in chosen)
    mi = table["mi"].sel(factor="size").values
    assert list(mi[chosen]) == sorted(mi[chosen], reverse=True)
    none = table.assign(q_value=table["q_value"] * 0 + 1.0)
    assert tuning_units(none, curves, "size") == ([], "no unit codes size at q < 0.05; "
                                                      "nothing to show")  # fmt: skip


def test_x_is_ranked_by_the_saved_mi_with_x(table, acts):
    options = {"estimator": "copula", "correction": "shuffle", "seed": 0}
    curves = with_ranking(tuning_curves(acts, "x", n_boot=40), acts, "x", options)
    assert curves["mi"].attrs["units"] == "bits"
    chosen, why = tuning_units(table, curves, "x")
    assert chosen[0] == int(np.argmax(curves["mi"].values))
    assert "not a factor of the unit table" in why


def test_a_deterministic_grid_gets_tuning_at_each_level_not_a_bootstrap_band(acts):
    assert replicates(acts) == (1, ["size", "x", "y"])  # one stimulus per cell
    curves = with_ranking(tuning_curves(acts, "size", n_boot=40), acts, "size", {"seed": 0})
    maps = {"size": response_map(acts, ("size", "x"))}
    assert conditional_map(maps, "size")[1] == "x"
    fig = plot_unit_tuning(curves, maps, ["planted[0]"])
    ax = fig.axes[0]
    assert len(ax.lines) == acts["x"].to_index().unique().size + 1  # one per x, and the mean
    assert not ax.collections  # no CI band
    assert "y pooled" in ax.get_title()
    noisy = curves.assign_attrs(replicates=3)
    band = plot_unit_tuning(noisy, maps, ["planted[0]"]).axes[0]
    assert band.collections  # the bootstrap CI
