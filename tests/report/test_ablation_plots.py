"""The ablation plot: one panel per metric, ranked curves over the random band, atomic output."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from factorprobe.interventions.ablation import cumulative_ablation
from factorprobe.report.ablation_plots import plot_ablation_curves
from tests.analysis.test_ablation import hand_model, hand_stimuli


@pytest.fixture(scope="module")
def result():
    ranking = {
        "size units": np.r_[np.ones(4), np.zeros(4)],
        "position units": np.r_[np.zeros(4), np.ones(4)],
    }
    return cumulative_ablation(hand_model(), hand_stimuli(), "fc1", ranking, grid=[0, 2, 4, 6, 8])


def test_plot_has_a_panel_per_metric_with_band_and_curves(result, tmp_path):
    path = tmp_path / "plots" / "ablation.png"
    fig = plot_ablation_curves(result, path=path)
    assert isinstance(fig, Figure)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == list(result["metric"].values)
    ax = visible[1]  # decoding accuracy of size
    n_lines = result.sizes["ranking"] * result.sizes["direction"] + 1  # + random mean
    assert len([line for line in ax.get_lines() if line.get_marker() == "o"]) == n_lines - 1
    assert len(ax.collections) == 1  # the random band
    band = ax.collections[0].get_paths()[0].vertices
    mean = result["random_mean"].sel(metric=ax.get_title()).values
    sd = result["random_sd"].sel(metric=ax.get_title()).values
    assert band[:, 1].max() == pytest.approx((mean + sd).max())
    assert ax.get_xlabel() == "units ablated (of 8)"
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert not list(path.parent.glob(".*tmp*"))


def test_chosen_metrics_and_errors(result):
    fig = plot_ablation_curves(result, metrics=["v_information:size"], columns=1)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_ylabel() for ax in visible] == ["bits"]
    with pytest.raises(KeyError, match=r"Unknown metric.*'colour'.*metrics in this result"):
        plot_ablation_curves(result, metrics=["colour"])
    with pytest.raises(ValueError, match="'columns' parameter of plot_ablation_curves"):
        plot_ablation_curves(result, columns=0)
