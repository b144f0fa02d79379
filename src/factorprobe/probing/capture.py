"""Capture: run stimuli through a model in batches and record its units as one DataArray."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from factorprobe._validation import check_int
from factorprobe.dims import INDEX, LAYER, STIMULUS, UNIT
from factorprobe.io.store import open_activations, open_store
from factorprobe.probing.forward import forward_batch, resolve_device, running
from factorprobe.probing.hooks import Recorder
from factorprobe.probing.layers import Activation, Target, resolve_targets
from factorprobe.probing.models import ProbedModel
from factorprobe.probing.sources import Source, stimulus_source
from factorprobe.scheduler import check_scheduler

_WHERE = "capture"
_DEVICES = ("cpu", "cuda", "mps")
# packages whose code is fixed by their versions (recorded elsewhere), not hashed per file
_LIBRARY_CODE = ("torch", "timm", "factorprobe", "torchvision")


def capture(
    model: ProbedModel,
    stimuli: xr.Dataset | Any,
    *,
    layers: Sequence[str] | None = None,
    activation: Activation = "post",
    batch_size: int = 256,
    device: str | torch.device | None = None,
    store: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    progress: bool | str | None = None,
    resize: bool = False,
    scheduler: Any = None,  # a name, an address or a distributed.Client
) -> xr.DataArray:
    """Record the units of a model's layers for every stimulus.

    Stimuli are only normalised (``(x - mean) / std``; grayscale repeated to 3 channels for an
    RGB model), never resized or cropped, which would change the sizes and positions under study.

    Parameters
    ----------
    model : ProbedModel
        From :func:`~factorprobe.probing.load_model`.
    stimuli : Dataset, FactorSpace or iterable of Datasets
        A rendered Dataset (:func:`factorprobe.stimuli.render`), a FactorSpace (rendered here
        batch by batch at the model's input size, overlapping inference), or batches from
        :func:`factorprobe.stimuli.iter_batches` (in memory only).
    layers : sequence of str or None, default=None
        Module paths to record (see ``model.module.named_modules()``); None records the pooled
        features and every fully connected layer (:func:`~factorprobe.probing.fc_layers`).
    activation : {"post", "pre"}, default="post"
        Record each layer's activation output, or the layer's own output. Layers that no
        activation follows (logits, pooled features) report their output either way.
    batch_size : int, default=256
        Stimuli per forward pass (and per chunk of a store).
    device : str or torch.device or None, default=None
        None picks cuda, then mps, then cpu. The module is moved there and put in eval mode for
        the sweep; its device and train/eval modes are restored afterwards.
    store : path-like or None, default=None
        Stream the activations to this zarr store, chunk by chunk, and return it opened lazily.
        Rerunning with the same arguments resumes it: finished chunks are not recomputed.
    overwrite : bool, default=False
        Replace a store made with a different configuration instead of refusing it.
    progress : bool, str or None, default=None
        Show a progress bar; None shows one when standard error is a terminal; a string shows
        one labelled with it (e.g. the run's name) instead of the model's name.
    resize : bool, default=False
        Resample stimuli whose canvas differs from the model's input size (bilinear,
        antialiased). This changes sizes and positions in pixels, so it is off by default and a
        mismatch is an error.
    scheduler : str, distributed.Client or None, default=None
        With ``store``: spread the unfinished stimulus chunks over dask workers, each task
        writing its own shard of the store (``"threads"``, or a ``dask.distributed`` address
        such as ``"tcp://host:8786"``; see docs/scale.md). None runs the sweep here, batch by
        batch.

    Returns
    -------
    DataArray
        ``activations`` with dims ``(stimulus, unit)``; ``layer`` and ``index`` coordinates on
        ``unit``, the factor coordinates on ``stimulus``; attrs name the model, weights,
        preprocessing, ``activation`` and, in ``captured``, which module each layer's values
        come from. Backed by dask when streamed to a store.

    Raises
    ------
    ValueError
        Unknown layers, a canvas that differs from the input size, incompatible channels, or an
        existing store made with a different configuration.
    TypeError
        A model that is not a ProbedModel, or stimuli of an unsupported type.

    Examples
    --------
    >>> import factorprobe as fp
    >>> model = fp.probing.load_model("embedded")
    >>> stim = fp.stimuli.render(fp.stimuli.grid(size=[16, 32], x=[112], y=[112]))
    >>> acts = fp.probing.capture(model, stim, progress=False)
    >>> acts.dims, sorted(set(acts.layer.values.tolist()))
    (('stimulus', 'unit'), ['classifier', 'fc1', 'fc2', 'fc3', 'pool'])
    """
    batch_size = check_int(batch_size, name="batch_size", where=_WHERE, minimum=1)
    scheduler = check_scheduler(scheduler, where=_WHERE)
    if scheduler is not None and store is None:
        raise ValueError(
            f"The 'scheduler' parameter of {_WHERE} needs a 'store' (workers write their chunks "
            "there); pass store=PATH or leave scheduler=None."
        )
    targets = resolve_targets(model, layers, activation)
    if not targets:
        raise ValueError(
            f"Model {model.name!r} has no fully connected layers at "
            f"{model.input_size[0]}x{model.input_size[1]} px; name the layers to record."
        )
    source = stimulus_source(stimuli, model, batch_size, resize)
    attrs = {
        **model.describe(),
        "activation": activation,
        "captured": json.dumps({t.layer: f"{t.module} ({t.values})" for t in targets}),
        "resized": int(resize),
        **{f"stimuli_{k}": v for k, v in source.attrs.items()},
    }
    units = _unit_coords(targets)
    torch_device = resolve_device(device)
    label = progress if isinstance(progress, str) else None
    # tqdm shows a bar with disable=None only when standard error is a terminal
    disable = None if progress is None else not progress
    if store is None:
        return _to_memory(model, targets, source, units, attrs, torch_device, disable, label)
    if source.n is None or source.coords is None or source.fingerprint is None:
        raise TypeError(
            f"A store needs stimuli of known length: a rendered Dataset or a FactorSpace; got "
            f"{type(stimuli).__name__}."
        )
    config_hash = _config_hash(model, targets, activation, resize, batch_size, source)
    template = _result(np.zeros((0, 0), np.float32), source.coords, units, attrs, lazy=source.n)
    writer = open_store(
        store, template, chunk=batch_size, config_hash=config_hash, overwrite=overwrite
    )
    done = writer.done()
    skip = {int(k) for k in np.flatnonzero(done)}
    remaining = source.n - sum(min(batch_size, source.n - k * batch_size) for k in skip)
    if remaining and scheduler is not None:
        from factorprobe.probing._distributed import capture_chunks

        todo = [k for k in range(writer.n_chunks) if k not in skip]
        capture_chunks(
            model, targets, source, todo, writer.n_chunks, store, torch_device, scheduler
        )
    elif remaining:
        with running(model, torch_device) as run, Recorder(model.module, targets) as rec:
            bar = tqdm(
                total=remaining, unit="stimulus", disable=disable, desc=label or model.name
            )
            for k, images, _ in source.batches(skip):
                writer.write(k, forward_batch(run, rec, targets, images))
                bar.update(images.shape[0])
            bar.close()
    return open_activations(store)


def _to_memory(
    model: ProbedModel,
    targets: list[Target],
    source: Source,
    units: dict[str, np.ndarray],
    attrs: dict[str, Any],
    device: torch.device,
    disable: bool | None,
    label: str | None = None,
) -> xr.DataArray:
    n_units = units[LAYER].size
    blocks: list[np.ndarray] = []
    coords: list[dict[str, np.ndarray]] = []
    with running(model, device) as run, Recorder(model.module, targets) as rec:
        bar = tqdm(
            total=source.n, unit="stimulus", disable=disable, desc=label or model.name
        )
        for _, images, batch_coords in source.batches(set()):
            blocks.append(forward_batch(run, rec, targets, images))
            coords.append(batch_coords)
            bar.update(images.shape[0])
        bar.close()
    values = np.concatenate(blocks) if blocks else np.zeros((0, n_units), np.float32)
    if source.coords is not None:
        merged = source.coords
    else:
        merged = {k: np.concatenate([c[k] for c in coords]) for k in coords[0]} if coords else {}
    return _result(values, merged, units, attrs)


def _config_hash(
    model: ProbedModel,
    targets: list[Target],
    activation: str,
    resize: bool,
    batch_size: int,
    source: Source,
) -> str:
    from factorprobe._version import __version__

    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in model.module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu").contiguous().numpy().tobytes())
    config = {
        "model": model.describe(),
        # the user's forward passes (by file name and bytes: a moved project still resumes)
        "code": sorted((os.path.basename(k), v) for k, v in model_sources(model.module).items()),
        "targets": [t.__dict__ for t in targets],
        "activation": activation,
        "resize": resize,
        "batch_size": batch_size,
        "stimuli": source.fingerprint() if source.fingerprint is not None else None,
        "factorprobe": __version__,
    }
    digest.update(json.dumps(config, sort_keys=True).encode())
    return digest.hexdigest()


def model_sources(module: torch.nn.Module) -> dict[str, str]:
    """The source files of a module's classes that are the user's, with their SHA-256.

    Every submodule's class (the module's own included) defined outside torch, timm and
    factorprobe is looked up with :func:`inspect.getsourcefile`; a class whose source cannot be
    found (built in, compiled, or defined interactively) is recorded under its name with an
    empty hash, so that its code is at least named.

    Parameters
    ----------
    module : torch.nn.Module
        The network.

    Returns
    -------
    dict
        Source path (or ``module.qualname``) -> SHA-256 of the file's bytes (or ``""``), sorted.
    """
    import inspect

    found: dict[str, str] = {}
    for cls in {type(m) for m in module.modules()}:
        if cls.__module__.split(".")[0] in _LIBRARY_CODE:
            continue
        try:
            path = inspect.getsourcefile(cls)
        except (TypeError, OSError):
            path = None
        if path is None or not os.path.isfile(path):
            found[f"{cls.__module__}.{cls.__qualname__}"] = ""
            continue
        with open(path, "rb") as f:
            found[os.path.abspath(path)] = hashlib.sha256(f.read()).hexdigest()
    return dict(sorted(found.items()))


def _unit_coords(targets: list[Target]) -> dict[str, np.ndarray]:
    return {
        LAYER: np.concatenate([np.full(t.n_units, t.layer, dtype=object) for t in targets]).astype(
            str
        ),
        INDEX: np.concatenate([np.arange(t.n_units) for t in targets]),
    }


def _result(
    values: np.ndarray,
    coords: dict[str, np.ndarray],
    units: dict[str, np.ndarray],
    attrs: dict[str, Any],
    lazy: int | None = None,
) -> xr.DataArray:
    n_units = units[LAYER].size
    if lazy is not None:
        import dask.array as da

        values = da.zeros((lazy, n_units), dtype=np.float32, chunks=(-1, -1))
    all_coords: dict[str, Any] = {UNIT: np.arange(n_units)}
    all_coords |= {name: ((UNIT,), v) for name, v in units.items()}
    all_coords |= {name: ((STIMULUS,), v) for name, v in coords.items()}
    return xr.DataArray(
        values, dims=(STIMULUS, UNIT), coords=all_coords, name="activations", attrs=attrs
    )


def layer(acts: xr.DataArray, name: str) -> xr.DataArray:
    """Select one layer's units from captured activations.

    Parameters
    ----------
    acts : DataArray
        From :func:`capture`.
    name : str
        A value of the ``layer`` coordinate.

    Returns
    -------
    DataArray
        The units of that layer, dims ``(stimulus, unit)``.

    Raises
    ------
    KeyError
        ``name`` is not one of the captured layers (the message lists them).
    """
    names = list(dict.fromkeys(np.asarray(acts[LAYER].values).tolist()))
    if name not in names:
        raise KeyError(
            f"Unknown layer {name!r} in these activations; captured layers: "
            f"{', '.join(repr(n) for n in names)}."
        )
    return acts.isel({UNIT: np.flatnonzero(acts[LAYER].values == name)})


__all__ = ["capture", "layer"]
