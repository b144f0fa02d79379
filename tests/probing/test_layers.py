"""Layer discovery, name errors, and pre/post values against a manual forward."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import factorprobe as fp
from factorprobe.probing.layers import resolve_targets


def test_embedded_fc_layers(embedded):
    assert fp.probing.fc_layers(embedded) == ["pool", "fc1", "fc2", "fc3", "classifier"]
    targets = resolve_targets(embedded, None, "post")
    assert [t.module for t in targets] == ["pool", "act1", "act2", "act3", "classifier"]
    assert [t.values for t in targets] == ["pooled", "post", "post", "post", "no activation"]
    assert [t.n_units for t in targets] == [128, 128, 128, 128, 4]


def test_efficientnet_fc_layers_are_pooled_features_then_logits(effnet):
    # Squeeze-and-excitation 1x1 convolutions inside the blocks are not fully connected layers.
    assert fp.probing.fc_layers(effnet) == ["global_pool", "classifier"]
    targets = resolve_targets(effnet, None, "post")
    assert [t.n_units for t in targets] == [1280, 1000]


def test_vgg_head_written_as_convolutions_counts(vgg):
    assert fp.probing.fc_layers(vgg) == ["pre_logits.fc1", "pre_logits.fc2", "head.fc"]
    targets = resolve_targets(vgg, None, "post")
    assert [t.module for t in targets] == ["pre_logits.act1", "pre_logits.act2", "head.fc"]
    assert [t.n_units for t in targets] == [64, 4096, 1000]


def test_unknown_layer_lists_the_valid_ones(embedded, effnet):
    with pytest.raises(ValueError, match=r"Unknown layer 'fc9' for model 'embedded'; valid "
                       r"layers: 'features', .*'fc3', 'act3', 'classifier'\."):  # fmt: skip
        resolve_targets(embedded, ["fc1", "fc9"], "post")
    with pytest.raises(ValueError, match=r"Unknown layer 'clasifier' .*'timm:efficientnet_b0'"
                       r".* module names .*'classifier'"):  # fmt: skip
        resolve_targets(effnet, ["clasifier"], "post")


def test_named_layer_errors(embedded):
    with pytest.raises(ValueError, match="names a layer twice"):
        resolve_targets(embedded, ["fc1", "fc1"], "post")
    with pytest.raises(TypeError, match="list of module names or None; got 'fc1'"):
        resolve_targets(embedded, "fc1", "post")
    with pytest.raises(ValueError, match=r"'activation' parameter of capture must be one of "
                       r"'post', 'pre'; got 'relu'"):  # fmt: skip
        resolve_targets(embedded, None, "relu")


class _Unused(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.spare = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


def test_a_module_that_does_not_run_is_an_error():
    model = fp.probing.load_model(_Unused(), input_size=2, mean=(0.0,), std=(1.0,))
    with pytest.raises(ValueError, match=r"Layer 'spare' .* does not run in the forward pass"):
        resolve_targets(model, ["spare"], "post")


def test_named_layers_come_in_forward_order(embedded):
    targets = resolve_targets(embedded, ["fc3", "features.4", "fc1"], "pre")
    assert [t.layer for t in targets] == ["features.4", "fc1", "fc3"]
    assert targets[0].n_units == 48 * 28 * 28  # a spatial map, flattened


def _images(n: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, size=(n, 224, 224, 1)).astype(np.float32)


def _dataset(images: np.ndarray):
    import xarray as xr

    return xr.Dataset(
        {"image": (("stimulus", "row", "col", "channel"), images)},
        coords={"stimulus": np.arange(len(images)), "size": ("stimulus", np.arange(len(images)))},
    )


@pytest.mark.parametrize("activation", ["post", "pre"])
def test_values_equal_a_manual_forward(embedded, activation):
    images = _images()
    acts = fp.probing.capture(
        embedded, _dataset(images), activation=activation, batch_size=4, progress=False
    )
    net = embedded.module
    x = (torch.from_numpy(images).permute(0, 3, 1, 2) - 0.5) / 0.5
    with torch.no_grad():
        expected = {"pool": net.features(x).mean(dim=(2, 3))}
        h = expected["pool"]
        for i in (1, 2, 3):
            pre = getattr(net, f"fc{i}")(h)
            h = F.silu(pre)
            expected[f"fc{i}"] = h if activation == "post" else pre
        expected["classifier"] = net.classifier(h)
    assert acts.attrs["activation"] == activation
    for name, values in expected.items():
        got = fp.probing.layer(acts, name).values
        np.testing.assert_allclose(got, values.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


class _SharedInPlace(nn.Module):
    """One in-place ReLU reused after two Linear layers: calls must be told apart."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 5)
        self.fc2 = nn.Linear(5, 3)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.fc2(self.act(self.fc1(x.flatten(1)))))


def test_shared_in_place_activation_gives_each_layer_its_own_values():
    net = _SharedInPlace()
    model = fp.probing.load_model(net, input_size=2, mean=(0.0,), std=(1.0,))
    targets = resolve_targets(model, None, "post")
    assert [(t.layer, t.module, t.call) for t in targets] == [("fc1", "act", 0), ("fc2", "act", 1)]
    images = np.random.default_rng(1).random((5, 2, 2, 1)).astype(np.float32)  # in [0, 1]
    x = torch.from_numpy(images).flatten(1)
    with torch.no_grad():
        pre1 = net.fc1(x)
        pre2 = net.fc2(pre1.relu())
    post = fp.probing.capture(model, _dataset(images), progress=False)
    pre = fp.probing.capture(model, _dataset(images), activation="pre", progress=False)
    np.testing.assert_allclose(fp.probing.layer(pre, "fc1").values, pre1.numpy(), rtol=1e-6)
    np.testing.assert_allclose(fp.probing.layer(pre, "fc2").values, pre2.numpy(), rtol=1e-6)
    np.testing.assert_allclose(fp.probing.layer(post, "fc1").values, pre1.relu().numpy())
    np.testing.assert_allclose(fp.probing.layer(post, "fc2").values, pre2.relu().numpy())
    assert (fp.probing.layer(pre, "fc1").values < 0).any()  # in-place ReLU did not overwrite it


def test_discovery_is_cached_per_module_until_its_structure_changes(embedded):
    from factorprobe.probing.layers import Target

    module = copy.deepcopy(embedded.module)
    model = fp.probing.load_model(module, input_size=224, mean=[0.5], std=[0.5])
    traced = []
    handle = module.register_forward_pre_hook(lambda mod, args: traced.append(args[0].shape))
    first = resolve_targets(model, None, "post")
    assert resolve_targets(model, None, "post") == first
    assert resolve_targets(model, ["fc2"], "pre") == [Target("fc2", "fc2", 0, "pre", 128)]
    assert len(traced) == 2  # one trace per layer choice, none for the repeat
    # a replaced layer of another width is seen: the cache follows the module's structure
    module.fc2 = torch.nn.Linear(128, 64)
    module.fc3 = torch.nn.Linear(64, 128)
    again = resolve_targets(model, None, "post")
    assert len(traced) == 3
    assert [t.n_units for t in again] == [t.n_units if t.layer != "fc2" else 64 for t in first]
    handle.remove()
