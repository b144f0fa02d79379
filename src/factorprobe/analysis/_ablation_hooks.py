"""Hooks that overwrite chosen units and record others, and the forward plan they run in.

The *forward plan* says how one ablation step is computed. Where the network splits into a prefix
that no ablated or recorded module runs in and a suffix that holds them all, the prefix runs once
per stimulus and every step reruns only the suffix:

- the embedded network (:class:`~factorprobe.probing.SwishCNN`): prefix ``features``, suffix
  pooling, the fully connected layers and the classifier;
- timm models: prefix ``forward_features``, suffix ``forward_head`` (pooling and the head);
- ``nn.Sequential``: the children before the first one holding a hooked module, and the rest.

Any other network (or a layer inside the prefix) runs full forward passes. A split is only used
after it reproduced the full forward pass of the intact network on the first batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

import numpy as np
import torch
from torch import nn

from factorprobe.probing.layers import Target
from factorprobe.probing.models import ProbedModel

__all__ = ["ForwardPlan", "UnitHooks", "forward_plan"]

Forward = Callable[[torch.Tensor], torch.Tensor]


class UnitHooks:
    """Context manager: set units of some layers to fixed values, record others, every pass.

    Parameters
    ----------
    module : torch.nn.Module
        The root module; a pre-hook on it restarts the call counts at every full forward pass
        (call :meth:`reset` before a pass that does not go through the root, such as a suffix).
    ablate : sequence of Target
        Layers whose units :meth:`set_units` overwrites (none overwritten until it is called).
    record : sequence of Target
        Layers whose values are recorded, flattened after the batch dimension, as float32 on
        the CPU (copied at once, so later in-place operations cannot alter them).
    """

    def __init__(
        self, module: nn.Module, ablate: Sequence[Target], record: Sequence[Target]
    ) -> None:
        self._module = module
        self._ablate = list(ablate)
        self._record = list(record)
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._counts: dict[str, int] = {}
        self._values: dict[str, torch.Tensor] = {}
        self._units: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.seen: set[str] = set()

    def __enter__(self) -> UnitHooks:
        modules = dict(self._module.named_modules())
        calls: dict[str, dict[int, list[tuple[str, Target]]]] = {}
        for role, targets in (("ablate", self._ablate), ("record", self._record)):
            for t in targets:
                calls.setdefault(t.module, {}).setdefault(t.call, []).append((role, t))
        try:
            self._handles.append(self._module.register_forward_pre_hook(self._restart))
            for name, by_call in calls.items():
                self._handles.append(modules[name].register_forward_hook(self._hook(name, by_call)))
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._remove()

    def set_units(self, layer: str, index: np.ndarray, values: np.ndarray) -> None:
        """Overwrite units ``index`` of ``layer`` with ``values`` from the next pass on."""
        if len(index) == 0:
            self._units.pop(layer, None)
            return
        self._units[layer] = (
            torch.as_tensor(np.asarray(index, dtype=np.int64)),
            torch.as_tensor(np.asarray(values, dtype=np.float32)),
        )

    def reset(self) -> None:
        """Restart the call counts and forget recorded values (before a pass of a suffix)."""
        self._counts.clear()
        self._values.clear()

    def pop(self) -> dict[str, torch.Tensor]:
        """Values recorded since the last reset, by layer, as ``(batch, units)``."""
        values, self._values = self._values, {}
        return values

    def _restart(self, module: nn.Module, args: tuple) -> None:
        self.reset()

    def _hook(self, name: str, by_call: dict[int, list[tuple[str, Target]]]):
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor | None:
            k = self._counts.get(name, 0)
            self._counts[name] = k + 1
            changed = None
            for role, t in by_call.get(k, []):
                self.seen.add(t.layer)
                if role == "ablate" and t.layer in self._units:
                    if changed is None:
                        # a copy, so the module's own output (maybe reused) stays intact
                        changed = output.clone(memory_format=torch.contiguous_format)
                    index, values = self._units[t.layer]
                    flat = changed.view(changed.shape[0], -1)
                    flat[:, index.to(flat.device)] = values.to(flat.device, flat.dtype)
                elif role == "record":
                    current = changed if changed is not None else output
                    flat = current.detach().reshape(current.shape[0], -1)
                    self._values[t.layer] = flat.to("cpu", torch.float32, copy=True)
            return changed

        return hook

    def _remove(self) -> None:
        handles, self._handles = self._handles, []
        for handle in handles:
            handle.remove()


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
    """The split of ``model`` whose suffix may hold ``modules`` (checked later), or a full pass."""
    net = model.module
    full = ForwardPlan("full forward passes", None, None)
    if not allow_split:
        return full
    from factorprobe.probing.embedded.network import SwishCNN

    if isinstance(net, SwishCNN):
        return ForwardPlan("features once, then pool, FC layers and classifier", net.features,
                           _embedded_head(net))  # fmt: skip
    if type(net).__module__.startswith("timm.") and all(
        callable(getattr(net, m, None)) for m in ("forward_features", "forward_head")
    ):
        return ForwardPlan(
            "forward_features once, then forward_head", net.forward_features, net.forward_head
        )
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


def _embedded_head(net: nn.Module) -> Forward:
    """SwishCNN.forward after ``features`` (checked against the full pass before use)."""

    def head(h: torch.Tensor) -> torch.Tensor:
        x = net.pool(h)
        for i in range(1, net.config.n_fc + 1):
            x = getattr(net, f"act{i}")(getattr(net, f"fc{i}")(x))
        return net.classifier(x)

    return head
