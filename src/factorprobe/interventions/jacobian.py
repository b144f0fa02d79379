"""Jacobian measures of units: how each unit's output moves with each input of its layer.

For a layer h = φ(W x + b) (or any differentiable map ``x -> h``) and stimulus s, the Jacobian
row of unit u is J_s[u, i] = ∂h_u / ∂x_i at the input x(s) the layer received for s: its
derivative with respect to the layer that feeds it. Three summaries per unit, over stimuli:

- ``gain``: mean over stimuli of ‖J_s[u]‖₂, how strongly the unit responds to small input
  changes (output units per input unit);
- ``input_participation``: with g_i² = mean_s J_s[u, i]², the participation ratio
  (Σ_i g_i²)² / Σ_i g_i⁴, the effective number of inputs the unit relies on: 1 for a unit that
  copies one input (seed 001's pass-along unit), n for equal reliance on n inputs;
- ``jacobian_variability``: mean_s ‖J_s[u] − J̄[u]‖² / mean_s ‖J_s[u]‖², the share of the
  Jacobian's energy that changes across stimuli: 0 for a unit linear in its inputs, 1 − p for
  a ReLU unit active on a fraction p of the stimuli.

Jacobians come from ``torch.func`` (``vmap`` of ``jacrev``, one vectorised pass per batch of
stimuli), summed in float64 batch by batch, so memory is units × inputs, not stimuli.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
import xarray as xr
from torch import nn

from factorprobe._validation import check_int
from factorprobe.dims import INDEX, LAYER, STIMULUS, UNIT
from factorprobe.probing.forward import prepared, resolve_device, running
from factorprobe.probing.layers import Activation, Target, resolve_targets
from factorprobe.probing.models import ProbedModel, load_model
from factorprobe.probing.sources import check_images

__all__ = ["JACOBIAN_VARIABLES", "jacobian_measures", "jacobian_summary"]

_WHERE = "jacobian_measures"
#: the per-unit variables, with their descriptions and units
JACOBIAN_VARIABLES: dict[str, tuple[str, str]] = {
    "gain": (
        "mean over stimuli of the norm of the unit's gradient with respect to its layer's input",
        "output per unit input",
    ),
    "input_participation": (
        "participation ratio (sum g_i^2)^2 / sum g_i^4 of the unit's RMS gradient g_i over its "
        "inputs: 1 = relies on one input, n = on n inputs equally; NaN for a zero gradient",
        "inputs",
    ),
    "jacobian_variability": (
        "mean_s ||J_s - mean J||^2 / mean_s ||J_s||^2: 0 = linear in its inputs, 1 - p for a "
        "ReLU unit active on a fraction p of the stimuli; NaN for a zero gradient",
        "1",
    ),
}


def jacobian_summary(
    fn: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor | np.ndarray,
    *,
    batch_size: int = 256,
) -> xr.Dataset:
    """Gain, input participation and Jacobian variability of each output of ``fn``.

    Parameters
    ----------
    fn : callable
        A map from one input vector ``(n_inputs,)`` to the outputs ``(n_units,)`` (a layer
        with its activation, e.g. ``lambda x: torch.relu(linear(x))``); batched calls must
        act row by row (no batch statistics).
    inputs : Tensor or ndarray
        The inputs the layer received, ``(n_stimuli, n_inputs)``.
    batch_size : int, default=256
        Stimuli per vectorised Jacobian.

    Returns
    -------
    Dataset
        Over ``unit``: ``gain``, ``input_participation``, ``jacobian_variability`` (see the
        module docstring); attrs ``n_stimuli``, ``n_inputs``.

    Examples
    --------
    >>> import torch
    >>> w = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    >>> out = jacobian_summary(lambda x: w @ x, torch.randn(10, 3))
    >>> out["input_participation"].values.round(6).tolist()
    [1.0, 3.0]
    """
    batch_size = check_int(batch_size, name="batch_size", where="jacobian_summary", minimum=1)
    x = torch.as_tensor(inputs)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(
            f"jacobian_summary needs inputs of shape (n_stimuli, n_inputs); got {tuple(x.shape)}."
        )
    sums = _jacobian_sums(fn, iter(x.split(batch_size)))
    return _summary_dataset(*sums)


def jacobian_measures(
    model: ProbedModel | str | nn.Module,
    stim: xr.Dataset,
    *,
    layers: Sequence[str] | None = None,
    activation: Activation = "post",
    batch_size: int = 64,
    device: str | torch.device | None = None,
) -> xr.Dataset:
    """Jacobian measures of every unit of the chosen layers, with respect to each layer's input.

    A unit's Jacobian is taken with respect to the input of its layer's module (for the
    embedded network, ``fc2``'s units with respect to ``fc1``'s activations), through the
    activation that follows when ``activation="post"``, at each stimulus: the number
    :func:`~factorprobe.probing.capture` records, differentiated.

    Parameters
    ----------
    model : ProbedModel, str or torch.nn.Module
        From :func:`~factorprobe.probing.load_model`, or a name it accepts.
    stim : Dataset
        Rendered stimuli (:func:`~factorprobe.stimuli.render`).
    layers : sequence of str, optional
        Layers to measure; default the fully connected layers (pooled features, which have no
        weights, are left out).
    activation : {"post", "pre"}, default="post"
        Differentiate the layer's activation output, or the layer's own output.
    batch_size : int, default=64
        Stimuli per forward pass and per vectorised Jacobian.
    device : str or torch.device, optional
        Where to run (default: the model's device resolution, as capture).

    Returns
    -------
    Dataset
        Over ``unit`` with ``layer`` and ``index`` coordinates (as capture's): ``gain``,
        ``input_participation``, ``jacobian_variability`` and ``n_inputs`` (the width of the
        layer's input); attrs name the model and the activation.

    Raises
    ------
    ValueError
        For an unknown layer or activation (the message lists the valid ones).
    """
    probed = model if isinstance(model, ProbedModel) else load_model(model)
    batch_size = check_int(batch_size, name="batch_size", where=_WHERE, minimum=1)
    targets = resolve_targets(probed, None if layers is None else list(layers), activation)
    if layers is None:
        targets = [t for t in targets if t.values != "pooled"]
    check_images(stim, probed, False)
    images = np.asarray(stim["image"].values)
    modules = dict(probed.module.named_modules())
    parts = []
    with running(probed, resolve_device(device)) as run, torch.inference_mode(False):
        for target in targets:
            inputs = _layer_inputs(run, modules[target.layer], images, batch_size)
            fn = _layer_function(modules, target)
            sums = _jacobian_sums(fn, iter(inputs.split(batch_size)))
            part = _summary_dataset(*sums)
            part = part.assign(n_inputs=((UNIT,), np.full(part.sizes[UNIT], inputs.shape[1])))
            part = part.assign_coords(
                {LAYER: (UNIT, np.full(part.sizes[UNIT], target.layer)),
                 INDEX: (UNIT, np.arange(part.sizes[UNIT]))}
            )  # fmt: skip
            parts.append(part)
    out = xr.concat(parts, dim=UNIT)
    for name, (text, units) in JACOBIAN_VARIABLES.items():
        out[name].attrs = {"description": text, "units": units}
    out["n_inputs"].attrs = {"description": "width of the layer's input", "units": "inputs"}
    out.attrs = {
        "model": str(getattr(probed, "name", type(probed.module).__name__)),
        "activation": activation,
        "n_stimuli": int(stim.sizes[STIMULUS]),
        "with_respect_to": "the input of each layer's module",
    }
    return out


def _layer_function(modules: dict[str, nn.Module], target: Target):
    layer = modules[target.layer]
    if target.values == "post" and target.module != target.layer:
        act = modules[target.module]
        return lambda x: act(layer(x[None]))[0].reshape(-1)
    return lambda x: layer(x[None])[0].reshape(-1)


def _layer_inputs(run, module: nn.Module, images: np.ndarray, batch_size: int) -> torch.Tensor:
    """The input of ``module`` for every stimulus, ``(S, n_inputs)`` as it arrived (flattened
    only if the module flattens nothing itself: vectors stay vectors)."""
    seen: list[torch.Tensor] = []
    with _input_hook(module, seen), torch.no_grad():
        for start in range(0, len(images), batch_size):
            run.model.module(prepared(run, images[start : start + batch_size]))
    return torch.cat(seen).detach()


@contextmanager
def _input_hook(module: nn.Module, seen: list[torch.Tensor]) -> Iterator[None]:
    def hook(mod: nn.Module, args: tuple) -> None:
        seen.append(args[0].detach().clone())

    handle = module.register_forward_pre_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def _jacobian_sums(fn, batches: Iterator[torch.Tensor]):
    """Σ_s J_s, Σ_s J_s², Σ_s ‖J_s‖ and the count, over batches of inputs (float64)."""
    jac = torch.func.vmap(torch.func.jacrev(fn))
    total = squares = norms = None
    n = 0
    for batch in batches:
        j = jac(batch).detach().to(torch.float64).reshape(batch.shape[0], -1, batch[0].numel())
        parts = (j.sum(0), (j * j).sum(0), torch.linalg.vector_norm(j, dim=-1).sum(0))
        if total is None:
            total, squares, norms = parts
        else:
            total, squares, norms = total + parts[0], squares + parts[1], norms + parts[2]
        n += batch.shape[0]
    assert total is not None and squares is not None and norms is not None  # >= 1 batch, checked
    return total.cpu().numpy(), squares.cpu().numpy(), norms.cpu().numpy(), n


def _summary_dataset(total: np.ndarray, squares: np.ndarray, norms: np.ndarray, n: int):
    mean = total / n
    mean_square = squares / n  # g_i², (U, I)
    energy = mean_square.sum(axis=-1)  # mean_s ‖J_s‖²
    with np.errstate(invalid="ignore", divide="ignore"):
        participation = energy**2 / np.square(mean_square).sum(axis=-1)
        variability = (energy - np.square(mean).sum(axis=-1)) / energy
    zero = energy <= 0
    participation[zero] = np.nan
    variability[zero] = np.nan
    variability = np.clip(variability, 0.0, 1.0)
    ds = xr.Dataset(
        {
            "gain": ((UNIT,), norms / n),
            "input_participation": ((UNIT,), participation),
            "jacobian_variability": ((UNIT,), variability),
        }
    )
    for name, (text, units) in JACOBIAN_VARIABLES.items():
        ds[name].attrs = {"description": text, "units": units}
    ds.attrs = {"n_stimuli": int(n), "n_inputs": int(total.shape[-1])}
    return ds
