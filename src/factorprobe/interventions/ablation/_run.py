"""Forward passes of cumulative ablation: the intact network once, then one pass per ablation set.

The stage input (the prefix's output on a split plan, the normalised images otherwise) is kept
on the device for every stimulus, so each step costs only the suffix (or a full pass).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from tqdm.auto import tqdm

from factorprobe.probing.forward import ForwardPlan, prepared, running
from factorprobe.probing.hooks import UnitHooks
from factorprobe.probing.layers import Target
from factorprobe.probing.models import ProbedModel
from factorprobe.probing.sources import Source

__all__ = ["Outputs", "run_steps"]

_RTOL = 1e-4


@dataclass(frozen=True)
class Outputs:
    """The network's outputs ``(S, classes)`` and the read-out layer ``(S, units)`` for a step."""

    logits: np.ndarray
    readout: np.ndarray


def run_steps(
    model: ProbedModel,
    source: Source,
    plan: ForwardPlan,
    ablate: Target,
    readout: Target | None,
    steps: Sequence[np.ndarray],
    values: np.ndarray | None,
    *,
    device: torch.device,
    show: bool,
) -> tuple[ForwardPlan, np.ndarray, Generator[Outputs, None, None]]:
    """Run the intact network, then yield the outputs of each ablation set in ``steps``.

    Parameters
    ----------
    steps
        Unit indices to ablate at each step (an empty array: the intact network, returned as
        is without a pass).
    values
        The value each unit is set to (``None``: the mean of the layer over the stimuli,
        computed from the intact pass).

    Returns
    -------
    plan, layer values ``(S, units)`` of the intact network, and a generator of step outputs.
    The generator holds the device and the hooks until it is exhausted or closed.
    """
    record = [ablate] if readout is None else [ablate, readout]
    with running(model, device) as run, UnitHooks(model.module, [ablate], record) as hooks:
        cached: list[torch.Tensor] = []
        intact: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for _, images, _ in source.batches(set()):
            x = prepared(run, images)
            hooks.reset()
            full = model.module(x)
            full_rec = hooks.pop()
            # a plan has both a prefix and a suffix (plan.split) or neither
            prefix, suffix = plan.prefix, plan.suffix
            if prefix is not None and suffix is not None:
                h = prefix(x)
                hooks.reset()
                hooks.seen.clear()
                out = suffix(h)
                rec = hooks.pop()
                problem = _split_problem(full, full_rec, out, rec, hooks.seen, record)
                if problem is None:
                    cached.append(h)
                    intact.append(_arrays(out, rec, ablate, readout))
                    continue
                described = f"full forward passes (split not used: {problem})"
                plan = replace(plan, prefix=None, suffix=None, description=described)
                cached = [prepared(run, im) for _, im, _ in _before(source, len(intact))]
                hooks.reset()
                full = model.module(x)
                full_rec = hooks.pop()
            cached.append(x)
            intact.append(_arrays(full, full_rec, ablate, readout))
    layer_values = np.concatenate([a[2] for a in intact])
    base = Outputs(np.concatenate([a[0] for a in intact]), np.concatenate([a[1] for a in intact]))
    fill = layer_values.mean(axis=0) if values is None else values

    def generate() -> Generator[Outputs, None, None]:
        forward = plan.suffix if plan.suffix is not None else model.module  # plan.split
        with running(model, device), UnitHooks(model.module, [ablate], record) as hooks:
            for index in tqdm(steps, desc="ablation steps", disable=not show):
                if len(index) == 0:
                    yield base
                    continue
                hooks.set_units(ablate.layer, index, fill[index])
                logits, read = [], []
                for c in cached:
                    hooks.reset()
                    out = forward(c)
                    arrays = _arrays(out, hooks.pop(), ablate, readout)
                    logits.append(arrays[0])
                    read.append(arrays[1])
                yield Outputs(np.concatenate(logits), np.concatenate(read))

    return plan, layer_values, generate()


def _before(source: Source, n_batches: int) -> Iterator[tuple[int, np.ndarray, object]]:
    for k, item in enumerate(source.batches(set())):
        if k >= n_batches:
            return
        yield item


def _arrays(
    out: torch.Tensor, rec: dict[str, torch.Tensor], ablate: Target, readout: Target | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not isinstance(out, torch.Tensor):
        raise TypeError(
            f"cumulative_ablation needs a model that returns one tensor of outputs per stimulus; "
            f"got {type(out).__name__}."
        )
    logits = out.detach().reshape(out.shape[0], -1).to("cpu", torch.float32).numpy()
    read = logits if readout is None else rec[readout.layer].numpy()
    return logits, read, rec[ablate.layer].numpy()


def _split_problem(
    full: object,
    full_rec: dict[str, torch.Tensor],
    out: object,
    rec: dict[str, torch.Tensor],
    seen: set[str],
    record: list[Target],
) -> str | None:
    """Why the split cannot stand in for the full pass (None when it can)."""
    missing = [t.layer for t in record if t.layer not in seen]
    if missing:
        return f"{', '.join(missing)} run before the split"
    if not isinstance(full, torch.Tensor) or not isinstance(out, torch.Tensor):
        return "the model does not return a tensor"
    pairs = [(full, out)] + [(full_rec[t.layer], rec[t.layer]) for t in record]
    for a, b in pairs:
        scale = float(a.abs().max()) if a.numel() else 0.0
        if a.shape != b.shape or not torch.allclose(a, b, rtol=_RTOL, atol=_RTOL * scale):
            return "its output differs from the full forward pass"
    return None
