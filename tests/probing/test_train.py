"""Training the embedded model: a few steps, the files it writes, determinism, validation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import factorprobe as fp
from factorprobe.probing import NetworkConfig, TrainConfig


def _tiny(**kwargs) -> TrainConfig:
    network = NetworkConfig(input_size=64, channels=(8, 16), n_fc=2, fc_width=16)
    return TrainConfig(steps=3, batch_size=8, n_eval=16, size=(12.0, 24.0), network=network,
                       **kwargs)  # fmt: skip


def test_a_few_steps_write_weights_and_a_card_that_load(tmp_path):
    torch_state = torch.random.get_rng_state()
    np_state = np.random.get_state()[1].copy()  # noqa: NPY002 (checking it is untouched)
    card = fp.probing.train_embedded(tmp_path, _tiny(), progress=False)
    assert torch.equal(torch.random.get_rng_state(), torch_state)  # global seeds untouched
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)  # noqa: NPY002
    on_disk = json.loads((tmp_path / "card.json").read_text())
    assert on_disk == card
    assert set(card["heldout_accuracy"]) == {"disc", "square", "triangle", "cross", "overall"}
    assert 0 <= card["heldout_accuracy"]["overall"] <= 1
    assert card["training"]["steps"] == 3 and card["seed"] == 0
    assert card["architecture"]["config"]["n_fc"] == 2
    model = fp.probing.load_model("embedded", weights=tmp_path / "weights.safetensors")
    assert model.input_size == (64, 64)
    assert fp.probing.fc_layers(model) == ["pool", "fc1", "fc2", "classifier"]
    stim = fp.stimuli.render(fp.stimuli.grid(size=[20], x=[32], y=[32]), canvas=64)
    assert fp.probing.capture(model, stim, progress=False).sizes["unit"] == 16 + 2 * 16 + 4
    with pytest.raises(ValueError, match="takes 64x64 px inputs; got input_size=224"):
        fp.probing.load_model("embedded", weights=tmp_path / "weights.safetensors",
                              input_size=224)  # fmt: skip


def test_training_is_reproducible_from_its_seed(tmp_path):
    from safetensors.torch import load_file

    fp.probing.train_embedded(tmp_path / "a", _tiny(seed=3), progress=False)
    fp.probing.train_embedded(tmp_path / "b", _tiny(seed=3), progress=False)
    fp.probing.train_embedded(tmp_path / "c", _tiny(seed=4), progress=False)
    a, b, c = (load_file(tmp_path / d / "weights.safetensors") for d in "abc")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


def test_configuration_errors():
    with pytest.raises(
        ValueError, match=r"'steps' parameter of train_embedded must be an int >= 1"
    ):
        TrainConfig(steps=0)
    with pytest.raises(ValueError, match=r"'size' parameter of train_embedded .* >= 30.0; got 20"):
        TrainConfig(size=(30.0, 20.0))
    with pytest.raises(TypeError, match="'network' parameter of train_embedded must be a Network"):
        TrainConfig(network={"n_fc": 3})
    with pytest.raises(ValueError, match=r"'n_fc' parameter of NetworkConfig must be an int in"):
        NetworkConfig(n_fc=0)
    with pytest.raises(ValueError, match="at least 2 distinct shapes; got \\('disc',\\)"):
        NetworkConfig(shapes=("disc",))
    with pytest.raises(ValueError, match="needs at least one stage"):
        NetworkConfig(channels=())
