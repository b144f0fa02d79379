"""Layer discovery: which modules are fully connected, and which activation follows each.

Discovery runs one forward pass of a zero image at the model's input size and records every
module call. A *fully connected* layer is a call, in the network's head (after the last call that
outputs a spatial map), of

- an ``nn.Linear`` whose input is a vector per stimulus (``(batch, features)``), or
- an ``nn.Conv2d`` whose kernel covers its whole input and whose output is ``1 x 1`` (a head
  written as convolutions, like timm's VGG).

The head rule keeps squeeze-and-excitation layers inside convolution blocks out. On an input so
small that the last feature map is already ``1 x 1``, trailing 1×1 convolutions count too: name
the layers explicitly there. The *pooled features* are the vector feeding the first fully
connected layer, when a module produces it (timm's ``global_pool``, the embedded ``pool``).

A layer's *post-activation* values are the output of the first activation module applied to its
output (through dropout, identity, normalisation or flatten in between); a layer with none (the
logits) reports its own output either way.
"""

from __future__ import annotations

import difflib
import warnings
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from factorprobe._options import ACTIVATIONS as ACTIVATIONS
from factorprobe._options import Activation as Activation
from factorprobe._validation import check_choice
from factorprobe.probing.models import ProbedModel

_MAX_LISTED = 25

_NOT_ACTIVATIONS = (nn.MultiheadAttention, nn.Softmax, nn.Softmin, nn.LogSoftmax, nn.Softmax2d)
_TORCH_ACTIVATIONS = tuple(
    cls
    for cls in vars(nn.modules.activation).values()
    if isinstance(cls, type)
    and issubclass(cls, nn.Module)
    and cls is not nn.Module
    and not issubclass(cls, _NOT_ACTIVATIONS)
)
_PASS_THROUGH = (
    nn.Dropout,
    nn.Identity,
    nn.Flatten,
    nn.modules.batchnorm._BatchNorm,
    nn.LayerNorm,
    nn.GroupNorm,
)


@dataclass(frozen=True)
class Target:
    """One captured layer: whose output is recorded, at which of its calls, as what.

    Attributes
    ----------
    layer : str
        The layer's module path (the ``layer`` coordinate of the result).
    module : str
        The module whose output is recorded: the layer itself, or its activation.
    call : int
        Which call of ``module`` within one forward pass (0 = the first).
    values : str
        ``"post"`` (the activation's output), ``"pre"`` (the layer's output), ``"pooled"``
        (pooled features) or ``"no activation"`` (a layer no activation follows).
    n_units : int
        Units per stimulus (the output flattened after the batch dimension).
    """

    layer: str
    module: str
    call: int
    values: str
    n_units: int


@dataclass
class _Call:
    name: str
    module: nn.Module
    call: int
    start: int
    end: int
    inputs: tuple[torch.Tensor, ...]
    output: object


def fc_layers(model: ProbedModel) -> list[str]:
    """Module paths of the layers captured by default, in forward order.

    Parameters
    ----------
    model : ProbedModel
        From :func:`~factorprobe.probing.load_model`.

    Returns
    -------
    list of str
        The pooled features (when a module produces them), then every fully connected layer.

    Examples
    --------
    >>> import factorprobe as fp
    >>> fp.probing.fc_layers(fp.probing.load_model("embedded"))
    ['pool', 'fc1', 'fc2', 'fc3', 'classifier']
    """
    return [t.layer for t in resolve_targets(model, None, "post")]


def resolve_targets(
    model: ProbedModel, layers: Sequence[str] | None, activation: Activation
) -> list[Target]:
    """Resolve layer names (None: the fully connected defaults) into capture targets.

    Raises
    ------
    ValueError
        An unknown module name (the message lists the valid ones), a module that does not run
        or does not output a tensor, or an unknown ``activation``.
    """
    check_choice(activation, ACTIVATIONS, name="activation", where="capture")
    if not isinstance(model, ProbedModel):
        raise TypeError(
            f"capture needs a ProbedModel from load_model; got {type(model).__name__}. Wrap a "
            f"module with load_model(module, input_size=..., mean=..., std=...)."
        )
    if layers is not None and not (
        isinstance(layers, list | tuple) and all(isinstance(n, str) for n in layers)
    ):
        return _resolve(model, layers, activation)  # which raises the error that explains
    signature = _signature(model)
    entry = _RESOLVED.get(model.module)
    if entry is None or entry[0] != signature:  # new, or its structure changed
        entry = _RESOLVED[model.module] = (signature, {})
    key = (None if layers is None else tuple(layers), activation)
    if key not in entry[1]:
        entry[1][key] = tuple(_resolve(model, layers, activation))
    return list(entry[1][key])


# Resolved targets per module, valid while its structure (the signature) is unchanged: layer
# discovery traces a forward pass through every module (35 ms for EfficientNet-B0), which
# repeated captures of one model need not repeat.
_RESOLVED: weakref.WeakKeyDictionary[nn.Module, tuple[tuple, dict[tuple, tuple[Target, ...]]]]
_RESOLVED = weakref.WeakKeyDictionary()


def _signature(model: ProbedModel) -> tuple:
    """What discovery depends on: the input, and each module's name, class and tensor shapes."""
    modules = tuple(
        (
            name,
            type(mod),
            "forward" in vars(mod),  # a forward patched onto the instance
            tuple((k, tuple(t.shape)) for k, t in mod._parameters.items() if t is not None),
            tuple((k, tuple(t.shape)) for k, t in mod._buffers.items() if t is not None),
        )
        for name, mod in model.module.named_modules()
    )
    return (model.input_size, model.in_chans, modules)


def _resolve(
    model: ProbedModel, layers: Sequence[str] | None, activation: Activation
) -> list[Target]:
    calls = _trace(model)
    if layers is None:
        names, pooled = _default_layers(calls)
    else:
        names, pooled = _named_layers(model, calls, layers), None
    firsts = {c.name: c for c in calls if c.call == 0}
    _warn_repeated(model, names, calls)
    targets = []
    for name in names:
        call = firsts[name]
        n_units = _n_units(call.output)
        if name == pooled:
            targets.append(Target(name, name, 0, "pooled", n_units))
            continue
        act = _activation_after(call, calls)
        if act is None:
            targets.append(Target(name, name, 0, "no activation", n_units))
        elif activation == "pre":
            targets.append(Target(name, name, 0, "pre", n_units))
        else:
            targets.append(Target(name, act.name, act.call, "post", n_units))
    return targets


def _warn_repeated(model: ProbedModel, names: Sequence[str], calls: list[_Call]) -> None:
    """Warn about layers that run more than once in a forward pass (only the first is kept)."""
    runs = {name: sum(c.name == name for c in calls) for name in names}
    repeated = {name: n for name, n in runs.items() if n > 1}
    if repeated:
        listed = ", ".join(f"{name!r} ({n} times)" for name, n in repeated.items())
        warnings.warn(
            f"Layer(s) {listed} of model {model.name!r} run more than once in one forward "
            f"pass; capture records only each one's first call, so later calls are not in the "
            f"activations.",
            UserWarning,
            stacklevel=4,
        )


def _default_layers(calls: list[_Call]) -> tuple[list[str], str | None]:
    spatial_end = max((c.end for c in calls if _is_spatial(c.output)), default=-1)
    fcs = [c for c in calls if c.call == 0 and c.start > spatial_end and _is_fc(c)]
    if not fcs:
        return [], None
    first = fcs[0]
    vector_input = first.inputs and _is_vector(first.inputs[0])
    feeder = _producer(first, calls, spatial_end) if vector_input else None
    names = [c.name for c in fcs]
    if feeder is not None and feeder.call == 0 and feeder.name not in names:
        return [feeder.name, *names], feeder.name
    return names, None


def _named_layers(model: ProbedModel, calls: list[_Call], layers: Sequence[str]) -> list[str]:
    if isinstance(layers, str) or not isinstance(layers, Sequence):
        raise TypeError(
            f"The 'layers' parameter of capture must be a list of module names or None; got "
            f"{layers!r}."
        )
    valid = [name for name, _ in model.module.named_modules() if name]
    ran = {c.name: c for c in calls if c.call == 0}
    for name in layers:
        if name not in valid:
            raise ValueError(_unknown_layer_message(model, name, valid, calls))
        if name not in ran:
            raise ValueError(
                f"Layer {name!r} of model {model.name!r} does not run in the forward pass at "
                f"{model.input_size[0]}x{model.input_size[1]} px; name a module that does."
            )
        if not isinstance(ran[name].output, torch.Tensor):
            raise ValueError(
                f"Layer {name!r} of model {model.name!r} outputs "
                f"{type(ran[name].output).__name__}, not a tensor; name a module that outputs one."
            )
    if len(set(layers)) != len(layers):
        raise ValueError(f"The 'layers' parameter of capture names a layer twice; got {layers!r}.")
    return sorted(layers, key=lambda name: ran[name].start)


def _unknown_layer_message(
    model: ProbedModel, name: str, valid: list[str], calls: list[_Call]
) -> str:
    if len(valid) <= _MAX_LISTED:
        listed = ", ".join(repr(v) for v in valid)
        return f"Unknown layer {name!r} for model {model.name!r}; valid layers: {listed}."
    defaults, _ = _default_layers(calls)
    close = difflib.get_close_matches(name, valid, n=5)
    shown = list(dict.fromkeys([*close, *defaults]))
    return (
        f"Unknown layer {name!r} for model {model.name!r}; valid layers are its "
        f"{len(valid)} module names (model.module.named_modules()), e.g. "
        f"{', '.join(repr(v) for v in shown)}."
    )


def _trace(model: ProbedModel) -> list[_Call]:
    """Record every module call of one forward pass of a zero input."""
    module = model.module
    calls: list[_Call] = []
    open_calls: dict[int, list[_Call]] = {}
    counts: dict[str, int] = {}
    clock = [0]

    def pre_hook(name: str):
        def hook(mod: nn.Module, args: tuple) -> None:
            tensors = tuple(a for a in args if isinstance(a, torch.Tensor))
            call = _Call(name, mod, counts.get(name, 0), clock[0], -1, tensors, None)
            counts[name] = call.call + 1
            clock[0] += 1
            calls.append(call)
            open_calls.setdefault(id(mod), []).append(call)

        return hook

    def post_hook(mod: nn.Module, args: tuple, output: object) -> None:
        call = open_calls[id(mod)].pop()
        call.output = output
        call.end = clock[0]
        clock[0] += 1

    parameter = next(module.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    x = torch.zeros(1, model.in_chans, *model.input_size, device=device)
    handles = []
    try:
        for name, mod in module.named_modules():
            if name:
                handles.append(mod.register_forward_pre_hook(pre_hook(name)))
                handles.append(mod.register_forward_hook(post_hook))
        with _eval_mode(module), torch.inference_mode():
            module(x)
    except Exception as err:
        # the input is what the user configured (size, channels): an input error, one line
        raise ValueError(
            f"Model {model.name!r} failed on a zero input of size "
            f"{model.input_size[0]}x{model.input_size[1]} px with {model.in_chans} channel(s) "
            f"({type(err).__name__}: {' '.join(str(err).split())[:300]}); check input_size, "
            f"and mean and std (one value per input channel)."
        ) from err
    finally:
        for handle in handles:
            handle.remove()
    return calls


@contextmanager
def _eval_mode(module: nn.Module) -> Iterator[None]:
    """Put every submodule in eval mode; restore each one's own mode afterwards."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


def _is_spatial(output: object) -> bool:
    return isinstance(output, torch.Tensor) and output.ndim >= 3 and not _is_vector(output)


def _is_vector(t: torch.Tensor) -> bool:
    return t.ndim == 2 or (t.ndim >= 3 and all(s == 1 for s in t.shape[2:]))


def _is_fc(call: _Call) -> bool:
    if not call.inputs or not isinstance(call.output, torch.Tensor):
        return False
    if isinstance(call.module, nn.Linear):
        return call.inputs[0].ndim == 2
    return _is_conv_fc(call)


def _is_conv_fc(call: _Call) -> bool:
    """A convolution whose kernel sees its whole input at once, giving a 1×1 output."""
    mod = call.module
    if not isinstance(mod, nn.Conv2d) or not call.inputs:
        return False
    x = call.inputs[0]
    if not isinstance(call.output, torch.Tensor) or x.ndim != 4:
        return False
    padding = mod.padding if isinstance(mod.padding, tuple) else (0, 0)
    return (
        tuple(call.output.shape[2:]) == (1, 1)
        and tuple(x.shape[2:]) == tuple(mod.kernel_size)
        and padding == (0, 0)
        and mod.groups == 1
    )


def _same(a: object, b: object) -> bool:
    """Whether two tensors are the same data (the same object, or a view of the same memory)."""
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        return False
    return a is b or (a.data_ptr() == b.data_ptr() and a.numel() == b.numel() and a.numel() > 0)


def _producer(target: _Call, calls: list[_Call], spatial_end: int) -> _Call | None:
    """The first head module call whose output is ``target``'s input (the pooled features).

    Later calls that pass the same tensor on (dropout, identity, flatten) are skipped, so the
    name is the module that made the vector (``global_pool``, a norm), not a pass-through.
    """
    x = target.inputs[0]
    before = [
        c
        for c in calls
        if spatial_end < c.start
        and 0 <= c.end < target.start
        and isinstance(c.output, torch.Tensor)
    ]
    for same in (_same, _equal):
        found = [c for c in before if same(c.output, x)]
        if found:
            return min(found, key=lambda c: c.start)
    return None


def _equal(a: object, b: torch.Tensor) -> bool:
    return (
        isinstance(a, torch.Tensor)
        and a.shape == b.shape
        and a.dtype == b.dtype
        and bool(torch.equal(a, b))
    )


def _activation_after(layer: _Call, calls: list[_Call]) -> _Call | None:
    """The activation applied to ``layer``'s output, through pass-through modules only."""
    current = layer.output
    for call in calls:
        if call.start <= layer.end or next(call.module.children(), None) is not None:
            continue
        if not call.inputs or not _same(call.inputs[0], current):
            continue
        if _is_activation(call.module):
            return call
        if not isinstance(call.module, _PASS_THROUGH):
            return None
        current = call.output
    return None


def _is_activation(module: nn.Module) -> bool:
    return isinstance(module, _TORCH_ACTIVATIONS) or type(module).__module__.startswith(
        "timm.layers.activations"
    )


def _n_units(output: object) -> int:
    assert isinstance(output, torch.Tensor)  # checked by the callers
    return int(output[0].numel()) if output.shape[0] else 0
