"""Plots of factorprobe.report: every function draws a labelled Figure and a non-blank PNG."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure
from PIL import Image

from factorprobe.analysis import planted_units, response_map, tuning_curves, unit_table
from factorprobe.analysis.basis import basis_comparison
from factorprobe.analysis.directions import random_directions
from factorprobe.report.plots import (
    new_figure,
    plot_response_map,
    plot_saliency,
    plot_tuning_curves,
    save_figure,
)
from factorprobe.report.table_plots import (
    plot_basis_vs_random,
    plot_histograms,
    plot_selectivity_scatter,
)
from factorprobe.stimuli import grid, render

DPI = 40


@pytest.fixture(scope="module")
def acts() -> xr.DataArray:
    """Planted units of every kind in two layers ('fc1' less noisy): 72 stimuli, 20 units."""
    a = planted_units(
        kinds=("size", "position", "additive", "conjunctive", "noise"),
        n_units=2,
        noise=(0.3, 0.9),
        n_sizes=4,
        n_x=3,
        n_y=3,
        repeats=2,
        seed=0,
    )
    noisy = a["noise"].values > 0.5
    index = np.where(noisy, np.cumsum(noisy) - 1, np.cumsum(~noisy) - 1)
    return a.assign_coords(layer=("unit", np.where(noisy, "fc2", "fc1")), index=("unit", index))


@pytest.fixture(scope="module")
def table(acts) -> xr.Dataset:
    return unit_table(acts, n_permutations=30, seed=0)


@pytest.fixture(scope="module")
def baseline(acts) -> xr.Dataset:
    return unit_table(random_directions(acts, 12, seed=0), n_permutations=30, seed=0)


@pytest.fixture(scope="module")
def stim() -> xr.Dataset:
    return render(grid(size=[12, 20], x=[24, 40], y=[32]), canvas=64)


def _saliency(stim: xr.Dataset, n_units: int = 1) -> xr.DataArray:
    """A synthetic signed gradient: a ring around each object (dims unit, stimulus, row, col)."""
    rows, cols = np.mgrid[0:64, 0:64]
    maps = [
        np.cos((cols - x) / 3.0) * np.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2.0 * s**2))
        for s, x, y in zip(stim["size"].values, stim["x"].values, stim["y"].values, strict=True)
    ]
    values = np.stack([np.stack(maps) * (k + 1) for k in range(n_units)])
    return xr.DataArray(
        values,
        dims=("unit", "stimulus", "row", "col"),
        coords={
            "stimulus": stim["stimulus"].values,
            "layer": ("unit", ["fc1"] * n_units),
            "index": ("unit", np.arange(n_units)),
        },
        attrs={"method": "gradient"},
    )


def _png(fig: Figure, tmp_path, name: str) -> np.ndarray:
    """Save through save_figure; check the file's pixel size and that it is not blank."""
    assert isinstance(fig, Figure)
    path = tmp_path / f"{name}.png"
    save_figure(fig, path, dpi=DPI)
    assert path.stat().st_size > 0
    width, height = fig.get_size_inches() * DPI
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (round(width), round(height))
        pixels = np.asarray(image.convert("RGB"), dtype=float)
    assert pixels.std() > 0
    return pixels


# ------------------------------------------------------------------------------ every plot


def test_tuning_curves_labels_and_png(acts, tmp_path):
    curves = tuning_curves(acts, "size", n_boot=50)
    fig = plot_tuning_curves(curves, ["fc1[0]", 4])
    ax = fig.axes[0]
    assert ax.get_xlabel() == "size (px)"
    assert ax.get_ylabel() == "mean activation (a.u.)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["fc1[0]", "fc1[2]"]
    assert "95% bootstrap CI" in ax.get_title()
    # drawn at the level values in pixels, the mean line through the level means
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_xdata(), curves["level"].values)
    np.testing.assert_allclose(line.get_ydata(), curves["mean"].isel(unit=0).values)
    _png(fig, tmp_path, "tuning")


def test_tuning_curves_position_ticks_and_default_units(acts):
    fig = plot_tuning_curves(tuning_curves(acts, "position", n_boot=20))
    ax = fig.axes[0]
    assert ax.get_xlabel() == "position (x, y in px)"
    assert ax.get_xticklabels()[0].get_text() == "(40, 40)"
    assert len(ax.get_legend().get_texts()) == 6  # default: the first 6 units


def test_tuning_curves_draw_into_given_axes(acts):
    fig = new_figure(8, 3)
    left, right = fig.subplots(1, 2)
    curves = tuning_curves(acts, "size", n_boot=20)
    assert plot_tuning_curves(curves, 0, ax=left) is fig
    assert plot_tuning_curves(curves, 1, ax=right) is fig
    assert len(fig.axes) == 2 and all(ax.get_lines() for ax in fig.axes)


def test_response_map_orientation_and_png(acts, tmp_path):
    maps = response_map(acts, ("size", "x"))
    fig = plot_response_map(maps, "fc1[2]")
    ax, bar = fig.axes
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x (px)", "size (px)")
    assert bar.get_ylabel() == "mean activation (a.u.)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["40", "112", "184"]
    image = ax.get_images()[0]
    unit = maps.sel(unit=(maps["layer"] == "fc1") & (maps["index"] == 2)).squeeze("unit")
    np.testing.assert_allclose(image.get_array(), unit.values)  # size up the rows
    _png(fig, tmp_path, "map")

    xy = plot_response_map(response_map(acts, ("x", "y")), 0).axes[0]
    assert (xy.get_xlabel(), xy.get_ylabel()) == ("x (px)", "y (px)")
    assert xy.get_images()[0].origin == "upper"  # y runs down the rows, as in the image


def test_selectivity_scatter_png(table, tmp_path):
    fig = plot_selectivity_scatter(table)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert [ax.get_title().split(" ")[0] for ax in panels] == ["fc1", "fc2"]
    for ax, layer in zip(panels, ("fc1", "fc2"), strict=True):
        sub = table.sel(unit=table["layer"] == layer)
        assert ax.get_xlabel() == "MI with size (bits)"
        assert ax.get_ylabel() == "MI with position (bits)"
        assert ax.get_xlim() == ax.get_ylim() and ax.get_xlim()[0] == 0
        grey, coloured = ax.collections
        n_nan = int(sub["selectivity"].isnull().sum())
        assert len(grey.get_offsets()) == n_nan
        assert len(coloured.get_offsets()) == sub.sizes["unit"] - n_nan
        offsets = np.concatenate([grey.get_offsets(), coloured.get_offsets()])
        assert offsets.min() >= 0  # MI clipped at 0 bits
    assert "selectivity (size vs position)" in fig.axes[-1].get_ylabel()
    _png(fig, tmp_path, "scatter")


def test_selectivity_scatter_one_layer_scales_to_it(table):
    fig = plot_selectivity_scatter(table, layer="fc2")
    top = float(table["mi"].where(table["layer"] == "fc2").clip(min=0).max())
    assert fig.axes[0].get_xlim()[1] == pytest.approx(1.05 * top)


def test_histograms_every_measure_png(table, tmp_path):
    fig = plot_histograms(table)
    panels = [ax for ax in fig.axes if ax.get_title()]
    expected = sum(
        table.sizes["factor"] if "factor" in da.dims else 1
        for da in table.data_vars.values()
        if "unit" in da.dims and np.issubdtype(da.dtype, np.number)
    )
    assert len(panels) == expected
    titles = {ax.get_title(): ax for ax in panels}
    assert titles["mi · size"].get_xlabel() == "bits"
    assert titles["p_value · position"].get_xlabel() == "probability"
    n_nan = int(table["selectivity"].isnull().sum())
    assert titles[f"selectivity ({n_nan} NaN)"].get_xlabel() == "index"
    # every layer's units are counted: the bars of a panel add up to the finite values
    heights = sum(p.get_height() for p in titles["entropy"].patches)
    assert heights == table.sizes["unit"]
    _png(fig, tmp_path, "histograms")


def test_histograms_chosen_variables(table):
    fig = plot_histograms(table, variables="entropy", layer="fc1")
    assert [ax.get_title() for ax in fig.axes] == ["entropy"]
    assert sum(p.get_height() for p in fig.axes[0].patches) == 10


@pytest.mark.parametrize("kind", ["ecdf", "hist"])
def test_basis_vs_random_png(table, baseline, tmp_path, kind):
    fig = plot_basis_vs_random(table, baseline, measure="mi", kind=kind)
    assert [ax.get_title() for ax in fig.axes] == [
        "fc1 · size",
        "fc2 · size",
        "fc1 · position",
        "fc2 · position",
    ]
    assert fig.axes[0].get_xlabel() == "mi · size (bits)"
    # the box reports basis_comparison's numbers, and the line sits at its percentile
    stats = basis_comparison(table["mi"].sel(factor="size"), baseline["mi"].sel(factor="size")).sel(
        layer="fc1"
    )
    n = int(stats["n_units"])
    k = round(float(stats["fraction_above"]) * n)
    assert f"> P95: {k}/{n} units" in fig.axes[0].texts[0].get_text()
    cut = next(ln for ln in fig.axes[0].get_lines() if ln.get_linestyle() == ":")
    assert cut.get_xdata()[0] == pytest.approx(float(stats["baseline_percentile"]))
    _png(fig, tmp_path, f"basis_{kind}")


def test_basis_vs_random_selectivity_one_layer(table, baseline):
    fig = plot_basis_vs_random(table, baseline, layer="fc1")
    assert [ax.get_title() for ax in fig.axes] == ["fc1"]
    assert fig.axes[0].get_xlabel() == "selectivity (index)"
    assert "NaN:" in fig.axes[0].texts[0].get_text()


def test_basis_vs_random_draws_a_saved_comparison_as_its_own(table, baseline, tmp_path):
    from factorprobe.pipeline._analysis_outputs import basis_table

    saved = basis_table(table, baseline)
    for measure in ("selectivity", "mi"):
        computed = plot_basis_vs_random(table, baseline, measure=measure)
        drawn = plot_basis_vs_random(table, baseline, measure=measure, comparison=saved)
        texts = [[t.get_text() for t in ax.texts] for ax in drawn.axes]
        assert texts == [[t.get_text() for t in ax.texts] for ax in computed.axes]
        np.testing.assert_array_equal(
            _png(drawn, tmp_path, f"{measure}-saved"), _png(computed, tmp_path, measure)
        )
    with pytest.raises(ValueError, match="computed at the 95th percentile; got percentile=90"):
        plot_basis_vs_random(table, baseline, percentile=90, comparison=saved)
    with pytest.raises(KeyError, match="has no row 'selectivity'; it has 'mi · size'"):
        plot_basis_vs_random(table, baseline, comparison=saved.isel(comparison=[1]))


def test_saliency_png(stim, tmp_path):
    sal = _saliency(stim, n_units=2)
    fig = plot_saliency(stim, sal, unit="fc1[1]", n=3, ncols=2)
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert len(panels) == 3
    assert fig.axes[-1].get_ylabel() == "∂activation/∂pixel"
    assert panels[0].get_title() == "size 12 px, x 24 px\ny 32 px"
    assert "fc1[1]" in fig.get_suptitle()
    # one colour scale centred at 0: ±max |saliency| of the shown maps
    vmax = float(np.abs(sal.isel(unit=1, stimulus=slice(0, 3))).max())
    assert fig.axes[-1].get_ylim() == pytest.approx((-vmax, vmax))
    _png(fig, tmp_path, "saliency")


def test_saliency_single_map_without_unit_dim(stim):
    fig = plot_saliency(stim, _saliency(stim).isel(unit=0, drop=True), n=10)
    assert len([ax for ax in fig.axes if ax.get_images()]) == 4  # all the stimuli there are


def test_save_figure_replaces_atomically(tmp_path):
    path = tmp_path / "sub" / "fig.png"
    path.parent.mkdir()
    path.write_bytes(b"old")
    save_figure(new_figure(2, 1), path, dpi=DPI)
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert [p.name for p in path.parent.iterdir()] == ["fig.png"]


def test_no_pyplot_and_lazy_import():
    code = (
        "import sys, factorprobe; lazy = 'matplotlib' not in sys.modules; "
        "import factorprobe.report.plots, factorprobe.report.table_plots; "
        "print(lazy, 'matplotlib.pyplot' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]


# ------------------------------------------------------------------------------ errors


def test_unknown_unit_lists_valid_ones(acts):
    curves = tuning_curves(acts, "size", n_boot=10)
    with pytest.raises(KeyError, match=r"Unknown unit 'fc3\[0\]'.*'fc1\[0\]'\.\.'fc1\[9\]'"):
        plot_tuning_curves(curves, "fc3[0]")
    with pytest.raises(KeyError, match=r"Unknown unit 20 .*positions 0\.\.19"):
        plot_response_map(response_map(acts, ("size", "x")), 20)
    with pytest.raises(ValueError, match="must name at least one unit"):
        plot_tuning_curves(curves, [])


def test_table_name_errors_list_valid_choices(table, baseline):
    with pytest.raises(
        KeyError, match=r"Unknown factor 'shape'.*valid factors: 'size', 'position'"
    ):
        plot_selectivity_scatter(table, x="shape")
    with pytest.raises(KeyError, match=r"Unknown layer 'fc9'.*valid layers: 'fc1', 'fc2'"):
        plot_selectivity_scatter(table, layer="fc9")
    with pytest.raises(KeyError, match=r"Unknown variable 'mutual'.*valid variables: 'mi', "):
        plot_histograms(table, variables=["mutual"])
    with pytest.raises(KeyError, match=r"Unknown variable 'sel'.*'selectivity'"):
        plot_basis_vs_random(table, baseline, measure="sel")
    with pytest.raises(KeyError, match=r"Unknown factor 'x' .*'factor'.*'size', 'position'"):
        plot_basis_vs_random(table, baseline, measure="mi", factor="x")
    with pytest.raises(KeyError, match=r"Layer 'fc2' .*not in the baseline.*'fc1'"):
        plot_basis_vs_random(table, baseline.sel(unit=baseline["layer"] == "fc1"))
    with pytest.raises(ValueError, match=r"'color' parameter .*per-unit variable; 'mi'"):
        plot_selectivity_scatter(table, color="mi")


def test_option_errors(table, baseline, acts, stim):
    with pytest.raises(ValueError, match=r"'kind' parameter .* 'ecdf', 'hist'; got 'box'"):
        plot_basis_vs_random(table, baseline, kind="box")
    with pytest.raises(ValueError, match=r"'percentile' .*\(0, 100\), exclusive; got 100"):
        plot_basis_vs_random(table, baseline, percentile=100)
    with pytest.raises(ValueError, match=r"'bins' parameter of plot_histograms .*>= 2; got 1"):
        plot_histograms(table, bins=1)
    with pytest.raises(ValueError, match=r"'cmap' .*colormap name .*got 'nope'"):
        plot_response_map(response_map(acts, ("size", "x")), 0, cmap="nope")
    with pytest.raises(TypeError, match="must be a unit table"):
        plot_histograms(table["mi"])
    with pytest.raises(TypeError, match="needs a matplotlib Figure"):
        save_figure("figure.png", "out.png")
    with pytest.raises(ValueError, match=r"'dpi' parameter of save_figure .*>= 10; got 1"):
        save_figure(new_figure(1, 1), "out.png", dpi=1)


def test_saliency_errors(stim):
    sal = _saliency(stim, n_units=2)
    with pytest.raises(ValueError, match=r"2 units; pick one with 'unit': 'fc1\[0\]', 'fc1\[1\]'"):
        plot_saliency(stim, sal)
    with pytest.raises(KeyError, match=r"Unknown unit 'fc1\[5\]'"):
        plot_saliency(stim, sal, unit="fc1[5]")
    with pytest.raises(ValueError, match=r"dims \('stimulus', 'row', 'col'\).*got \('stimulus',"):
        plot_saliency(stim, sal.isel(unit=0, row=0))
    with pytest.raises(ValueError, match=r"images' size \(64, 64\).*got \(32, 32\)"):
        plot_saliency(stim, sal.isel(unit=0, row=slice(0, 32), col=slice(0, 32)))
    with pytest.raises(KeyError, match="stimulus 7 of the saliency is not in the stimuli"):
        plot_saliency(stim, sal.isel(unit=0).assign_coords(stimulus=[0, 1, 2, 7]))
