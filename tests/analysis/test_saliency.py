"""Saliency: closed forms on linear models, finite differences, linearity, alignment, safety."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import xarray as xr
from torch import nn

import factorprobe as fp
from factorprobe.dims import COL, INDEX, LAYER, ROW, STIMULUS, UNIT
from factorprobe.interventions import saliency

SIDE = 6  # px: the canvas of the hand-built models


def _images(n: int, side: int = SIDE, channels: int = 1, seed: int = 0) -> xr.Dataset:
    """Random stimuli in render's layout, with factor coordinates and a background attr."""
    rng = np.random.default_rng(seed)
    image = rng.uniform(0, 1, (n, side, side, channels)).astype(np.float32)
    coords = {
        STIMULUS: np.arange(n),
        "size": (STIMULUS, rng.choice([4.0, 8.0], n)),
        "shape": (STIMULUS, rng.choice(["disc", "square"], n)),
    }
    return xr.Dataset(
        {"image": ((STIMULUS, ROW, "col", "channel"), image)},
        coords=coords,
        attrs={"background": 0.25, "canvas": side},
    )


def _linear(in_chans: int, n_out: int = 3, *, silu: bool = False, seed: int = 0) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    linear = nn.Linear(in_chans * SIDE * SIDE, n_out)
    with torch.no_grad():
        linear.weight.copy_(torch.randn(linear.weight.shape, generator=gen))
        linear.bias.copy_(torch.randn(n_out, generator=gen))
    layers = [nn.Flatten(), linear, *([nn.SiLU()] if silu else [])]
    return nn.Sequential(*layers)


def _probed(module: nn.Module, mean, std) -> fp.probing.ProbedModel:
    return fp.probing.load_model(module, input_size=SIDE, mean=mean, std=std)


@pytest.fixture(scope="module")
def embedded() -> fp.probing.ProbedModel:
    return fp.probing.load_model("embedded")


@pytest.fixture(scope="module")
def stim() -> xr.Dataset:
    space = fp.stimuli.grid(size=[24, 40], x=[84, 140], y=[100], shape=["disc", "triangle"])
    return fp.stimuli.render(space, canvas=224)


# --- closed forms on linear models -------------------------------------------------------------


def test_linear_model_saliency_is_the_weight_map_over_std():
    module = _linear(1)
    model = _probed(module, mean=(0.3,), std=(0.4,))
    sal = saliency(model, _images(3), layer="1", unit=[0, 2])
    weight = module[1].weight.detach().numpy().reshape(3, SIDE, SIDE)
    expected = np.broadcast_to(weight[[0, 2], None] / 0.4, sal.shape)
    np.testing.assert_allclose(sal.values, expected, rtol=1e-6)
    assert sal.dtype == np.float32 and sal.attrs["values"] == "no activation"


def test_gray_stimuli_on_an_rgb_model_sum_the_channel_gradients():
    module = _linear(3)
    std = (0.2, 0.5, 0.25)
    model = _probed(module, mean=(0.4, 0.5, 0.6), std=std)
    sal = saliency(model, _images(2), layer="1", unit=1)
    # The model sees channel-first pixels: weight index = c * SIDE² + row * SIDE + col.
    weight = module[1].weight.detach().numpy()[1].reshape(3, SIDE, SIDE)
    expected = sum(weight[c] / std[c] for c in range(3))
    np.testing.assert_allclose(sal.isel(unit=0, stimulus=1).values, expected, rtol=1e-6)
    rgb = saliency(model, _images(2, channels=3), layer="1", unit=1)
    np.testing.assert_allclose(rgb.values, sal.values, rtol=1e-6)


def test_gradient_x_input_sums_to_the_change_from_the_blank_canvas():
    module = _linear(1)
    model = _probed(module, mean=(0.3,), std=(0.4,))
    stim = _images(4)
    sal = saliency(model, stim, layer="1", unit=[0, 1, 2], method="gradient_x_input")
    x = (torch.from_numpy(stim["image"].values).double().permute(0, 3, 1, 2) - 0.3) / 0.4
    blank = (torch.full_like(x[:1], 0.25) - 0.3) / 0.4
    linear = copy.deepcopy(module).double()
    with torch.no_grad():
        change = (linear(x) - linear(blank)).numpy().T
    # float32 gradients summed over 36 pixels
    np.testing.assert_allclose(sal.sum((ROW, COL)).values, change, rtol=1e-5, atol=1e-5)
    assert sal.attrs["units"] == "activation" and sal.attrs["method"] == "gradient_x_input"


def test_gradient_x_input_is_zero_on_the_background(embedded, stim):
    sal = saliency(
        embedded, stim.isel(stimulus=[0]), layer="fc2", unit=3, method="gradient_x_input"
    )
    off_object = stim["image"].isel(stimulus=0, channel=0).values == 0.0
    assert np.all(sal.isel(unit=0, stimulus=0).values[off_object] == 0.0)
    assert np.any(sal.values != 0.0)


def test_pre_and_post_differ_by_the_silu_derivative(embedded, stim):
    pre = saliency(embedded, stim, layer="fc1", unit=7, activation="pre")
    post = saliency(embedded, stim, layer="fc1", unit=7, activation="post")
    z = fp.probing.capture(embedded, stim, layers=["fc1"], activation="pre", progress=False)
    z = z.values[:, 7].astype(np.float64)
    sigma = 1 / (1 + np.exp(-z))
    silu_prime = sigma * (1 + z * (1 - sigma))
    expected = silu_prime[:, None, None] * pre.isel(unit=0).values
    scale = np.abs(expected).max()
    np.testing.assert_allclose(post.isel(unit=0).values, expected, atol=1e-5 * scale)
    assert pre.attrs["values"] == "pre" and post.attrs["captured"] == "act1 (post)"


def test_logits_ignore_the_activation_choice(embedded, stim):
    a = saliency(embedded, stim.isel(stimulus=[1]), layer="classifier", unit=2, activation="pre")
    b = saliency(embedded, stim.isel(stimulus=[1]), layer="classifier", unit=2, activation="post")
    np.testing.assert_array_equal(a.values, b.values)
    assert a.attrs["values"] == "no activation"


# --- finite differences ------------------------------------------------------------------------


def test_embedded_gradient_matches_float64_central_differences(embedded, stim):
    # Layer discovery traces in float32, so the saliency runs on the float32 model and the
    # reference differences on a float64 copy of it (float32 round-off would swamp them).
    one = stim.isel(stimulus=[2])
    sal = saliency(embedded, one, layer="fc2", unit=11).isel(unit=0, stimulus=0).values
    module = copy.deepcopy(embedded.module).double()

    def fc2(image: np.ndarray) -> float:
        x = (torch.from_numpy(image).permute(2, 0, 1)[None] - 0.5) / 0.5
        with torch.no_grad():
            h = module.pool(module.features(x))
            return float(module.act2(module.fc2(module.act1(module.fc1(h))))[0, 11])

    image = one["image"].values[0].astype(np.float64)
    eps = 1e-5  # truncation O(eps²) and round-off ~1e-16 / eps: both below 1e-9
    largest = np.argsort(-np.abs(sal), axis=None)[:3]
    pixels = [np.unravel_index(p, sal.shape) for p in largest] + [(5, 7)]  # + one off the object
    scale = float(np.abs(sal).max())
    for r, c in pixels:
        up, down = image.copy(), image.copy()
        up[r, c, 0] += eps
        down[r, c, 0] -= eps
        numeric = (fc2(up) - fc2(down)) / (2 * eps)
        # Tolerance: float32 forward and backward, 1e-4 of the map's largest value.
        assert sal[r, c] == pytest.approx(numeric, abs=1e-4 * scale)
    assert scale > 1e-3  # the check above is not vacuous


# --- directions --------------------------------------------------------------------------------


def test_saliency_is_linear_in_the_direction(embedded, stim):
    rng = np.random.default_rng(0)
    d1, d2 = rng.normal(size=(2, 128))
    sub = stim.isel(stimulus=[0, 3])
    both = saliency(embedded, sub, layer="fc2", direction=np.stack([d1, d2]))
    mixed = saliency(embedded, sub, layer="fc2", direction=2.0 * d1 - 0.5 * d2)
    expected = 2.0 * both.isel(unit=0) - 0.5 * both.isel(unit=1)
    scale = np.abs(expected.values).max()
    np.testing.assert_allclose(mixed.isel(unit=0).values, expected.values, atol=1e-5 * scale)
    assert both.attrs["target"] == "direction"
    np.testing.assert_array_equal(both[INDEX].values, [0, 1])


def test_a_basis_direction_is_the_unit(embedded, stim):
    sub = stim.isel(stimulus=[1])
    basis = xr.DataArray(np.eye(128)[40], dims=("weight",))
    by_direction = saliency(embedded, sub, layer="fc3", direction=basis)
    by_unit = saliency(embedded, sub, layer="fc3", unit=40)
    np.testing.assert_allclose(by_direction.values, by_unit.values, rtol=1e-6, atol=1e-12)
    assert by_unit.attrs["target"] == "unit" and by_unit[INDEX].item() == 40


def test_directions_from_the_directions_module_are_accepted(embedded, stim):
    from factorprobe.analysis.directions import directions

    acts = fp.probing.capture(embedded, stim, layers=["fc1", "fc2"], progress=False)
    w = directions(acts, 3, seed=0, layers="fc2")  # rows over all 256 captured units
    sub = stim.isel(stimulus=[2])
    labelled = saliency(embedded, sub, layer="fc2", direction=w)
    plain = w.values[:, w["source_layer"].values == "fc2"]
    expected = saliency(embedded, sub, layer="fc2", direction=plain)
    np.testing.assert_array_equal(labelled.values, expected.values)
    np.testing.assert_array_equal(labelled[INDEX].values, w[INDEX].values)
    one = saliency(embedded, sub, layer="fc2", direction=w.isel(unit=1))
    scale = np.abs(expected.values).max()
    np.testing.assert_allclose(one[0].values, expected[1].values, rtol=0, atol=1e-6 * scale)
    with pytest.raises(ValueError, match=r"holds directions of layer\(s\) 'fc2', not 'fc1'"):
        saliency(embedded, sub, layer="fc1", direction=w)
    leaky = w.drop_vars(LAYER).copy()
    leaky.values[0, 5] = 1.0  # an fc1 entry
    with pytest.raises(ValueError, match=r"nonzero weights outside layer 'fc2'"):
        saliency(embedded, sub, layer="fc2", direction=leaky)


# --- alignment and batches ---------------------------------------------------------------------


def test_result_is_aligned_with_a_reordered_subset(embedded, stim):
    full = saliency(embedded, stim, layer="fc1", unit=[3, 9], batch_size=3)
    order = [5, 0, 6]
    sub = saliency(embedded, stim.isel(stimulus=order), layer="fc1", unit=[3, 9], batch_size=2)
    assert sub.dims == (UNIT, STIMULUS, ROW, COL) and sub.name == "saliency"
    assert sub.shape == (2, 3, 224, 224)
    for name in (STIMULUS, "size", "x", "y", "shape"):
        np.testing.assert_array_equal(sub[name].values, stim[name].values[order])
    np.testing.assert_array_equal(sub[LAYER].values, ["fc1", "fc1"])
    np.testing.assert_array_equal(sub[INDEX].values, [3, 9])
    expected = full.isel(stimulus=order).values
    np.testing.assert_allclose(sub.values, expected, atol=1e-5 * np.abs(expected).max())
    assert sub.attrs["model"] == "embedded" and sub.attrs["layer"] == "fc1"
    assert sub.attrs["units"] == "activation per unit pixel intensity"
    assert all(isinstance(v, str | int | float) for v in sub.attrs.values())


def test_model_by_name_equals_the_loaded_model(embedded, stim):
    sub = stim.isel(stimulus=[0])
    by_name = saliency("embedded", sub, layer="pool", unit=0)
    np.testing.assert_array_equal(by_name.values, saliency(embedded, sub, layer="pool", unit=0))
    # A layer named explicitly is not tagged as pooled, as in capture(layers=["pool"]).
    assert by_name.attrs["values"] == "no activation"


def _effnet() -> fp.probing.ProbedModel:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return fp.probing.load_model("timm:efficientnet_b0", input_size=64)


@pytest.fixture(scope="module")
def small_stim() -> xr.Dataset:
    return fp.stimuli.render(fp.stimuli.grid(size=[16, 24], x=[32], y=[30]), canvas=64)


def test_timm_efficientnet_pooled_features_at_64_px(small_stim):
    pooled = saliency(_effnet(), small_stim, layer="global_pool", unit=[0, 1279])
    assert pooled.shape == (2, 2, 64, 64)
    assert np.isfinite(pooled.values).all() and np.abs(pooled.values).max() > 0
    np.testing.assert_array_equal(pooled["size"].values, [16, 24])


@pytest.mark.slow
def test_timm_efficientnet_logits_direction_at_64_px(small_stim):
    model = _effnet()
    assert fp.probing.fc_layers(model) == ["global_pool", "classifier"]
    logits = saliency(model, small_stim, layer="classifier", direction=np.ones(1000) / 1000**0.5)
    assert logits.shape == (1, 2, 64, 64) and logits.attrs["values"] == "no activation"
    assert np.isfinite(logits.values).all() and np.abs(logits.values).max() > 0


# --- the model is left as it was ---------------------------------------------------------------


class _Fragile(nn.Module):
    """Passes a blank input through (layer discovery) and fails on a real one."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.count_nonzero(x) > 0:
            raise RuntimeError("boom")
        return x


def _hooks(module: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules())


def test_model_is_unchanged_after_a_run():
    module = _linear(1, silu=True).train()
    module[1].bias.requires_grad_(False)
    model = _probed(module, mean=(0.0,), std=(1.0,))
    before = {k: v.clone() for k, v in module.state_dict().items()}
    saliency(model, _images(2), layer="1", unit=0)
    assert module.training and all(m.training for m in module.modules())
    assert module[1].weight.requires_grad and not module[1].bias.requires_grad
    assert all(p.grad is None for p in module.parameters())
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())
    assert _hooks(module) == 0


def test_hooks_are_removed_after_an_error():
    module = nn.Sequential(nn.Flatten(), _Fragile(), nn.Linear(SIDE * SIDE, 2)).train()
    model = _probed(module, mean=(0.0,), std=(1.0,))
    with pytest.raises(RuntimeError, match="boom"):
        saliency(model, _images(2), layer="2", unit=0)
    assert _hooks(module) == 0
    assert module.training and all(p.grad is None for p in module.parameters())


# --- errors ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny() -> fp.probing.ProbedModel:
    return _probed(_linear(1, silu=True), mean=(0.0,), std=(1.0,))


def test_unknown_layer_lists_the_valid_ones(tiny):
    with pytest.raises(ValueError, match=r"Unknown layer 'fc9' .*valid layers: '0', '1', '2'"):
        saliency(tiny, _images(1), layer="fc9", unit=0)


def test_layer_must_be_a_string(tiny):
    with pytest.raises(TypeError, match=r"'layer' parameter of saliency must be a module name"):
        saliency(tiny, _images(1), layer=["1"], unit=0)


@pytest.mark.parametrize(
    ("unit", "direction", "given"), [(0, np.ones(3), "both"), (None, None, "neither")]
)
def test_exactly_one_of_unit_and_direction(tiny, unit, direction, given):
    with pytest.raises(ValueError, match=rf"exactly one of 'unit' .* got {given}\."):
        saliency(tiny, _images(1), layer="1", unit=unit, direction=direction)


@pytest.mark.parametrize("unit", [3, -1, [0, 5]])
def test_unit_out_of_range(tiny, unit):
    with pytest.raises(ValueError, match=r"out of range for layer '1', which has 3 units; give"):
        saliency(tiny, _images(1), layer="1", unit=unit)


@pytest.mark.parametrize("unit", [1.0, "0", [], [0, 1.5], True])
def test_unit_must_be_integers(tiny, unit):
    with pytest.raises(TypeError, match=r"'unit' parameter of saliency must be an int"):
        saliency(tiny, _images(1), layer="1", unit=unit)


@pytest.mark.parametrize("direction", [np.ones(4), np.ones((2, 2)), np.ones((0, 3))])
def test_direction_of_the_wrong_shape(tiny, direction):
    with pytest.raises(ValueError, match=r"shape \(3,\) or \(n_directions, 3\) for layer '1'"):
        saliency(tiny, _images(1), layer="1", direction=direction)


def test_direction_must_be_finite_numbers(tiny):
    with pytest.raises(ValueError, match=r"'direction' parameter of saliency must be finite"):
        saliency(tiny, _images(1), layer="1", direction=[1.0, np.nan, 0.0])
    with pytest.raises(TypeError, match=r"'direction' parameter of saliency must be an array"):
        saliency(tiny, _images(1), layer="1", direction=["a", "b", "c"])


def test_canvas_must_match_the_input_size(embedded):
    small = fp.stimuli.render(fp.stimuli.grid(size=[8], x=[32], y=[32]), canvas=64)
    with pytest.raises(ValueError, match=r"Stimuli are 64x64 px but model 'embedded' takes 224"):
        saliency(embedded, small, layer="fc1", unit=0)


def test_resize_takes_the_gradient_back_to_the_stimulus_pixels(tiny):
    sal = saliency(tiny, _images(1, side=12), layer="1", unit=0, activation="pre", resize=True)
    assert sal.shape == (1, 1, 12, 12) and sal.attrs["resized"] == 1
    # Antialiased 2x downsampling spreads each model pixel's weight over the pixels it averages.
    assert sal.sum().item() == pytest.approx(tiny.module[1].weight[0].sum().item(), rel=1e-6)


@pytest.mark.parametrize(
    ("option", "value", "choices"),
    [
        ("activation", "both", "'post', 'pre'"),
        ("method", "integrated", "'gradient', 'gradient_x_input'"),
    ],
)
def test_closed_options_list_their_choices(tiny, option, value, choices):
    with pytest.raises(
        ValueError, match=rf"'{option}' parameter of saliency must be one of {choices}"
    ):
        saliency(tiny, _images(1), layer="1", unit=0, **{option: value})


def test_stimuli_must_be_a_dataset(tiny):
    with pytest.raises(TypeError, match=r"'stim' parameter of saliency must be a rendered Dataset"):
        saliency(tiny, _images(1)["image"], layer="1", unit=0)


def test_gradient_x_input_needs_a_background(tiny):
    stim = _images(1)
    stim.attrs = {}
    with pytest.raises(ValueError, match=r"needs the stimuli's background intensity"):
        saliency(tiny, stim, layer="1", unit=0, method="gradient_x_input")


def test_batch_size_is_checked(tiny):
    with pytest.raises(ValueError, match=r"'batch_size' parameter of saliency must be an int >= 1"):
        saliency(tiny, _images(1), layer="1", unit=0, batch_size=0)
