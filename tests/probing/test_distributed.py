"""Capture spread over dask workers: a LocalCluster writes the same store as the serial sweep."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import factorprobe as fp

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    # threads in this process: starts in about a second and needs no pickling of the model
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as local:
        yield local


def _without_hash(acts: xr.DataArray) -> xr.DataArray:
    out = acts.load().copy()
    out.attrs = {k: v for k, v in out.attrs.items() if k != "config_hash"}
    return out


def test_capture_over_a_cluster_equals_the_in_memory_sweep(tmp_path, effnet, small_stim, cluster):
    memory = fp.probing.capture(effnet, small_stim, batch_size=3, progress=False)
    path = tmp_path / "acts.zarr"
    stored = fp.probing.capture(
        effnet,
        small_stim,
        batch_size=3,
        store=path,
        scheduler=cluster.scheduler_address,
        progress=False,
    )
    xr.testing.assert_identical(_without_hash(stored), memory)
    assert fp.io.store.ActivationStore(path).done().all()


def test_capture_over_a_cluster_resumes_only_unfinished_chunks(
    tmp_path, effnet, small_stim, cluster
):
    path = tmp_path / "acts.zarr"
    first = fp.probing.capture(effnet, small_stim, batch_size=3, store=path, progress=False)
    writer = fp.io.store.ActivationStore(path)
    # forget chunk 1 and scribble over it: only that chunk may be recomputed
    writer._done[1] = False
    writer._values[3:6, :] = np.float32(-7.0)
    again = fp.probing.capture(
        effnet,
        small_stim,
        batch_size=3,
        store=path,
        scheduler=cluster.scheduler_address,
        progress=False,
    )
    xr.testing.assert_identical(_without_hash(again), _without_hash(first))


def test_store_shards_hold_one_batch_and_every_unit(tmp_path, effnet, small_stim):
    import zarr

    path = tmp_path / "acts.zarr"
    fp.probing.capture(effnet, small_stim, batch_size=3, store=path, progress=False)
    array = zarr.open_group(str(path), mode="r")["activations"]
    n_units = array.shape[1]
    assert array.chunks == (3, min(64, n_units))
    assert array.shards[0] == 3 and array.shards[1] >= n_units
    acts = fp.probing.open_activations(path, unit_chunk="auto")
    assert acts.chunks[0] == (small_stim.sizes["stimulus"],)


def test_scheduler_errors(tmp_path, effnet, small_stim, monkeypatch):
    monkeypatch.setattr("factorprobe.scheduler.CONNECT_TIMEOUT", "1s")
    with pytest.raises(ValueError, match=r"'scheduler' parameter of capture needs a 'store'"):
        fp.probing.capture(effnet, small_stim, scheduler="threads", progress=False)
    with pytest.raises(ValueError, match=r"'scheduler' parameter of capture must be one of"):
        fp.probing.capture(
            effnet, small_stim, scheduler="cluster9", store=tmp_path / "a.zarr", progress=False
        )
    with pytest.raises(OSError, match=r"Cannot reach the dask scheduler at 'tcp://127.0.0.1:9'"):
        fp.probing.capture(
            effnet,
            small_stim,
            scheduler="tcp://127.0.0.1:9",
            store=tmp_path / "b.zarr",
            progress=False,
        )
