"""Capture: inputs, the canvas check, the output contract, stores, resume and NetCDF export."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import xarray as xr
from torch import nn

import factorprobe as fp
from factorprobe.dims import INDEX, LAYER, STIMULUS, UNIT


def _without_hash(acts: xr.DataArray) -> xr.DataArray:
    acts = acts.compute()
    acts.attrs.pop("config_hash", None)
    return acts


def test_output_contract(embedded, stim):
    acts = fp.probing.capture(embedded, stim, batch_size=7, progress=False)
    assert acts.dims == (STIMULUS, UNIT) and acts.name == "activations"
    assert acts.shape == (stim.sizes[STIMULUS], 4 * 128 + 4)
    assert acts.dtype == np.float32
    for factor in ("size", "x", "y", "shape"):
        np.testing.assert_array_equal(acts[factor].values, stim[factor].values)
    np.testing.assert_array_equal(acts[STIMULUS].values, stim[STIMULUS].values)
    layers = list(dict.fromkeys(acts[LAYER].values.tolist()))
    assert layers == ["pool", "fc1", "fc2", "fc3", "classifier"]
    np.testing.assert_array_equal(fp.probing.layer(acts, "fc2")[INDEX].values, np.arange(128))
    assert acts.groupby(LAYER).count()[LAYER].size == 5
    attrs = acts.attrs
    assert attrs["model"] == "embedded" and "sha256" in attrs["weights"]
    assert attrs["input_size"] == "224x224" and json.loads(attrs["mean"]) == [0.5]
    assert attrs["activation"] == "post" and attrs["resized"] == 0
    assert json.loads(attrs["captured"])["fc1"] == "act1 (post)"
    assert attrs["stimuli_renderer_version"] == stim.attrs["renderer_version"]
    assert all(isinstance(v, str | int | float) for v in attrs.values())


def test_batch_size_does_not_change_values(embedded, stim):
    a = fp.probing.capture(embedded, stim, batch_size=36, progress=False)
    b = fp.probing.capture(embedded, stim, batch_size=5, progress=False)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-4, atol=1e-5)


def test_the_reused_input_buffer_matches_fresh_inputs_bit_for_bit(embedded, effnet, stim):
    # capture writes each batch's normalised input into one reused buffer; a short last batch
    # and later batches must not see stale values, and the values equal a fresh preparation.
    from factorprobe.probing.forward import prepared, running

    images = stim.image.values
    for model, pixels in [(embedded, images), (effnet, images[:, :64, :64])]:
        for fmt_pixels in (pixels, np.repeat(pixels, model.in_chans, axis=3)):
            with running(model, torch.device("cpu")) as run:
                for start, stop in [(0, 7), (7, 10), (10, 17)]:
                    fresh = prepared(run, fmt_pixels[start:stop])
                    reused = prepared(run, fmt_pixels[start:stop], reuse=True)
                    assert reused.stride() == fresh.stride()
                    torch.testing.assert_close(reused, fresh, rtol=0, atol=0)
    acts = fp.probing.capture(embedded, stim, batch_size=5, progress=False)
    with torch.inference_mode(), running(embedded, torch.device("cpu")) as run:
        logits = [embedded.module(prepared(run, images[i : i + 5])) for i in range(0, 36, 5)]
    expected = torch.cat(logits).numpy()
    np.testing.assert_array_equal(fp.probing.layer(acts, "classifier").values, expected)


def test_lazy_stimuli_are_read_a_batch_at_a_time_with_the_same_values(embedded, stim):
    lazy = stim.chunk({STIMULUS: 10})
    assert not isinstance(lazy.image.data, np.ndarray)
    a = fp.probing.capture(embedded, stim, batch_size=8, progress=False)
    b = fp.probing.capture(embedded, lazy, batch_size=8, progress=False)
    np.testing.assert_array_equal(a.values, b.values)


def test_space_dataset_and_batches_give_the_same_result(embedded, grid_space, stim):
    from_stim = fp.probing.capture(embedded, stim, batch_size=8, progress=False)
    from_space = fp.probing.capture(embedded, grid_space, batch_size=8, progress=False)
    batches = fp.stimuli.iter_batches(grid_space, batch_size=8, canvas=224)
    from_batches = fp.probing.capture(embedded, batches, batch_size=8, progress=False)
    np.testing.assert_array_equal(from_space.values, from_stim.values)
    np.testing.assert_array_equal(from_batches.values, from_stim.values)
    np.testing.assert_array_equal(from_space["shape"].values, stim["shape"].values)
    np.testing.assert_array_equal(from_batches[STIMULUS].values, stim[STIMULUS].values)


def test_canvas_must_match_the_input_size(embedded, small_stim):
    with pytest.raises(ValueError, match=r"Stimuli are 64x64 px but model 'embedded' takes "
                       r"224x224 px; render them at canvas=224, or pass resize=True"):  # fmt: skip
        fp.probing.capture(embedded, small_stim, progress=False)
    acts = fp.probing.capture(embedded, small_stim, resize=True, progress=False)
    assert acts.attrs["resized"] == 1 and acts.sizes[STIMULUS] == small_stim.sizes[STIMULUS]


def test_grayscale_feeds_rgb_models_and_rgb_cannot_feed_grayscale(effnet, embedded, small_stim):
    gray = fp.probing.capture(effnet, small_stim, progress=False)
    pixels = np.repeat(small_stim.image.values, 3, axis=3)
    rgb_stim = xr.Dataset(
        {"image": (small_stim.image.dims, pixels)}, coords=dict(small_stim.coords.items())
    )
    rgb = fp.probing.capture(effnet, rgb_stim, progress=False)
    np.testing.assert_allclose(gray.values, rgb.values, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"have 3 channel.* takes 1; render with mode='L'"):
        fp.probing.capture(embedded, rgb_stim, resize=True, progress=False)


def test_bad_inputs_are_errors(embedded, stim):
    with pytest.raises(TypeError, match="must be a rendered Dataset, a FactorSpace or an "):
        fp.probing.capture(embedded, np.zeros((2, 224, 224, 1)), progress=False)
    with pytest.raises(TypeError, match="needs a ProbedModel from load_model; got SwishCNN"):
        fp.probing.capture(embedded.module, stim, progress=False)
    with pytest.raises(ValueError, match=r"need an 'image' variable with dims"):
        fp.probing.capture(embedded, stim.rename(image="pixels"), progress=False)
    with pytest.raises(ValueError, match=r"'device' parameter of capture must be one of 'cpu'"):
        fp.probing.capture(embedded, stim, device="abacus", progress=False)
    with pytest.raises(ValueError, match=r"'batch_size' parameter of capture must be an int >= 1"):
        fp.probing.capture(embedded, stim, batch_size=0, progress=False)
    with pytest.raises(TypeError, match=r"Batches given to capture must be Datasets"):
        fp.probing.capture(embedded, [stim, "x"], progress=False)
    with pytest.raises(KeyError, match=r"Unknown layer 'fc7' .* captured layers: 'pool'"):
        fp.probing.layer(fp.probing.capture(embedded, stim.isel(stimulus=[0]), progress=False),
                         "fc7")  # fmt: skip


def test_hooks_do_not_change_outputs(embedded, stim):
    from factorprobe.probing.hooks import Recorder
    from factorprobe.probing.layers import resolve_targets

    x = torch.randn(3, 1, 224, 224)
    net = embedded.module
    with torch.no_grad():
        plain = net(x)
        with Recorder(net, resolve_targets(embedded, None, "post")) as rec:
            hooked = net(x)
            recorded = rec.pop()
    torch.testing.assert_close(hooked, plain, rtol=0, atol=0)
    torch.testing.assert_close(recorded["classifier"], plain, rtol=0, atol=0)


class _FailsOnSecondBatch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(224 * 224, 3)
        self.act = nn.SiLU()
        self.batches = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > 1:  # discovery runs one zero image; sweeps run batches
            self.batches += 1
            if self.batches == 2:
                raise RuntimeError("out of memory (simulated)")
        return self.act(self.fc(x.flatten(1)))


def test_hooks_are_removed_and_modes_restored_on_error(stim):
    net = _FailsOnSecondBatch().train()
    model = fp.probing.load_model(net, input_size=224, mean=(0.0,), std=(1.0,))
    with pytest.raises(RuntimeError, match="simulated"):
        fp.probing.capture(model, stim, batch_size=4, progress=False)
    for module in net.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks
    assert net.training and net.fc.training


def test_capture_leaves_the_user_module_as_it_was(stim):
    net = nn.Sequential(nn.Flatten(), nn.Linear(224 * 224, 4), nn.Dropout(0.5), nn.SiLU()).train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    model = fp.probing.load_model(net, input_size=224, mean=(0.0,), std=(1.0,))
    a = fp.probing.capture(model, stim, device="cpu", progress=False)
    b = fp.probing.capture(model, stim, device="cpu", progress=False)
    np.testing.assert_array_equal(a.values, b.values)  # eval mode: dropout off
    assert all(m.training for m in net.modules())
    for key, value in net.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)


def test_store_round_trip_and_rerun_without_recompute(tmp_path, embedded, stim):
    memory = fp.probing.capture(embedded, stim, batch_size=8, progress=False)
    path = tmp_path / "acts.zarr"
    stored = fp.probing.capture(embedded, stim, batch_size=8, store=path, progress=False)
    assert stored.chunks is not None  # lazy, dask-backed
    assert len(stored.attrs["config_hash"]) == 32
    xr.testing.assert_identical(_without_hash(stored), memory)
    calls = []
    handle = embedded.module.register_forward_pre_hook(lambda m, a: calls.append(a[0].shape[0]))
    try:
        again = fp.probing.capture(embedded, stim, batch_size=8, store=path, progress=False)
    finally:
        handle.remove()
    assert calls == []  # no chunk was recomputed (and layer discovery is cached)
    xr.testing.assert_identical(_without_hash(again), memory)


def test_store_made_with_another_configuration_is_refused(tmp_path, embedded, stim):
    path = tmp_path / "acts.zarr"
    fp.probing.capture(embedded, stim, batch_size=8, store=path, progress=False)
    with pytest.raises(ValueError, match=r"holds a store made with a different configuration "
                       r".*pass overwrite=True"):  # fmt: skip
        fp.probing.capture(embedded, stim, layers=["fc1"], batch_size=8, store=path)
    with pytest.raises(ValueError, match="different configuration"):
        fp.probing.capture(embedded, stim.isel(stimulus=slice(0, 9)), batch_size=8, store=path)
    replaced = fp.probing.capture(
        embedded, stim, layers=["fc1"], batch_size=8, store=path, overwrite=True, progress=False
    )
    assert set(replaced[LAYER].values.tolist()) == {"fc1"}
    other = tmp_path / "not-a-store"
    other.mkdir()
    with pytest.raises(ValueError, match="is not a factorprobe activations store"):
        fp.probing.capture(embedded, stim, store=other)


def test_store_needs_stimuli_of_known_length(tmp_path, embedded, grid_space):
    batches = fp.stimuli.iter_batches(grid_space, batch_size=8, canvas=224)
    with pytest.raises(TypeError, match="A store needs stimuli of known length"):
        fp.probing.capture(embedded, batches, store=tmp_path / "s.zarr")


_KILLED_SWEEP = textwrap.dedent(
    """
    import os, signal, sys
    import factorprobe as fp

    model = fp.probing.load_model("embedded")
    space = fp.stimuli.grid(size=[16, 32], x=[60, 112, 164], y=[60, 164], shape=["disc", "cross"])
    batches = []

    def die_on_third_batch(module, args):
        if args[0].shape[0] > 1:
            batches.append(1)
            if len(batches) == 3:
                os.kill(os.getpid(), signal.SIGKILL)

    model.module.register_forward_pre_hook(die_on_third_batch)
    fp.probing.capture(model, space, batch_size=5, store=sys.argv[1], progress=False)
    """
)


def test_resume_after_a_sweep_killed_mid_way(tmp_path, embedded):
    path = tmp_path / "acts.zarr"
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_SWEEP, str(path)], capture_output=True, timeout=300
    )
    assert proc.returncode == -9, proc.stderr.decode()
    with pytest.raises(ValueError, match=r"is incomplete \(2 of 5 chunks written\); rerun"):
        fp.probing.open_activations(path)
    space = fp.stimuli.grid(size=[16, 32], x=[60, 112, 164], y=[60, 164], shape=["disc", "cross"])
    batches = []
    handle = embedded.module.register_forward_pre_hook(
        lambda m, a: batches.append(a[0].shape[0]) if a[0].shape[0] > 1 else None
    )
    try:
        resumed = fp.probing.capture(embedded, space, batch_size=5, store=path, progress=False)
    finally:
        handle.remove()
    assert batches == [5, 5, 4]  # chunks 2, 3 and 4 only
    uninterrupted = fp.probing.capture(embedded, space, batch_size=5, progress=False)
    xr.testing.assert_identical(_without_hash(resumed), uninterrupted)


def test_open_activations_rechunks_along_units(tmp_path, effnet, small_stim):
    path = tmp_path / "acts.zarr"
    fp.probing.capture(effnet, small_stim, batch_size=3, store=path, progress=False)
    acts = fp.probing.open_activations(path, unit_chunk=1000)
    assert acts.chunks == ((8,), (1000, 1000, 280))
    stored = fp.probing.open_activations(path, unit_chunk=None)
    assert stored.chunks == ((3, 3, 2), (2280,))
    with pytest.raises(ValueError, match="is not a factorprobe activations store"):
        fp.probing.open_activations(tmp_path)


def test_netcdf_export_round_trip(tmp_path, embedded, stim):
    acts = fp.probing.capture(embedded, stim, progress=False)
    path = fp.probing.to_netcdf(acts, tmp_path / "acts.nc")
    with xr.open_dataarray(path, engine="h5netcdf") as loaded:
        xr.testing.assert_identical(loaded.load(), acts)


def test_identity_normalisation_feeds_the_images_unchanged(embedded, stim):
    # mean 0 and std 1 skip the normalisation pass; the values equal a manual forward pass
    net = embedded.module
    model = fp.probing.load_model(net, input_size=224, mean=[0.0], std=[1.0])
    acts = fp.probing.capture(model, stim, batch_size=10, progress=False)
    x = torch.from_numpy(stim.image.values).permute(0, 3, 1, 2)
    with torch.inference_mode():
        logits = torch.cat([net(x[i : i + 10]) for i in range(0, 36, 10)])
    np.testing.assert_allclose(
        fp.probing.layer(acts, "classifier").values, logits.numpy(), rtol=1e-5, atol=1e-5
    )
    assert json.loads(acts.attrs["mean"]) == [0.0] and json.loads(acts.attrs["std"]) == [1.0]
    from factorprobe.probing.forward import prepared, running

    images = np.ascontiguousarray(stim.image.values[:4])
    with running(model, torch.device("cpu")) as run:
        assert prepared(run, images, reuse=True).data_ptr() == images.ctypes.data  # no copy


def test_progress_bar_takes_a_label_such_as_the_runs_name(capsys):
    model = fp.probing.load_model("embedded")
    space = fp.stimuli.grid(size=[16.0, 32.0], x=[100.0, 120.0], y=[112.0], shape="disc")
    fp.probing.capture(model, space, progress="sweep-a: capture")
    assert "sweep-a: capture" in capsys.readouterr().err
    fp.probing.capture(model, space, progress=False)
    assert capsys.readouterr().err == ""
