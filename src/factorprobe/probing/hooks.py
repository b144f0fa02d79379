"""Recording hooks that can never leak: every handle is removed when the block exits."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

import torch
from torch import nn

from factorprobe.probing.layers import Target


class Recorder:
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
        self._module = module
        self._targets = list(targets)
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._counts: dict[str, int] = {}
        self._values: dict[str, torch.Tensor] = {}
        self._batch: int | None = None

    def __enter__(self) -> Recorder:
        modules = dict(self._module.named_modules())
        try:
            self._handles.append(self._module.register_forward_pre_hook(self._restart))
            wanted: dict[str, dict[int, str]] = {}
            for t in self._targets:
                wanted.setdefault(t.module, {})[t.call] = t.layer
            for name, calls in wanted.items():
                hook = self._hook(name, calls)
                self._handles.append(modules[name].register_forward_hook(hook))
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
        self._counts.clear()
        self._values.clear()
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

    def _remove(self) -> None:
        handles, self._handles = self._handles, []
        for handle in handles:
            handle.remove()
