"""Model loading: embedded, timm by name, user modules, local weights, refused pickles."""

from __future__ import annotations

import os
import pathlib
import time

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import factorprobe as fp
from factorprobe.probing import models

SMALL = 64  # px, as in conftest


def test_embedded_model_loads_with_its_preprocessing(embedded):
    assert embedded.name == "embedded"
    assert embedded.input_size == (224, 224)
    assert embedded.in_chans == 1
    assert embedded.mean == (0.5,) and embedded.std == (0.5,)
    assert "sha256" in embedded.weights
    assert not embedded.module.training


def test_embedded_card_reports_heldout_accuracy_per_shape():
    card = fp.probing.model_card()
    shapes = card["classes"]
    assert len(shapes) >= 4
    for shape in shapes:
        assert card["heldout_accuracy"][shape] >= 0.95, shape
    assert card["heldout_accuracy"]["overall"] >= 0.95
    assert card["architecture"]["config"]["n_fc"] == 3
    assert card["input"]["size"] == [224, 224]
    assert card["seed"] == 0 and card["training"]["steps"] > 0
    assert card["factorprobe_version"] == fp.__version__


def test_embedded_weights_are_small_and_classify_rendered_shapes(embedded):
    path = models._embedded_file(models.EMBEDDED_WEIGHTS)
    assert path.stat().st_size < 3 * 1024**2
    shapes = list(fp.probing.model_card()["classes"])
    space = fp.stimuli.grid(size=[40], x=[80, 150], y=[90], shape=shapes)
    stim = fp.stimuli.render(space, canvas=224)
    logits = fp.probing.layer(fp.probing.capture(embedded, stim, progress=False), "classifier")
    predicted = [shapes[i] for i in logits.values.argmax(axis=1)]
    assert predicted == list(stim["shape"].values)


def test_unknown_model_names_are_errors():
    with pytest.raises(ValueError, match=r"Unknown model 'resnet' .*'embedded', 'timm:NAME'"):
        fp.probing.load_model("resnet")
    with pytest.raises(ValueError, match=r"Unknown timm model 'efficientnet_b9'.*did you mean"):
        fp.probing.load_model("timm:efficientnet_b9")
    with pytest.raises(ValueError, match=r"valid: 'embedded'"):
        fp.probing.load_model("embedded:big")
    with pytest.raises(TypeError, match=r"model name or a torch\.nn\.Module; got int"):
        fp.probing.load_model(3)


def test_user_module_needs_input_size_and_normalisation():
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    with pytest.raises(ValueError, match=r"needs 'input_size', 'mean', 'std' for a Sequential"):
        fp.probing.load_model(net)
    with pytest.raises(TypeError, match="apply to named models only"):
        fp.probing.load_model(net, weights="x.pt", input_size=4, mean=(0,), std=(1,))
    with pytest.raises(ValueError, match="one value per input channel each; got 3 and 1"):
        fp.probing.load_model(net, input_size=4, mean=(0, 0, 0), std=(1,))
    with pytest.raises(ValueError, match="'std' of load_model must be positive"):
        fp.probing.load_model(net, input_size=4, mean=(0,), std=(0,))
    with pytest.raises(TypeError, match=r"'input_size' .* \(height, width\) pair"):
        fp.probing.load_model(net, input_size="4", mean=(0,), std=(1,))
    model = fp.probing.load_model(net, input_size=(4, 4), mean=(0.0,), std=(1.0,))
    assert model.name == "Sequential" and model.weights == "user module"
    assert model.module is net and not model.channels_last


def test_timm_model_takes_preprocessing_from_its_data_config(effnet):
    assert effnet.name == "timm:efficientnet_b0"
    assert effnet.input_size == (SMALL, SMALL)
    assert effnet.mean == pytest.approx((0.485, 0.456, 0.406))
    assert effnet.std == pytest.approx((0.229, 0.224, 0.225))
    assert effnet.weights == "random init"
    default = fp.probing.load_model("timm:resnet10t")
    assert default.input_size == (176, 176)  # timm's data config for resnet10t


def test_pretrained_fails_at_once_when_the_hub_is_off(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(ConnectionError, match=r"HF_HUB_OFFLINE is set.*pass weights=PATH"):
        fp.probing.load_model("timm:efficientnet_b0", pretrained=True)
    assert time.perf_counter() - start < 2


def test_pretrained_fails_at_once_when_the_hub_is_unreachable(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def refuse(host: str, port: int) -> None:
        raise OSError(f"connection to {host} refused")

    monkeypatch.setattr(models, "_connect", refuse)
    with pytest.raises(ConnectionError, match=r"could not be reached .* pass weights=PATH"):
        fp.probing.load_model("timm:efficientnet_b0", pretrained=True)
    with pytest.raises(ValueError, match="either pretrained=True or weights=PATH"):
        fp.probing.load_model("timm:efficientnet_b0", pretrained=True, weights="w.pt")


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_local_weights_round_trip(tmp_path, effnet, suffix):
    state = {
        k: v + 0.01 if v.is_floating_point() else v.clone()
        for k, v in effnet.module.state_dict().items()
    }
    path = tmp_path / f"weights{suffix}"
    if suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save({"state_dict": state}, path)
    loaded = fp.probing.load_model(
        "timm:efficientnet_b0", weights=path, input_size=SMALL
    ).module.state_dict()
    assert loaded.keys() == state.keys()
    for key, value in state.items():
        torch.testing.assert_close(loaded[key], value, rtol=0, atol=0)
    assert (
        str(path)
        in fp.probing.load_model("timm:efficientnet_b0", weights=path, input_size=SMALL).weights
    )


class _RunsCode:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pt"
    torch.save({"conv_stem.weight": _RunsCode(str(marker))}, path)
    with pytest.raises(ValueError, match=r"Refusing to load .*evil\.pt.*weights_only=True"):
        fp.probing.load_model("timm:efficientnet_b0", weights=path, input_size=SMALL)
    assert not marker.exists()


def test_bad_checkpoints_are_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No weights file at"):
        fp.probing.load_model("embedded", weights=tmp_path / "missing.safetensors")
    wrong = tmp_path / "wrong.safetensors"
    save_file({"fc.weight": torch.zeros(2, 2)}, str(wrong))
    with pytest.raises(ValueError, match=r"do not fit model 'embedded': keys .* missing"):
        fp.probing.load_model("embedded", weights=wrong)
    not_a_dict = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), not_a_dict)
    with pytest.raises(ValueError, match="does not hold a state dict"):
        fp.probing.load_model("timm:efficientnet_b0", weights=not_a_dict)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(os.urandom(64))
    with pytest.raises(ValueError, match=r"Cannot read .* as safetensors"):
        fp.probing.load_model("embedded", weights=garbage)


def test_registry_is_read_only():
    assert list(fp.probing.list_models()) == ["embedded", "timm"]
    with pytest.raises(TypeError):
        fp.probing.list_models()["x"] = "y"  # type: ignore[index]
    with pytest.raises(RuntimeError, match="read-only"):
        models.register_source("hub", "more models")(lambda *a, **k: None)


def test_describe_models_names_every_source():
    text = fp.probing.describe_models()
    assert "embedded" in text and "timm:efficientnet_b0" in text and "held-out accuracy" in text
