"""Capture: run stimuli through a model in batches and record its units as one DataArray."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import xarray as xr
from tqdm.auto import tqdm

from factorprobe._validation import check_int
from factorprobe.cluster import check_scheduler
from factorprobe.dims import INDEX, LAYER, STIMULUS, UNIT
from factorprobe.probing._sources import _Source, _source
from factorprobe.probing.hooks import Recorder
from factorprobe.probing.layers import Activation, Target, _eval_mode, resolve_targets
from factorprobe.probing.models import ProbedModel
from factorprobe.probing.store import open_activations, open_store

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
    scheduler: str | None = None,
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
    source = _source(stimuli, model, batch_size, resize)
    attrs = {
        **model.describe(),
        "activation": activation,
        "captured": json.dumps({t.layer: f"{t.module} ({t.values})" for t in targets}),
        "resized": int(resize),
        **{f"stimuli_{k}": v for k, v in source.attrs.items()},
    }
    units = _unit_coords(targets)
    torch_device = _device(device)
    label = progress if isinstance(progress, str) else None
    show = bool(progress) if progress is not None else sys.stderr.isatty()
    if store is None:
        return _to_memory(model, targets, source, units, attrs, torch_device, show, label)
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
        with _running(model, torch_device) as run, Recorder(model.module, targets) as rec:
            bar = tqdm(
                total=remaining, unit="stimulus", disable=not show, desc=label or model.name
            )
            for k, images, _ in source.batches(skip):
                writer.write(k, _forward(run, rec, targets, images))
                bar.update(images.shape[0])
            bar.close()
    return open_activations(store)


def _to_memory(
    model: ProbedModel,
    targets: list[Target],
    source: _Source,
    units: dict[str, np.ndarray],
    attrs: dict[str, Any],
    device: torch.device,
    show: bool,
    label: str | None = None,
) -> xr.DataArray:
    n_units = units[LAYER].size
    blocks: list[np.ndarray] = []
    coords: list[dict[str, np.ndarray]] = []
    with _running(model, device) as run, Recorder(model.module, targets) as rec:
        bar = tqdm(
            total=source.n, unit="stimulus", disable=not show, desc=label or model.name
        )
        for _, images, batch_coords in source.batches(set()):
            blocks.append(_forward(run, rec, targets, images))
            coords.append(batch_coords)
            bar.update(images.shape[0])
        bar.close()
    values = np.concatenate(blocks) if blocks else np.zeros((0, n_units), np.float32)
    if source.coords is not None:
        merged = source.coords
    else:
        merged = {k: np.concatenate([c[k] for c in coords]) for k in coords[0]} if coords else {}
    return _result(values, merged, units, attrs)


@dataclass
class _Run:
    model: ProbedModel
    device: torch.device
    shift: torch.Tensor  # -mean / std
    scale: torch.Tensor  # 1 / std
    alpha: float | None  # 1 / std when all channels share mean and std, else None
    identity: bool  # mean 0 and std 1 in every channel
    buffer: torch.Tensor | None = None  # capture's reused input batch (see _prepared)


@contextmanager
def _running(model: ProbedModel, device: torch.device) -> Iterator[_Run]:
    """Eval mode and ``device`` for the sweep; each submodule's mode and the device restored."""
    module = model.module
    tensor = next(module.parameters(), None)
    if tensor is None:
        tensor = next(module.buffers(), None)
    home = tensor.device if tensor is not None else device
    shape = (1, model.in_chans, 1, 1)
    mean = torch.tensor(model.mean, dtype=torch.float64).reshape(shape)
    std = torch.tensor(model.std, dtype=torch.float64).reshape(shape)
    shift = (-mean / std).to(device, torch.float32)
    scale = (1 / std).to(torch.float32)
    shared = bool((std == std.flatten()[0]).all() and (mean == mean.flatten()[0]).all())
    alpha = float(scale.flatten()[0]) if shared else None
    identity = bool((mean == 0).all() and (std == 1).all())
    scale = scale.to(device)
    try:
        with _eval_mode(module):
            module.to(device)
            with torch.inference_mode():
                yield _Run(model, device, shift, scale, alpha, identity)
    finally:
        if home != device:
            module.to(home)


def _forward(run: _Run, rec: Recorder, targets: list[Target], images: np.ndarray) -> np.ndarray:
    """One batch: images ``(batch, row, col, channel)`` in [0, 1] -> ``(batch, units)``."""
    run.model.module(_prepared(run, images, reuse=True))
    recorded = rec.pop()
    return torch.cat([recorded[t.layer] for t in targets], dim=1).numpy()


def _prepared(run: _Run, images: np.ndarray, *, reuse: bool = False) -> torch.Tensor:
    """A batch of images ``(batch, row, col, channel)`` as the model's input tensor.

    ``reuse`` writes it into one buffer kept on ``run`` and overwritten by the next batch (no
    fresh allocation, and no page faults, per batch); only for a caller that keeps nothing of
    the input, as capture, whose hooks copy what they record.
    """
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).to(run.device)
    return _as_input(run, x, reuse=reuse)


def _as_input(run: _Run, x: torch.Tensor, *, reuse: bool = False) -> torch.Tensor:
    """Images ``(batch, row, col, channel)`` in [0, 1] to the model's normalised input.

    The one place inputs are prepared, for capture, saliency (whose ``x`` carries a gradient)
    and ablation alike, so that all three see the same numbers (bit for bit, whether or not
    the result goes into ``run``'s reused buffer).
    """
    model = run.model
    x = x.permute(0, 3, 1, 2)  # a channels_last view: no copy
    if x.shape[1] == 1 and model.in_chans == 3:
        x = x.expand(-1, 3, -1, -1)
    if tuple(x.shape[2:]) != model.input_size:
        x = F.interpolate(x, size=model.input_size, mode="bilinear", antialias=True)
    fmt = torch.channels_last if model.channels_last else torch.contiguous_format
    if run.identity:  # mean 0 and std 1: nothing to compute, and no pass over the input
        return x.contiguous(memory_format=fmt)
    # (x - mean) / std in one pass as shift + scale * x; with reuse, straight into the buffer
    # (whose memory format is the model's). With one mean and std for all channels, a scalar
    # scale makes that pass about twice as fast as addcmul's broadcast (same numbers).
    out = _buffer(run, x, fmt) if reuse else None
    shift = run.shift.to(x.dtype)
    if run.alpha is not None:
        x = torch.add(shift.flatten()[0], x, alpha=run.alpha, out=out)
    else:
        x = torch.addcmul(shift, x, run.scale.to(x.dtype), out=out)
    return x if reuse else x.contiguous(memory_format=fmt)


def _buffer(run: _Run, x: torch.Tensor, fmt: torch.memory_format) -> torch.Tensor:
    """``run``'s input buffer, as a view the shape of ``x`` (grown when a batch is larger)."""
    buf = run.buffer
    if (
        buf is None
        or buf.shape[0] < x.shape[0]
        or buf.shape[1:] != x.shape[1:]
        or buf.dtype != x.dtype
        or buf.device != x.device
    ):
        buf = torch.empty(x.shape, dtype=x.dtype, device=x.device, memory_format=fmt)
        run.buffer = buf
    return buf[: x.shape[0]]


def _config_hash(
    model: ProbedModel,
    targets: list[Target],
    activation: str,
    resize: bool,
    batch_size: int,
    source: _Source,
) -> str:
    from factorprobe import __version__

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


def _device(device: str | torch.device | None) -> torch.device:
    if device is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"The 'device' parameter of {_WHERE} must be one of {', '.join(map(repr, _DEVICES))} "
            f"(optionally with an index, 'cuda:1') or None; got {device!r}."
        ) from err
    return chosen


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
