"""Capture spread over dask workers: one task per unfinished stimulus chunk of a store.

Each task renders (or slices) its batch of stimuli, runs it through its own copy of the model
and writes one whole shard of the store, then sets that chunk's ``done`` flag. Shards are
aligned with the batches, so tasks never write the same file, and a rerun skips finished chunks
exactly as the serial sweep does. The scheduler is dask's (threads locally, or a
``dask.distributed`` cluster by address, :mod:`factorprobe.scheduler`); nothing here schedules.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import dask

from factorprobe.io.store import ActivationStore
from factorprobe.scheduler import compute


def capture_chunks(
    model: Any,
    targets: list,
    source: Any,
    todo: list[int],
    n_chunks: int,
    path: str | os.PathLike[str],
    device: Any,
    scheduler: object,
) -> None:
    """Compute and write chunks ``todo`` of the store at ``path`` on ``scheduler``."""
    if not todo:
        return
    import torch

    # Workers may start with another intra-op thread count (dask's launcher sets
    # OMP_NUM_THREADS=1), and the thread count changes float32 summation order in the
    # convolutions; the caller's count keeps the shards identical to a serial capture.
    threads = torch.get_num_threads()
    # shipped once per worker, not once per task
    shared_model = dask.delayed(model, pure=True)
    shared_source = dask.delayed(source, pure=True)
    tasks = [
        dask.delayed(_capture_chunk, pure=False)(
            shared_model, targets, shared_source, k, n_chunks, str(path), str(device), threads
        )
        for k in todo
    ]
    compute(*tasks, scheduler=scheduler)


def _capture_chunk(
    model: Any,
    targets: list,
    source: Any,
    k: int,
    n_chunks: int,
    path: str,
    device: str,
    threads: int,
) -> int:
    import torch

    from factorprobe.probing.forward import forward_batch, running
    from factorprobe.probing.hooks import Recorder

    # tasks running as threads of one worker must not hook the same module
    local = copy.deepcopy(model)
    _, images, _ = next(iter(source.batches(set(range(n_chunks)) - {k})))
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with running(local, torch.device(device)) as run, Recorder(local.module, targets) as rec:
            values = forward_batch(run, rec, targets, images)
    finally:
        torch.set_num_threads(previous)
    ActivationStore(Path(path)).write(k, values)
    return k
