"""Running a model: its device, its input preparation, and where its forward pass splits.

The one place inputs are prepared, for capture, saliency and ablation alike, so that all three
see the same numbers. :func:`running` puts a model in eval mode on a device for a sweep and
restores it afterwards; :func:`as_input` turns images ``(batch, row, col, channel)`` in [0, 1]
into the model's normalised input; :func:`forward_plan` says where the forward pass splits into
a prefix run once per stimulus and a suffix rerun per intervention (the embedded network and
timm models split at ``forward_features`` / ``forward_head``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from factorprobe.probing.hooks import Recorder
from factorprobe.probing.layers import Target, _eval_mode
from factorprobe.probing.models import ProbedModel

__all__ = [
    "ForwardPlan",
    "Run",
    "as_input",
    "forward_batch",
    "forward_plan",
    "prepared",
    "resolve_device",
    "running",
]

_DEVICES = ("cpu", "cuda", "mps")

Forward = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Run:
    """A model prepared for a sweep: its device and input normalisation (see :func:`running`)."""

    model: ProbedModel
    device: torch.device
    shift: torch.Tensor  # -mean / std
    scale: torch.Tensor  # 1 / std
    alpha: float | None  # 1 / std when all channels share mean and std, else None
    identity: bool  # mean 0 and std 1 in every channel
    buffer: torch.Tensor | None = None  # capture's reused input batch (see _prepared)


@contextmanager
def running(model: ProbedModel, device: torch.device) -> Iterator[Run]:
    """Eval mode and ``device`` for the sweep; each submodule's mode and the device restored."""
    module = model.module
    tensor: torch.Tensor | None = next(module.parameters(), None)
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
                yield Run(model, device, shift, scale, alpha, identity)
    finally:
        if home != device:
            module.to(home)


def forward_batch(run: Run, rec: Recorder, targets: list[Target], images: np.ndarray) -> np.ndarray:
    """One batch: images ``(batch, row, col, channel)`` in [0, 1] -> ``(batch, units)``."""
    run.model.module(prepared(run, images, reuse=True))
    recorded = rec.pop()
    return torch.cat([recorded[t.layer] for t in targets], dim=1).numpy()


def prepared(run: Run, images: np.ndarray, *, reuse: bool = False) -> torch.Tensor:
    """A batch of images ``(batch, row, col, channel)`` as the model's input tensor.

    ``reuse`` writes it into one buffer kept on ``run`` and overwritten by the next batch (no
    fresh allocation, and no page faults, per batch); only for a caller that keeps nothing of
    the input, as capture, whose hooks copy what they record.
    """
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).to(run.device)
    return as_input(run, x, reuse=reuse)


def as_input(run: Run, x: torch.Tensor, *, reuse: bool = False) -> torch.Tensor:
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


def _buffer(run: Run, x: torch.Tensor, fmt: torch.memory_format) -> torch.Tensor:
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


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The torch device to run on: ``None`` picks CUDA, then MPS, then the CPU.

    Raises
    ------
    ValueError
        ``device`` names no torch device.
    """
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
            f"The 'device' parameter of capture must be one of {', '.join(map(repr, _DEVICES))} "
            f"(optionally with an index, 'cuda:1') or None; got {device!r}."
        ) from err
    return chosen


@dataclass(frozen=True)
class ForwardPlan:
    """How an ablation step runs: ``suffix(prefix(x))``, or the whole module when no split."""

    description: str
    prefix: Forward | None
    suffix: Forward | None

    @property
    def split(self) -> bool:
        return self.prefix is not None


def forward_plan(model: ProbedModel, modules: Sequence[str], *, allow_split: bool) -> ForwardPlan:
    """The split of ``model`` whose suffix may hold ``modules`` (checked later), or a full pass.

    Parameters
    ----------
    model : ProbedModel
        The model.
    modules : sequence of str
        Module paths that the suffix must contain (the caller checks that the split reproduces
        the full pass before it relies on it).
    allow_split : bool
        False always gives full forward passes.

    Returns
    -------
    ForwardPlan
        ``forward_features`` then ``forward_head`` for the embedded network and timm models;
        the leading children of an ``nn.Sequential`` then the rest; else full passes.
    """
    net = model.module
    full = ForwardPlan("full forward passes", None, None)
    if not allow_split:
        return full
    from factorprobe.probing.embedded.network import SwishCNN

    if isinstance(net, SwishCNN):
        head = "pool" if net.config.head == "pool" else "flatten"
        return ForwardPlan(f"features once, then {head}, FC layers and classifier",
                           net.forward_features, net.forward_head)  # fmt: skip
    if type(net).__module__.startswith("timm."):
        features, rest = getattr(net, "forward_features", None), getattr(net, "forward_head", None)
        if callable(features) and callable(rest):
            return ForwardPlan("forward_features once, then forward_head", features, rest)
    if isinstance(net, nn.Sequential):
        names = [name for name, _ in net.named_children()]
        first = min(
            (i for i, child in enumerate(names) for m in modules if _inside(m, child)),
            default=0,
        )
        if first > 0:
            return ForwardPlan(
                f"children {names[0]}..{names[first - 1]} once, then the rest",
                net[:first],
                net[first:],
            )
    return full


def _inside(module: str, child: str) -> bool:
    return module == child or module.startswith(child + ".")
