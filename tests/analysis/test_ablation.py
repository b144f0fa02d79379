"""Cumulative ablation: a hand-built network with known size and position units, hooks that never
leak, the split forward path against full passes, rankings, the dissociation summary, errors."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from torch import nn

import factorprobe as fp
from factorprobe.interventions.ablation import (
    ablated,
    cumulative_ablation,
    double_dissociation,
)
from factorprobe.interventions.ablation._metrics import lda_decode
from factorprobe.interventions.ablation._rankings import ablation_order
from factorprobe.pipeline.ablate import write_ablation
from factorprobe.report.ablation_plots import plot_ablation_curves

CANVAS = 48
SIZE_UNITS = [0, 1, 2, 3]
POSITION_UNITS = [4, 5, 6, 7]


class Features(nn.Module):
    """Area, centroid x and centroid y of a one-object image, scaled to about [-1, 1]."""

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        w = img[:, 0]
        area = w.sum(dim=(1, 2))
        centres = torch.arange(w.shape[1], dtype=w.dtype, device=w.device) + 0.5
        safe = area.clamp_min(1e-6)
        cx = (w.sum(1) * centres).sum(1) / safe
        cy = (w.sum(2) * centres).sum(1) / safe
        return torch.stack([(area - 150) / 100, (cx - 24) / 10, (cy - 24) / 10], dim=1)


def hand_network() -> nn.Sequential:
    """fc1 units 0-3 read size (area) only, units 4-7 position (x, y) only; fc2 copies fc1."""
    fc1, fc2, classifier = nn.Linear(3, 8), nn.Linear(8, 8), nn.Linear(8, 2)
    w = torch.zeros(8, 3)
    w[0:4, 0] = torch.tensor([2.0, -1.5, 1.0, 3.0])
    w[4:8, 1] = torch.tensor([2.0, -1.0, 1.5, 0.5])
    w[4:8, 2] = torch.tensor([0.5, 1.5, -1.0, 2.0])
    with torch.no_grad():
        fc1.weight.copy_(w)
        fc1.bias.copy_(torch.tensor([0.5, 0.2, -0.3, 0.1, 0.3, -0.2, 0.4, 0.0]))
        fc2.weight.copy_(torch.eye(8))
        fc2.bias.zero_()
        classifier.weight.copy_(torch.tensor([[1.0] * 4 + [0.0] * 4, [0.0] * 4 + [1.0] * 4]))
        classifier.bias.zero_()
    layers = [("features", Features()), ("fc1", fc1), ("act1", nn.SiLU()), ("fc2", fc2),
              ("act2", nn.SiLU()), ("classifier", classifier)]  # fmt: skip
    return nn.Sequential(OrderedDict(layers))


def hand_model() -> fp.probing.ProbedModel:
    return fp.probing.load_model(hand_network(), input_size=CANVAS, mean=(0.0,), std=(1.0,))


def hand_stimuli() -> xr.Dataset:
    """3 sizes × 3 x × 3 y discs, each twice: 54 stimuli at 48 px."""
    space = fp.stimuli.grid(size=[8, 12, 16], x=[14, 24, 34], y=[14, 24, 34], shape="disc")
    one = fp.stimuli.render(space, canvas=CANVAS)
    both = xr.concat([one, one], "stimulus")
    return both.assign_coords(stimulus=np.arange(both.sizes["stimulus"]))


@pytest.fixture(scope="module")
def model():
    return hand_model()


@pytest.fixture(scope="module")
def stim():
    return hand_stimuli()


@pytest.fixture(scope="module")
def result(model, stim):
    rankings = {"size": "mi:size", "position": "mi:position"}
    # C=100: a weakly regularised decoder reads the 9 positions from the 4 position units exactly
    return cumulative_ablation(model, stim, "fc1", rankings, grid=[0, 2, 4, 6, 8], seed=0, C=100.0)


def _at(result, ranking, factor, k=4, direction="highest"):
    sel = {"k": k, "metric": f"decoding_accuracy:{factor}"}
    return float(result["score"].sel({**sel, "ranking": ranking, "direction": direction}))


def test_mi_ranking_finds_the_planted_units(result):
    first = result["order"].sel(direction="highest").isel(rank=slice(0, 4))
    assert sorted(first.sel(ranking="size").values.tolist()) == SIZE_UNITS
    assert sorted(first.sel(ranking="position").values.tolist()) == POSITION_UNITS
    assert result.attrs["readout"] == "fc2"


def test_ablating_size_units_removes_size_and_leaves_position(result):
    assert _at(result, "size", "size") < 0.45  # chance is 1/3
    assert _at(result, "size", "position") == 1.0


def test_ablating_position_units_removes_position_and_leaves_size(result):
    assert _at(result, "position", "position") < 0.25  # chance is 1/9
    assert _at(result, "position", "size") == 1.0


def test_random_ablation_lies_between(result):
    mean = result["random_mean"].sel(k=4)
    for factor, other in (("size", "position"), ("position", "size")):
        m = float(mean.sel(metric=f"decoding_accuracy:{factor}"))
        assert _at(result, factor, factor) < m < _at(result, other, factor)
    sd = result["random_sd"].sel(k=4, metric="decoding_accuracy:size")
    assert float(sd) > 0


def test_nothing_ablated_is_the_intact_network(result, model, stim):
    k0 = result["score"].sel(k=0)
    assert (k0.sel(metric="agreement") == 1.0).all()
    assert (result["random"].sel(k=0) == k0.isel(ranking=0, direction=0)).all()
    acts = fp.probing.layer(fp.probing.capture(model, stim, progress=False), "fc2")
    # seed=0 gives decoding the same folds: the intact read-out's numbers are decoding's
    expected = fp.analysis.decoding(acts, ["size", "position"], seed=0, C=100.0)
    pairs = (("decoding_accuracy", "accuracy"), ("v_information", "v_information"),
             ("decoding_r2", "r2"))  # fmt: skip
    for measure, name in pairs:
        for factor in ("size", "position"):
            got = float(k0.sel(metric=f"{measure}:{factor}").isel(ranking=0, direction=0))
            assert got == pytest.approx(float(expected[name].sel(factor=factor).item()), abs=1e-12)
    x = torch.rand(5, 1, CANVAS, CANVAS)
    with torch.inference_mode():
        intact = model.module(x)
        with ablated(model, {"fc1": []}):
            same = model.module(x)
    assert torch.equal(intact, same)


def test_all_units_ablated_gives_one_point_for_every_order(result):
    last = result["score"].sel(k=8)
    assert (last == last.isel(ranking=0, direction=0)).all()
    assert (result["random"].sel(k=8) == last.isel(ranking=0, direction=0)).all()


def test_double_dissociation_numbers(result):
    dd = double_dissociation(result)
    assert bool(dd["double_dissociation"])
    assert dd["contrast"].dims == ("ranking",)
    assert (dd["contrast"] > 0).all()
    assert float(dd["drop"].sel(ranking="size", factor="position")) == 0.0
    assert float(dd["excess"].sel(ranking="size", factor="size")) > 0
    assert dd.attrs["k"] == "[2, 4, 6]"
    sd = dd["contrast_random_sd"]
    assert (dd["contrast"] > sd).all() and (dd["contrast"] < 2 * sd).any()
    assert not bool(double_dissociation(result, n_sd=2.0)["double_dissociation"])
    with pytest.raises(ValueError, match="at least two decoded factors"):
        double_dissociation(result.isel(ranking=[0]))
    with pytest.raises(ValueError, match="must name grid points"):
        double_dissociation(result, k=[3])
    with pytest.raises(ValueError, match="'measure' parameter"):
        double_dissociation(result, measure="mi")


def x_model() -> fp.probing.ProbedModel:
    """The hand network with fc1 units 4-7 reading the centroid's x only (linearly)."""
    network = hand_network()
    with torch.no_grad():
        network.fc1.weight[4:8, 2] = 0.0
    return fp.probing.load_model(network, input_size=CANVAS, mean=(0.0,), std=(1.0,))


@pytest.fixture(scope="module")
def x_result(stim):
    return cumulative_ablation(x_model(), stim, "fc1", ["mi:size", "mi:x"], factors=["size", "x"],
                               grid=[0, 2, 4, 6, 8], seed=0, C=100.0)  # fmt: skip


def test_ablating_the_x_units_removes_x_as_a_value_and_random_orders_do_not(x_result):
    r2 = x_result["score"].sel(direction="highest", k=4)
    first = x_result["order"].sel(ranking="mi:x", direction="highest").values[:4]
    assert sorted(first.tolist()) == POSITION_UNITS
    assert float(r2.sel(ranking="mi:x", metric="decoding_r2:x")) < 0.01
    assert float(r2.sel(ranking="mi:x", metric="decoding_r2:size")) > 0.99
    assert float(r2.sel(ranking="mi:size", metric="decoding_r2:x")) > 0.99
    intact = x_result["score"].sel(k=0, metric="decoding_r2:x").isel(ranking=0, direction=0)
    assert float(intact) > 0.99
    # a random half of the layer hits all 4 x units 1 time in 70 (one of these 5 orders does)
    random = x_result["random"].sel(k=4, metric="decoding_r2:x")
    assert float(random.mean()) > 0.7 and int((random > 0.8).sum()) >= 4
    assert float(x_result["chance"].sel(metric="decoding_r2:x")) == 0.0
    assert str(x_result["metric_units"].sel(metric="decoding_r2:x").values) == "1"
    assert x_result.attrs["value_decoder"].startswith("ridge regression")
    dd = double_dissociation(x_result, measure="decoding_r2")
    assert bool(dd["double_dissociation"]) and dd.attrs["units"] == "1"
    assert float(dd["drop"].sel(ranking="mi:x", factor="x")) > 0.5


def test_r2_equals_decoding_on_the_read_out_with_the_same_folds(x_result, stim):
    acts = fp.probing.layer(fp.probing.capture(x_model(), stim, progress=False), "fc2")
    expected = fp.analysis.decoding(acts, ["size", "x"], seed=0, C=100.0)
    got = x_result["score"].sel(k=0).isel(ranking=0, direction=0)
    for factor in ("size", "x"):
        assert float(got.sel(metric=f"decoding_r2:{factor}")) == pytest.approx(
            float(expected["r2"].sel(factor=factor).item()), abs=1e-12
        )
    # a fixed penalty is passed on as is, and the folds are those of another seed then
    one = cumulative_ablation(x_model(), stim, "fc1", np.arange(8.0), factors=["x"], grid=[0, 8],
                              seed=1, alpha=10.0, n_splits=3)  # fmt: skip
    fixed = fp.analysis.decoding(acts, ["x"], seed=1, alpha=10.0, n_splits=3)
    assert float(one["score"].sel(k=0, metric="decoding_r2:x").max()) == pytest.approx(
        float(fixed["r2"].item()), abs=1e-12
    )
    # nothing left: each fold predicts its training mean, here (balanced folds) the overall one
    none_left = one["score"].sel(k=8, metric="decoding_r2:x").values
    np.testing.assert_allclose(none_left, 0.0, atol=1e-12)


def test_only_ordered_factors_get_r2(model, stim):
    kind = np.where(stim["size"].values > 8, "large", "small")
    labelled = stim.assign_coords(kind=("stimulus", kind))
    res = cumulative_ablation(model, labelled, "fc1", np.arange(8.0),
                              factors=["kind", "position"], grid=[0, 8])  # fmt: skip
    metrics = res["metric"].values.tolist()
    assert "decoding_r2:position" in metrics and "decoding_accuracy:kind" in metrics
    assert "decoding_r2:kind" not in metrics
    fig = plot_ablation_curves(res, metrics=["decoding_r2:position"])
    assert [ax.get_ylabel() for ax in fig.axes if ax.get_visible()] == ["held-out R²"]


def test_ablated_sets_units_and_removes_hooks(model, stim):
    x = torch.rand(4, 1, CANVAS, CANVAS)
    with ablated(model, {"fc1": SIZE_UNITS}):
        acts = fp.probing.capture(model, stim, layers=["fc1"], progress=False)
    intact = fp.probing.capture(model, stim, layers=["fc1"], progress=False)
    assert float(abs(acts[:, SIZE_UNITS]).max()) == 0.0
    np.testing.assert_array_equal(acts[:, POSITION_UNITS], intact[:, POSITION_UNITS])
    with ablated(model, {"fc1": [5]}, method="mean", reference=stim):
        mean_acts = fp.probing.capture(model, stim, layers=["fc1"], progress=False)
    np.testing.assert_allclose(mean_acts[:, 5], intact[:, 5].mean(), rtol=1e-6)
    with pytest.raises(RuntimeError, match="boom"), ablated(model, {"fc1": [0]}):
        raise RuntimeError("boom")
    for module in model.module.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks
    with torch.inference_mode():
        assert torch.equal(model.module(x), hand_network()(x))


def test_ablated_errors(model, stim):
    with (
        pytest.raises(ValueError, match=r"distinct indices in \[0, 7\]"),
        ablated(model, {"fc1": [8]}),
    ):
        pass
    with (
        pytest.raises(ValueError, match="needs reference stimuli"),
        ablated(model, {"fc1": [0]}, method="mean"),
    ):
        pass
    with (
        pytest.raises(ValueError, match="'method' parameter of ablated must be one of"),
        ablated(model, {"fc1": [0]}, method="one"),
    ):
        pass
    with pytest.raises(TypeError, match="non-empty mapping"), ablated(model, {}):
        pass
    with pytest.raises(ValueError, match="Unknown layer 'fc9'"), ablated(model, {"fc9": [0]}):
        pass


def test_split_path_equals_full_passes(model, stim):
    ranking = np.array([3.0, 1, 4, 1, 5, 9, 2, 6])
    options = dict(factors=["size"], grid=3, seed=2, method="mean")
    split = cumulative_ablation(model, stim, "fc1", ranking, **options)
    full = cumulative_ablation(model, stim, "fc1", ranking, forward="full", **options)
    assert split.attrs["forward_path"].startswith("children features..fc1")
    assert full.attrs["forward_path"] == "full forward passes"
    xr.testing.assert_allclose(split["score"], full["score"])
    xr.testing.assert_allclose(split["random"], full["random"])
    again = cumulative_ablation(model, stim, "fc1", ranking, **options)
    xr.testing.assert_identical(split, again)


def test_ranking_forms_agree(model, stim):
    acts = fp.probing.capture(model, stim, progress=False)
    table = fp.analysis.unit_table(acts, factors=["size", "position"], n_permutations=50)
    column = table["mi"].sel(factor="size")
    n = 8
    mine = fp.probing.layer(acts, "fc1")
    mi = column.isel(unit=np.flatnonzero(column.layer.values == "fc1")).values
    base = dict(factors=["size"], grid=[0, 4, 8], seed=3)
    by_array = cumulative_ablation(model, stim, "fc1", mi, **base)
    by_table = cumulative_ablation(model, stim, "fc1", column, **base)
    shuffled = column.isel(unit=np.random.default_rng(0).permutation(column.sizes["unit"]))
    by_shuffled = cumulative_ablation(model, stim, "fc1", shuffled, **base)
    by_name = cumulative_ablation(model, stim, "fc1", "mi", factor="size", table=table, **base)
    assert mine.sizes["unit"] == n
    for other in (by_table, by_shuffled, by_name):
        np.testing.assert_array_equal(other["order"].values, by_array["order"].values)
    assert by_table["ranking"].values.tolist() == ["mi:size"]
    assert by_name["ranking_factor"].values.tolist() == ["size"]
    assert by_array["ranking"].values.tolist() == ["custom"]


def test_ablation_order_nan_last_and_seeded_ties():
    values = np.array([np.nan, 2.0, 0.0, 0.0, 5.0, np.nan])
    for direction in ("highest", "lowest"):
        order = ablation_order(values, direction, np.random.default_rng(0))
        assert set(order[-2:].tolist()) == {0, 5}
    assert ablation_order(values, "highest", np.random.default_rng(0))[:2].tolist() == [4, 1]
    assert set(ablation_order(values, "lowest", np.random.default_rng(0))[:2].tolist()) == {2, 3}
    ties = np.zeros(50)
    a = ablation_order(ties, "highest", np.random.default_rng(1))
    b = ablation_order(ties, "highest", np.random.default_rng(1))
    assert a.tolist() == b.tolist() and a.tolist() != list(range(50))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"method": "one"}, ValueError, "'method' parameter of cumulative_ablation"),
        ({"decoder": "svm"}, ValueError, "'decoder' parameter .* 'logistic', 'lda'"),
        ({"forward": "half"}, ValueError, "'forward' parameter .* 'auto', 'full'"),
        ({"n_random": 4}, ValueError, "'n_random' parameter .* >= 5"),
        ({"grid": [0, 9]}, ValueError, r"numbers of units in \[0, 8\]"),
        ({"grid": 1}, ValueError, "'grid' parameter .* >= 2"),
        ({"n_splits": 19}, ValueError, "has a level with 18 stimuli; n_splits=19"),
        ({"readout": "features"}, ValueError, "runs before the ablated layer"),
        ({"readout": "fc1"}, ValueError, "ablated layer itself"),
        ({"factors": ["colour"]}, KeyError, "Factor 'colour'"),
        ({"directions": ["up"]}, ValueError, "'directions' parameter"),
        ({"classes": ["disc", "square"], "label": "shape"}, ValueError, "pass classes=None"),
        ({"classes": ["a"], "label": "kind"}, KeyError, "needs the stimulus coordinate 'kind'"),
        ({"C": 0.0}, ValueError, "'C' parameter of cumulative_ablation must be .* > 0"),
        ({"alpha": -1.0}, ValueError, "'alpha' parameter of cumulative_ablation must be"),
        ({"alpha": [1.0]}, ValueError, "'alpha' parameter .* at least 2 finite numbers"),
    ],
)
def test_cumulative_ablation_errors(model, stim, kwargs, error, match):
    ranking = np.arange(8.0)
    stimuli = stim
    if "classes" in kwargs and kwargs["classes"] == ["disc", "square"]:
        stimuli = stim.assign_coords(shape=("stimulus", np.full(stim.sizes["stimulus"], "ring")))
    with pytest.raises(error, match=match):
        cumulative_ablation(model, stimuli, "fc1", ranking, **{"factors": ["size"], **kwargs})


@pytest.mark.parametrize(
    ("ranking", "kwargs", "error", "match"),
    [
        (np.arange(7.0), {}, ValueError, r"one value per unit, shape \(8,\)"),
        ("kl", {}, KeyError, "Unknown unit-table column 'kl'"),
        ("mi", {}, ValueError, "name one, e.g. ranking='mi:size'"),
        ("entropy:size", {}, ValueError, "drop the factor 'size'"),
        ("mi:size", {"factor": "x"}, ValueError, "give the factor once"),
        (["mi:size", "mi:size"], {}, ValueError, "distinct labels"),
        (xr.Dataset(), {}, TypeError, "not a whole Dataset"),
        (xr.DataArray(np.zeros(8), dims="neuron"), {}, ValueError, "single dimension 'unit'"),
        ({}, {}, ValueError, "empty mapping"),
        (object(), {}, TypeError, "unit-table column name, a DataArray"),
    ],
)
def test_ranking_errors(model, stim, ranking, kwargs, error, match):
    with pytest.raises(error, match=match):
        cumulative_ablation(model, stim, "fc1", ranking, factors=["size"], grid=2, **kwargs)


def test_ranking_of_another_layer_is_refused(model, stim):
    other = xr.DataArray(np.zeros(8), dims="unit", coords={"layer": ("unit", ["fc2"] * 8)})
    with pytest.raises(ValueError, match="has no units of layer 'fc1'; its layers: 'fc2'"):
        cumulative_ablation(model, stim, "fc1", other, factors=["size"])
    partial = xr.DataArray(np.zeros(4), dims="unit", coords={"index": ("unit", np.arange(4))})
    with pytest.raises(ValueError, match=r"must cover units 0\.\.7"):
        cumulative_ablation(model, stim, "fc1", partial, factors=["size"])


def test_embedded_task_accuracy_and_split_path(tmp_path):
    model = fp.probing.load_model("embedded")
    space = fp.stimuli.grid(size=[24, 56], x=[80, 144], y=[112], shape=["disc", "square", "cross"])
    stim = fp.stimuli.render(space)
    res = cumulative_ablation(model, stim, "fc3", np.arange(128.0), factors=["size"], grid=3,
                              n_splits=2, directions=["highest"])  # fmt: skip
    assert res.attrs["forward_path"].startswith("features once")
    assert res.attrs["readout"] == "classifier"
    logits = fp.probing.layer(fp.probing.capture(model, stim, progress=False), "classifier")
    classes = ["disc", "square", "triangle", "cross"]
    labels = np.array([classes.index(s) for s in stim["shape"].values])
    expected = float(np.mean(logits.values.argmax(1) == labels))
    got = res["score"].sel(k=0, metric="task_accuracy").values
    assert (got == expected).all()
    assert float(res["chance"].sel(metric="task_accuracy")) == pytest.approx(1 / 3)
    assert float(res["score"].sel(k=128, metric="agreement").max()) < 1.0
    path = write_ablation(model, stim, "fc3", np.arange(128.0), tmp_path / "out",
                          factors=["size"], grid=3, n_splits=2, directions=["highest"])  # fmt: skip
    back = xr.load_dataset(path["result"], engine="h5netcdf")
    np.testing.assert_array_equal(back["score"].values, res["score"].values)
    assert path["plot"].read_bytes()[:4] == b"\x89PNG"
    assert "dissociation" not in path


def test_timm_head_split(tmp_path):
    model = fp.probing.load_model("timm:resnet10t", input_size=64, model_kwargs={"num_classes": 5})
    space = fp.stimuli.grid(size=[12, 24], x=[24, 40], y=[32], shape=["disc", "square"])
    stim = fp.stimuli.render(space, canvas=64, mode="RGB")
    res = cumulative_ablation(model, stim, "global_pool", np.arange(512.0), factors=["size"],
                              grid=[0, 256, 512], n_splits=2, directions=["lowest"])  # fmt: skip
    assert res.attrs["forward_path"] == "forward_features once, then forward_head"
    assert "task_accuracy" not in res["metric"].values
    assert (res["score"].sel(k=0, metric="agreement") == 1.0).all()


def test_cli_ablate(tmp_path, capsys):
    from factorprobe.cli import main

    space = fp.stimuli.grid(size=[24, 40, 56], x=[80, 112, 144], y=[112], shape=["disc", "cross"])
    fp.stimuli.write_stimuli(space, tmp_path / "stim")
    out = tmp_path / "abl"
    argv = ["ablate", "--stimuli", str(tmp_path / "stim" / "stimuli.nc"), "--layer", "fc3",
            "--factor", "size", "--factor", "x", "--decode", "size,x", "--steps", "3",
            "--n-splits", "2", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert "ablation.nc" in capsys.readouterr().out
    result = xr.load_dataset(out / "ablation.nc", engine="h5netcdf")
    assert result["ranking"].values.tolist() == ["mi:size", "mi:x"]
    assert result.attrs["layer"] == "fc3" and result.attrs["method"] == "zero"
    assert (out / "ablation.png").is_file() and (out / "dissociation.csv").is_file()
    table = pd.read_csv(out / "dissociation.csv")
    assert table.columns[:3].tolist() == ["measure", "ranking", "factor"]
    assert table["measure"].unique().tolist() == ["decoding_accuracy", "v_information",
                                                  "decoding_r2"]  # fmt: skip
    assert table.groupby("measure")["double_dissociation"].nunique().eq(1).all()
    assert main([*argv[:4], "fc9", *argv[5:]]) == 2
    err = capsys.readouterr().err
    assert err.startswith("factorprobe ablate: error: Unknown layer 'fc9'") and err.count("\n") == 1


def test_lda_decoder_without_information_predicts_training_frequencies():
    y = np.repeat([0, 1, 2], [10, 10, 20])
    accuracy, cross_entropy = lda_decode(np.zeros((40, 3)), y, n_splits=5, random_state=0)
    assert accuracy == 0.5  # the majority level in every training fold: level 2, half the stimuli
    assert cross_entropy == pytest.approx(-np.mean(np.log2(np.r_[[0.25] * 20, [0.5] * 20])))
    x = np.eye(3)[y] + 0.01 * np.random.default_rng(0).normal(size=(40, 3))
    assert lda_decode(x, y, n_splits=5, random_state=0)[0] == 1.0


def test_lda_decoder_option(model, stim):
    res = cumulative_ablation(model, stim, "fc1", np.arange(8.0), factors=["size"], grid=[0, 8],
                              decoder="lda")  # fmt: skip
    assert res.attrs["decoder"].startswith("shrinkage LDA")
    assert float(res["score"].sel(k=0, metric="decoding_accuracy:size").max()) == 1.0
    assert float(res["score"].sel(k=8, metric="v_information:size").max()) < 0.05
