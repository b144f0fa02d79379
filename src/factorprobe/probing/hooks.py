"""Hook managers that can never leak: every handle is removed when the block exits.

:class:`Recorder` records capture targets (capture, saliency); :class:`UnitHooks` also sets
chosen units to fixed values (ablation). Both share one lifecycle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self

import numpy as np
import torch
from torch import nn

from factorprobe.probing.layers import Target

__all__ = ["Recorder", "UnitHooks"]


class _Hooks:
    """The lifecycle both hook managers share: install on enter, remove every handle on exit.

    A pre-hook on the root module calls :meth:`_restart` at every forward pass; subclasses say
    which modules to hook (:meth:`_wanted`) and what each hook does (:meth:`_hook`).
    """

    def __init__(self, module: nn.Module) -> None:
        self._module = module
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._counts: dict[str, int] = {}
        self._values: dict[str, torch.Tensor] = {}

    def _wanted(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _hook(self, name: str, calls: Any) -> Callable[..., Any]:  # pragma: no cover
        raise NotImplementedError

    def _restart(self, module: nn.Module, args: tuple) -> None:
        self._counts.clear()
        self._values.clear()

    def __enter__(self) -> Self:
        modules = dict(self._module.named_modules())
        try:
            self._handles.append(self._module.register_forward_pre_hook(self._restart))
            for name, calls in self._wanted().items():
                self._handles.append(modules[name].register_forward_hook(self._hook(name, calls)))
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

    def _remove(self) -> None:
        handles, self._handles = self._handles, []
        for handle in handles:
            handle.remove()


class Recorder(_Hooks):
    """Context manager that records the outputs of capture targets during forward passes.

    Hooks only read outputs (they return None), so the model's outputs are unchanged. Each
    recorded output is flattened after the batch dimension and copied to float32 on the CPU at
    once, so in-place activations that run later cannot alter it.

    Parameters
    ----------
    module : torch.nn.Module
        The root module; a pre-hook on it restarts the call counts at every forward pass.
    targets : sequence of Target
        What to record (from :func:`~factorprobe.probing.layers.resolve_targets`).

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.SiLU())
    >>> with Recorder(net, [Target("0", "1", 0, "post", 2)]) as rec:
    ...     _ = net(torch.ones(4, 3))
    ...     rec.pop()["0"].shape
    torch.Size([4, 2])
    >>> len(net[1]._forward_hooks)
    0
    """

    def __init__(self, module: nn.Module, targets: Sequence[Target]) -> None:
        super().__init__(module)
        self._targets = list(targets)
        self._batch: int | None = None

    def _wanted(self) -> dict[str, dict[int, str]]:
        wanted: dict[str, dict[int, str]] = {}
        for t in self._targets:
            wanted.setdefault(t.module, {})[t.call] = t.layer
        return wanted

    def pop(self) -> dict[str, torch.Tensor]:
        """The values recorded in the last forward pass, by layer, as ``(batch, units)``.

        Raises
        ------
        ValueError
            A layer did not run in that pass, or gave another number of units than when the
            layers were resolved (a model whose path depends on the batch).
        """
        model = type(self._module).__name__
        batch = f"a batch of {self._batch} stimuli" if self._batch is not None else "a batch"
        missing = [t.layer for t in self._targets if t.layer not in self._values]
        if missing:
            raise ValueError(
                f"Layer(s) {', '.join(repr(m) for m in missing)} of model {model!r} did not "
                f"run in the forward pass of {batch}, though they ran when the layers were "
                f"found; capture needs layers that run on every batch: name others, or try "
                f"another batch_size."
            )
        for t in self._targets:
            got = self._values[t.layer].shape[1]
            if got != t.n_units:
                raise ValueError(
                    f"Layer {t.layer!r} of model {model!r} gave {got} units for {batch} but "
                    f"{t.n_units} when the layers were found; capture needs layers whose width "
                    f"does not depend on the batch: name others."
                )
        values, self._values = self._values, {}
        return values

    def _restart(self, module: nn.Module, args: tuple) -> None:
        super()._restart(module, args)
        first = args[0] if args else None
        self._batch = (
            int(first.shape[0]) if isinstance(first, torch.Tensor) and first.ndim else None
        )

    def _hook(self, name: str, calls: dict[int, str]):
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            k = self._counts.get(name, 0)
            self._counts[name] = k + 1
            if k in calls:
                flat = output.detach().reshape(output.shape[0], -1)
                self._values[calls[k]] = flat.to("cpu", torch.float32, copy=True)

        return hook


class UnitHooks(_Hooks):
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
        super().__init__(module)
        self._ablate = list(ablate)
        self._record = list(record)
        self._units: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.seen: set[str] = set()

    def _wanted(self) -> dict[str, dict[int, list[tuple[str, Target]]]]:
        calls: dict[str, dict[int, list[tuple[str, Target]]]] = {}
        for role, targets in (("ablate", self._ablate), ("record", self._record)):
            for t in targets:
                calls.setdefault(t.module, {}).setdefault(t.call, []).append((role, t))
        return calls

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
