"""The embedded network's twins (ReLU, flattened head): offline loading, layers, cards, accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import factorprobe as fp
from factorprobe.probing import models

TWINS = {
    "embedded:relu": {"activation": "relu", "first": "pool", "fc1_inputs": 128},
    "embedded:flat": {"activation": "silu", "first": "flat", "fc1_inputs": 128 * 7 * 7},
}
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module", params=sorted(TWINS))
def twin(request) -> fp.probing.ProbedModel:
    return fp.probing.load_model(request.param)


def test_each_twin_loads_offline_with_its_architecture(twin, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    expected = TWINS[twin.name]
    again = fp.probing.load_model(twin.name)  # from the package's own files, no download
    assert again.name == twin.name and "sha256" in again.weights
    assert f"factorprobe {twin.name}" in again.weights
    assert twin.input_size == (224, 224) and twin.in_chans == 1
    assert twin.mean == (0.5,) and twin.std == (0.5,)
    net = twin.module
    assert not net.training
    assert net.config.activation == expected["activation"]
    assert net.fc1.in_features == expected["fc1_inputs"]
    assert fp.probing.fc_layers(twin) == [expected["first"], "fc1", "fc2", "fc3", "classifier"]
    acts = {"silu": torch.nn.SiLU, "relu": torch.nn.ReLU}[expected["activation"]]
    assert all(isinstance(getattr(net, f"act{i}"), acts) for i in (1, 2, 3))


def test_the_default_stays_the_swish_pooled_network():
    model = fp.probing.load_model("embedded")
    assert model.name == "embedded"
    assert model.module.config.activation == "silu" and model.module.config.head == "pool"
    assert fp.probing.model_card() == fp.probing.model_card("embedded")
    assert fp.probing.model_card()["name"] == "embedded"
    assert "command" not in fp.probing.model_card()


@pytest.mark.parametrize("name", sorted(TWINS))
def test_twin_cards_hold_accuracy_timing_and_the_command(name):
    card = fp.probing.model_card(name)
    assert card["name"] == name
    shapes = card["classes"]
    assert shapes == ["disc", "square", "triangle", "cross"]
    assert set(card["heldout_accuracy"]) == {*shapes, "overall"}
    assert card["heldout_accuracy"]["overall"] >= 0.95
    assert card["heldout_stimuli"] == 2000
    assert card["training_seconds"] > 0 and card["torch_threads"] >= 1
    assert card["seed"] == 0 and card["training"]["steps"] > 0
    assert card["command"].startswith("factorprobe train --out OUT ")
    layers = " ".join(card["architecture"]["layers"])
    if name == "embedded:relu":
        assert "ReLU" in layers and "SiLU" not in layers and "global mean" in layers
        assert "--activation relu" in card["command"]
    else:
        assert "flattened" in layers and "global mean" not in layers
        assert "--head flat" in card["command"]
    config = card["architecture"]["config"]
    weights = models._embedded_file(models.EMBEDDED_WEIGHTS, name.partition(":")[2])
    from safetensors import safe_open

    with safe_open(str(weights), "pt") as f:
        assert json.loads(f.metadata()["config"]) == config


def test_twin_weights_together_stay_under_10_mb():
    total = sum(
        models._embedded_file(models.EMBEDDED_WEIGHTS, t).stat().st_size
        for t in models.EMBEDDED_TWINS
    )
    assert total < 10 * 1024**2


def test_twins_are_listed_and_unknown_twins_are_errors():
    text = fp.probing.describe_models()
    for name in ("'embedded'", "'embedded:relu'", "'embedded:flat'"):
        assert name in text
    assert text.count("held-out accuracy") == 3
    assert fp.probing.models.embedded_names() == ("embedded", "embedded:relu", "embedded:flat")
    valid = r"valid: 'embedded', 'embedded:relu', 'embedded:flat'"
    with pytest.raises(ValueError, match=r"Unknown model 'embedded:gelu' .*" + valid):
        fp.probing.load_model("embedded:gelu")
    with pytest.raises(ValueError, match=r"Unknown model 'timm:x' for model_card; " + valid):
        fp.probing.model_card("timm:x")


def test_weights_of_another_network_are_refused_as_a_twin():
    default = models._embedded_file(models.EMBEDDED_WEIGHTS)
    with pytest.raises(ValueError, match=r"not the 'embedded:relu' twin.*load them as 'embedded'"):
        fp.probing.load_model("embedded:relu", weights=default)
    flat = models._embedded_file(models.EMBEDDED_WEIGHTS, "flat")
    loaded = fp.probing.load_model("embedded:flat", weights=flat)
    assert loaded.name == "embedded:flat" and str(flat) in loaded.weights


def test_twins_example_config_gives_three_runs_on_one_grid():
    from factorprobe.pipeline.config import load_config

    runs = load_config(EXAMPLES / "twins.toml")
    assert [r.name for r in runs] == ["swish-pool", "relu-pool", "swish-flat"]
    assert len({(r.stimuli.size, r.stimuli.x, r.stimuli.y) for r in runs}) == 1
    assert [r.model.name for r in runs] == ["embedded", "embedded:relu", "embedded:flat"]
    assert all(r.model.weights is None for r in runs)


def test_a_run_configuration_takes_every_shipped_network_by_name():
    from factorprobe._options import EMBEDDED_MODELS
    from factorprobe.pipeline.config import ModelConfig
    from factorprobe.probing.embedded.catalogue import embedded_names

    assert embedded_names() == EMBEDDED_MODELS
    for name in EMBEDDED_MODELS:
        assert ModelConfig(name=name).name == name
    with pytest.raises(ValueError, match="'embedded:relu', 'embedded:flat', 'timm:NAME'"):
        ModelConfig(name="embedded:tanh")


def _fresh_accuracy(model: fp.probing.ProbedModel, seed: int, n: int = 400) -> dict[str, float]:
    shapes = ["disc", "square", "triangle", "cross"]
    space = fp.stimuli.random_design(
        n, seed=seed, canvas=224, size=(16.0, 80.0), x=(0.0, 224.0), y=(0.0, 224.0), shape=shapes,
        rotation=(0.0, 360.0), contrast=(0.2, 1.0),
    )  # fmt: skip
    stim = fp.stimuli.render(space, canvas=224)
    logits = fp.probing.layer(fp.probing.capture(model, stim, progress=False), "classifier")
    correct = np.array(shapes)[logits.values.argmax(axis=1)] == stim["shape"].values
    accuracy = {s: float(correct[stim["shape"].values == s].mean()) for s in shapes}
    accuracy["overall"] = float(correct.mean())
    return accuracy


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TWINS))
def test_twins_keep_their_accuracy_on_fresh_stimuli(name):
    # Stimuli the training never saw (another seed than the recipe's streams), without the
    # background noise: every shape at least 90 %, overall at least 95 %.
    accuracy = _fresh_accuracy(fp.probing.load_model(name), seed=12345)
    assert accuracy["overall"] >= 0.95, accuracy
    assert min(accuracy[s] for s in ("disc", "square", "triangle", "cross")) >= 0.90, accuracy
