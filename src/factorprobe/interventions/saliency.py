"""Saliency: the gradient of a unit, or of a direction of a layer, with respect to the input pixels.

For stimulus ``s`` and a target ``a(s)`` (one unit of a layer, or the projection ``w · h(s)`` of
the layer's activation vector ``h(s)`` on a direction ``w``), the saliency map is the gradient
``∂a(s) / ∂I_s(row, col)`` with respect to the stimulus image ``I_s`` *as rendered*, in [0, 1]:
the derivative runs through the model's normalisation ``(I - mean) / std`` (and the gray-to-RGB
repeat of an RGB model), so it reads "activation per unit pixel intensity". The layer and its
pre- or post-activation values are identified exactly as :func:`factorprobe.probing.capture`
identifies them (:func:`factorprobe.probing.layers.resolve_targets`), so the gradient is that of
the number ``capture`` records.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from contextlib import suppress
from numbers import Integral
from typing import Any, Literal

import numpy as np
import torch
import xarray as xr
from torch import nn

from factorprobe._validation import check_choice, check_int
from factorprobe.dims import CHANNEL, COL, INDEX, LAYER, ROW, STIMULUS, UNIT
from factorprobe.probing.forward import as_input, resolve_device, running
from factorprobe.probing.hooks import Recorder
from factorprobe.probing.layers import ACTIVATIONS, Activation, Target, resolve_targets
from factorprobe.probing.models import ProbedModel, load_model
from factorprobe.probing.sources import check_images

__all__ = ["METHODS", "saliency"]

_WHERE = "saliency"
_IMAGE = "image"
METHODS: tuple[str, ...] = ("gradient", "gradient_x_input")
_UNITS = {
    "gradient": "activation per unit pixel intensity",
    "gradient_x_input": "activation",
}


def saliency(
    model: ProbedModel | str | nn.Module,
    stim: xr.Dataset,
    *,
    layer: str,
    unit: int | Sequence[int] | None = None,
    direction: np.ndarray | xr.DataArray | Sequence[float] | None = None,
    activation: Activation = "post",
    method: Literal["gradient", "gradient_x_input"] = "gradient",
    batch_size: int = 32,
    device: str | torch.device | None = None,
    resize: bool = False,
) -> xr.DataArray:
    """Gradient of units (or directions) of a layer with respect to the pixels of each stimulus.

    The map of target ``a`` for stimulus ``s`` is ``G_s(row, col) = Σ_c ∂a(s) / ∂I_s(row, col,
    c)``: the signed gradient with respect to the rendered image (intensities in [0, 1]), through
    the model's normalisation, summed over the stimulus's channels. For grayscale stimuli (one
    channel) there is nothing to sum; a grayscale stimulus fed to an RGB model is repeated to
    three channels, and the chain rule sums the three gradients, so the map is the derivative with
    respect to the gray level the user controls. For RGB stimuli the sum is the derivative along
    the gray direction (all channels raised together). The magnitude map of Simonyan et al. (2014)
    is ``abs(G)`` for one channel.

    ``method="gradient_x_input"`` multiplies the gradient by the pixel's deviation from the
    stimulus background, ``Σ_c ∂a/∂I_c · (I_c - background)`` (Shrikumar et al. 2016, here with
    the blank canvas as the reference): the first-order Taylor share of each pixel in
    ``a(stimulus) - a(blank canvas)``, zero wherever the object is absent; its sum over pixels is
    exact for a model linear in the input.

    Parameters
    ----------
    model : ProbedModel, str or torch.nn.Module
        From :func:`~factorprobe.probing.load_model`, or anything it accepts (a name such as
        ``"embedded"`` or ``"timm:efficientnet_b0"``; a module needs ``load_model`` options, so
        wrap it yourself).
    stim : Dataset
        Rendered stimuli (:func:`factorprobe.stimuli.render`), or a subset of them
        (``stim.isel(stimulus=...)``), at the model's input size.
    layer : str
        Module path of the layer, as in :func:`~factorprobe.probing.fc_layers` or any name of
        ``model.module.named_modules()``.
    unit : int or sequence of int, optional
        Index of a unit within the layer (its ``index`` coordinate in captured activations), or
        several. Give exactly one of ``unit`` and ``direction``.
    direction : array-like or DataArray, optional
        A vector in the layer's activation space, shape ``(n_units,)``, or several as rows,
        ``(n_directions, n_units)``. The target is the projection ``w · h`` as given (not
        normalised), so the map is linear in ``w``; unit-norm directions give the pseudo-unit's
        value. A DataArray from :func:`factorprobe.analysis.directions.directions` (rows over
        all captured units, zero outside their layer) is accepted as it is: its rows must all
        belong to ``layer``, and their ``index`` labels the result.
    activation : {"post", "pre"}, default="post"
        Gradient of the layer's activation output or of the layer's own output, as in
        :func:`~factorprobe.probing.capture`. Layers that no activation follows (logits, pooled
        features) use their output either way.
    method : {"gradient", "gradient_x_input"}, default="gradient"
        The plain gradient, or gradient × (input − background).
    batch_size : int, default=32
        Stimuli per forward pass.
    device : str or torch.device or None, default=None
        None picks cuda, then mps, then cpu; the module's device and train/eval modes are
        restored afterwards.
    resize : bool, default=False
        Resample stimuli whose canvas differs from the model's input size (as in ``capture``);
        the gradient then flows back through the resampling to the stimulus pixels.

    Returns
    -------
    DataArray
        ``saliency`` with dims ``("unit", "stimulus", "row", "col")``, always: ``unit`` has one
        entry per requested unit or direction (length 1 for a single one), with coordinates
        ``layer`` and ``index`` (the unit's index within the layer, or the direction's
        ``index`` coordinate, else its row number); ``stimulus`` carries the coordinates of
        ``stim`` (factor values, in order). Values in activation per unit pixel intensity
        (``"gradient"``) or in activation units (``"gradient_x_input"``), in the dtype of the
        model's parameters. Attrs name the model and its weights, ``layer``, ``values`` (which
        output was differentiated), ``activation``, ``target`` (``"unit"`` or ``"direction"``),
        ``method`` and ``units``.

    Raises
    ------
    ValueError
        Unknown layer (the message lists the valid ones), both or neither of ``unit`` and
        ``direction``, a unit index out of range, a direction of the wrong length, a canvas that
        differs from the model's input size, an unknown ``activation`` or ``method``, or
        ``gradient_x_input`` on stimuli without a known background.
    TypeError
        ``stim`` is not a Dataset, ``layer`` not a string, or ``unit`` not integers.

    Notes
    -----
    The gradient is local: it says how the target changes for an infinitesimal change of each
    pixel around this stimulus, not which pixels the value depends on over larger changes (a
    unit saturated by its SiLU, or by a later one, has a near-zero gradient however much it
    depends on the object). Stimuli do not interact (the model runs in eval mode), so each map
    is that stimulus's own. Each target costs one backward pass per batch; the forward pass
    stops at the layer. The model's parameters, their ``requires_grad`` and ``.grad`` are left
    untouched: gradients are taken with respect to the input only.

    References
    ----------
    Simonyan, K., Vedaldi, A. & Zisserman, A. (2014). Deep inside convolutional networks:
    visualising image classification models and saliency maps. ICLR workshop, arXiv:1312.6034.

    Shrikumar, A., Greenside, P., Shcherbina, A. & Kundaje, A. (2016). Not just a black box:
    learning important features through propagating activation differences. arXiv:1605.01713.

    Examples
    --------
    >>> import factorprobe as fp
    >>> stim = fp.stimuli.render(fp.stimuli.grid(size=[32], x=[80, 144], y=[112]))
    >>> sal = saliency("embedded", stim, layer="fc1", unit=[0, 5])
    >>> sal.dims, sal.shape
    (('unit', 'stimulus', 'row', 'col'), (2, 2, 224, 224))
    """
    check_choice(activation, ACTIVATIONS, name="activation", where=_WHERE)
    check_choice(method, METHODS, name="method", where=_WHERE)
    batch_size = check_int(batch_size, name="batch_size", where=_WHERE, minimum=1)
    if not isinstance(layer, str):
        raise TypeError(
            f"The 'layer' parameter of {_WHERE} must be a module name (str); got {layer!r}."
        )
    if not isinstance(stim, xr.Dataset):
        raise TypeError(
            f"The 'stim' parameter of {_WHERE} must be a rendered Dataset (or a subset of one); "
            f"got {type(stim).__name__}."
        )
    if (unit is None) == (direction is None):
        given = "both" if unit is not None else "neither"
        raise ValueError(
            f"{_WHERE} needs exactly one of 'unit' (indices within the layer) and 'direction' "
            f"(vectors in its activation space); got {given}."
        )
    probed = model if isinstance(model, ProbedModel) else load_model(model)
    (target,) = resolve_targets(probed, [layer], activation)
    if unit is not None:
        indices = _unit_indices(unit, target)
        weights = np.zeros((indices.size, target.n_units))
        weights[np.arange(indices.size), indices] = 1.0
    else:
        weights, indices = _directions(direction, target)
    check_images(stim, probed, resize)
    baseline = _background(stim) if method == "gradient_x_input" else None
    values = _gradients(probed, target, stim, weights, baseline, batch_size, resolve_device(device))
    attrs = {
        **probed.describe(),
        LAYER: layer,
        "values": target.values,
        "captured": f"{target.module} ({target.values})",
        "activation": activation,
        "target": "unit" if unit is not None else "direction",
        "method": method,
        "units": _UNITS[method],
        "channels": "summed over the stimulus's input channels",
        "resized": int(resize),
        **{f"stimuli_{k}": v for k, v in _scalar_attrs(stim.attrs).items()},
    }
    coords: dict[Hashable, Any] = {
        UNIT: np.arange(weights.shape[0]),
        LAYER: (UNIT, np.full(weights.shape[0], layer)),
        INDEX: (UNIT, indices),
    }
    coords |= {
        name: c.variable for name, c in stim.coords.items() if set(c.dims) <= {STIMULUS, ROW, COL}
    }
    return xr.DataArray(
        values, dims=(UNIT, STIMULUS, ROW, COL), coords=coords, name="saliency", attrs=attrs
    )


class _Reached(Exception):
    """Raised by the tap once the target layer has run: nothing later is needed."""


class _Tap(Recorder):
    """A Recorder that keeps the autograd graph of what it records and stops the forward pass.

    The parent detaches and copies each output to the CPU; a gradient needs the tensor itself.
    Stopping at the layer saves the rest of the forward pass, and no in-place operation that
    would run later (``ReLU(inplace=True)`` after a pre-activation layer) can alter the recorded
    tensor before the backward pass.
    """

    def _hook(self, name: str, calls: dict[int, str]):
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            k = self._counts.get(name, 0)
            self._counts[name] = k + 1
            if k in calls:
                self._values[calls[k]] = output.reshape(output.shape[0], -1)
                raise _Reached

        return hook


def _gradients(
    model: ProbedModel,
    target: Target,
    stim: xr.Dataset,
    weights: np.ndarray,
    baseline: np.ndarray | None,
    batch_size: int,
    device: torch.device,
) -> np.ndarray:
    """Maps ``(targets, stimuli, rows, cols)``: one vector-Jacobian product per target and batch."""
    module = model.module
    dtype = next((p.dtype for p in module.parameters() if p.is_floating_point()), torch.float32)
    n, rows, cols = stim.sizes[STIMULUS], stim.sizes[ROW], stim.sizes[COL]
    out = np.empty((weights.shape[0], n, rows, cols), dtype=_numpy_dtype(dtype))
    image = stim[_IMAGE].transpose(STIMULUS, ROW, COL, CHANNEL)
    # capture's sweep runs under inference mode; the gradient needs autograd back on.
    with (
        running(model, device) as run,
        _Tap(module, [target]) as tap,
        torch.inference_mode(False),
        torch.enable_grad(),
    ):
        w = torch.tensor(weights, dtype=dtype, device=device)
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            x = torch.tensor(image[start:stop].values, dtype=dtype, device=device)
            x.requires_grad_(True)
            h = _layer_output(model, tap, target, as_input(run, x))
            for i in range(w.shape[0]):
                (g,) = torch.autograd.grad(
                    h,
                    x,
                    grad_outputs=w[i].expand_as(h),
                    retain_graph=i < w.shape[0] - 1,
                    allow_unused=True,
                )
                if g is None:  # the layer does not depend on the input at all
                    g = torch.zeros_like(x)
                if baseline is not None:
                    reference = torch.tensor(baseline[start:stop], dtype=dtype, device=device)
                    g = g * (x.detach() - reference.reshape(-1, 1, 1, 1))
                out[i, start:stop] = g.sum(dim=-1).cpu().numpy()
    return out


def _layer_output(model: ProbedModel, tap: _Tap, target: Target, x: torch.Tensor) -> torch.Tensor:
    """Run the model up to the target and return its values ``(batch, units)``, with the graph."""
    with suppress(_Reached):
        model.module(x)
    h = tap.pop()[target.layer]
    if not h.requires_grad:
        raise ValueError(
            f"Layer {target.layer!r} of model {model.name!r} ({target.values}) is not "
            f"differentiable with respect to the input (it runs without autograd); choose "
            f"another layer."
        )
    return h


def _unit_indices(unit: object, target: Target) -> np.ndarray:
    many = not isinstance(unit, Integral)
    items = list(np.asarray(unit).ravel()) if many else [unit]
    if many and (isinstance(unit, str | bytes) or not items):
        raise TypeError(
            f"The 'unit' parameter of {_WHERE} must be an int or a non-empty sequence of ints "
            f"(indices within layer {target.layer!r}); got {unit!r}."
        )
    indices = []
    for item in items:
        if isinstance(item, bool | np.bool_) or not isinstance(item, Integral):
            raise TypeError(
                f"The 'unit' parameter of {_WHERE} must be an int or a sequence of ints "
                f"(indices within layer {target.layer!r}); got {unit!r}."
            )
        if not 0 <= int(item) < target.n_units:
            raise ValueError(
                f"Unit {int(item)} is out of range for layer {target.layer!r}, which has "
                f"{target.n_units} units; give indices 0 to {target.n_units - 1}."
            )
        indices.append(int(item))
    return np.asarray(indices, dtype=np.int64)


def _directions(direction: object, target: Target) -> tuple[np.ndarray, np.ndarray]:
    """Direction rows ``(k, n_units)`` over the layer's units, and their ``index`` labels."""
    index = None
    if isinstance(direction, xr.DataArray):
        direction, index = _layer_part(direction, target)
    try:
        w = np.asarray(direction, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"The 'direction' parameter of {_WHERE} must be an array of numbers; got "
            f"{type(direction).__name__}."
        ) from err
    shape = w.shape
    if w.ndim == 1:
        w = w[None, :]
    if w.ndim != 2 or w.shape[0] == 0 or w.shape[1] != target.n_units:
        raise ValueError(
            f"The 'direction' parameter of {_WHERE} must have shape ({target.n_units},) or "
            f"(n_directions, {target.n_units}) for layer {target.layer!r} "
            f"({target.n_units} units); got shape {shape}."
        )
    if not np.isfinite(w).all():
        raise ValueError(f"The 'direction' parameter of {_WHERE} must be finite; got NaN or inf.")
    if index is None or index.size != w.shape[0]:
        index = np.arange(w.shape[0])
    return w, index


def _layer_part(direction: xr.DataArray, target: Target) -> tuple[np.ndarray, np.ndarray | None]:
    """The part of a labelled direction on the target layer (``directions`` output included).

    ``factorprobe.analysis.directions.directions`` gives rows over all captured units, with a
    ``source_layer`` coordinate and zeros outside each row's own layer, and ``layer``/``index``
    coordinates naming each row's pseudo-unit.
    """
    values = np.asarray(direction.values)
    if LAYER in direction.coords:
        layers = np.unique(np.asarray(direction[LAYER].values).astype(str)).tolist()
        if layers != [target.layer]:
            raise ValueError(
                f"The 'direction' parameter of {_WHERE} holds directions of layer(s) "
                f"{', '.join(map(repr, layers))}, not {target.layer!r}; select that layer's rows, "
                f"e.g. w.sel(unit=w.layer == {target.layer!r})."
            )
    if "source_layer" in direction.coords and direction.ndim >= 1:
        source = direction["source_layer"]
        if source.dims != (direction.dims[-1],):
            raise ValueError(
                f"The 'direction' parameter of {_WHERE} needs its 'source_layer' coordinate on "
                f"its last dimension; got it on {source.dims}."
            )
        mine = np.asarray(source.values).astype(str) == target.layer
        if np.any(values[..., ~mine] != 0):
            raise ValueError(
                f"The 'direction' parameter of {_WHERE} has nonzero weights outside layer "
                f"{target.layer!r}; a saliency map differentiates one layer's activations."
            )
        values = values[..., mine]
        if "source_index" in direction.coords:
            values = values[..., np.argsort(direction["source_index"].values[mine], kind="stable")]
    index = np.atleast_1d(direction[INDEX].values) if INDEX in direction.coords else None
    return values, index


def _background(stim: xr.Dataset) -> np.ndarray:
    """Each stimulus's background intensity: the ``background`` factor, else render's attr."""
    n = stim.sizes[STIMULUS]
    if "background" in stim.coords and stim["background"].dims == (STIMULUS,):
        return np.asarray(stim["background"].values, dtype=np.float64)
    if "background" in stim.attrs:
        return np.full(n, float(stim.attrs["background"]))
    raise ValueError(
        f"method='gradient_x_input' of {_WHERE} needs the stimuli's background intensity (a "
        f"'background' attr or coordinate, as render sets); got neither."
    )


def _numpy_dtype(dtype: torch.dtype) -> type[np.floating[Any]]:
    return np.float64 if dtype == torch.float64 else np.float32


def _scalar_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in attrs.items()
        if isinstance(v, str | int | float) and not isinstance(v, bool)
    }
