"""Model registry: the embedded Swish CNN, timm models by name, and any ``torch.nn.Module``.

Every model is wrapped in a :class:`ProbedModel` that carries what capture needs besides the
module itself: the input size (the canvas stimuli must be rendered at), the normalisation, and a
description of the weights for the result's attrs. Sources are registered by a decorator at
import time; the registry is read-only afterwards.
"""

from __future__ import annotations

import concurrent.futures
import difflib
import json
import os
import socket
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

import torch
from torch import nn

from factorprobe._validation import check_int
from factorprobe.probing.checkpoints import (
    check_declared_network,
    file_digest,
    first_line,
    load_into,
    read_state_dict,
)
from factorprobe.probing.embedded.catalogue import (
    EMBEDDED_CARD,  # noqa: F401 (re-exported: models.EMBEDDED_CARD)
    EMBEDDED_NAME,
    EMBEDDED_TWINS,  # noqa: F401 (re-exported)
    EMBEDDED_WEIGHTS,
    TWIN_NOTES,
    check_twin,
    embedded_file,
    embedded_names,
    model_card,
    twin_of,
)

_WHERE = "load_model"
_HUB_TIMEOUT_S = 3.0


@dataclass(frozen=True, eq=False)
class ProbedModel:
    """A network ready for capture, with its input size and normalisation.

    Build one with :func:`load_model`.

    Attributes
    ----------
    module : torch.nn.Module
        The network. Capture puts it in eval mode and on the chosen device for the sweep and
        restores both afterwards; nothing else about it is changed.
    name : str
        ``"embedded"``, ``"timm:NAME"`` or the module's class name.
    input_size : (int, int)
        ``(height, width)`` of the input, in pixels: stimuli are rendered at this canvas.
    mean, std : tuple of float
        Per-channel normalisation applied to stimuli in [0, 1]; their length is the number of
        input channels.
    weights : str
        Where the weights came from (for the result's attrs).
    channels_last : bool
        Whether inputs are passed in the channels_last memory format (faster convolutions on
        CPUs; the module's own parameters are converted by :func:`load_model` for the models it
        builds, never for a module you pass).
    """

    module: nn.Module
    name: str
    input_size: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    weights: str
    channels_last: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.module, nn.Module):
            raise TypeError(
                f"ProbedModel needs a torch.nn.Module; got {type(self.module).__name__}."
            )
        object.__setattr__(self, "input_size", _as_input_size(self.input_size))
        mean = _as_floats(self.mean, "mean")
        std = _as_floats(self.std, "std")
        if len(mean) != len(std):
            raise ValueError(
                f"'mean' and 'std' of {_WHERE} need one value per input channel each; got "
                f"{len(mean)} and {len(std)} values."
            )
        if any(s <= 0 for s in std):
            raise ValueError(f"'std' of {_WHERE} must be positive; got {std}.")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    @property
    def in_chans(self) -> int:
        """Number of input channels (1 = grayscale, 3 = RGB)."""
        return len(self.mean)

    def describe(self) -> dict[str, str | int]:
        """The attrs recorded on captured activations (scalars and strings only)."""
        return {
            "model": self.name,
            "weights": self.weights,
            "input_size": f"{self.input_size[0]}x{self.input_size[1]}",
            "in_chans": self.in_chans,
            "mean": json.dumps(list(self.mean)),
            "std": json.dumps(list(self.std)),
        }


_Loader = Callable[..., ProbedModel]
_SOURCES: dict[str, tuple[_Loader, str]] = {}
_FROZEN = False


def register_source(prefix: str, description: str) -> Callable[[_Loader], _Loader]:
    """Register a model source (``"embedded"``, ``"timm"``); only used at import time."""

    def decorate(loader: _Loader) -> _Loader:
        if _FROZEN:
            raise RuntimeError(f"The model registry is read-only; cannot register {prefix!r}.")
        _SOURCES[prefix] = (loader, description)
        return loader

    return decorate


def list_models() -> Mapping[str, str]:
    """Registered model sources and how to name their models (read-only mapping).

    Examples
    --------
    >>> import factorprobe as fp
    >>> list(fp.probing.list_models())
    ['embedded', 'timm']
    """
    return MappingProxyType({prefix: text for prefix, (_, text) in _SOURCES.items()})


def load_model(
    model: str | nn.Module,
    *,
    pretrained: bool = False,
    weights: str | os.PathLike[str] | None = None,
    input_size: int | tuple[int, int] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
) -> ProbedModel:
    """Load a network for probing.

    Parameters
    ----------
    model : str or torch.nn.Module
        ``"embedded"`` (the shipped Swish CNN, see :func:`model_card`), ``"timm:NAME"`` (any
        model of ``timm.list_models()``), or a module of your own (then give ``input_size``,
        ``mean`` and ``std``).
    pretrained : bool, default=False
        timm only: download the pretrained weights from the Hugging Face hub. Fails at once,
        without waiting on the network, when the hub cannot be reached (or ``HF_HUB_OFFLINE``
        is set); give ``weights=PATH`` then.
    weights : path-like, optional
        A local checkpoint: a ``.safetensors`` file, or a state dict saved with ``torch.save``
        (loaded with ``torch.load(weights_only=True)``, so a file that would run code is
        refused). For ``"embedded"``, a file written by ``factorprobe train``.
    input_size : int or (int, int), optional
        Input side or ``(height, width)`` in pixels. Default: the embedded model's, or timm's
        data config. Required for a module of your own.
    mean, std : sequence of float, optional
        Per-channel normalisation of stimuli in [0, 1] (one value per input channel). Default:
        the model's own (timm's data config). Required for a module of your own (use
        ``mean=(0.0,), std=(1.0,)`` for none).
    model_kwargs : mapping, optional
        timm only: keyword arguments for ``timm.create_model`` (e.g. ``num_classes``).

    Returns
    -------
    ProbedModel

    Raises
    ------
    ValueError
        Unknown source or model name, bad checkpoint, or missing options for a module.
    ConnectionError
        ``pretrained=True`` and the hub cannot be reached.

    Examples
    --------
    >>> import factorprobe as fp
    >>> model = fp.probing.load_model("embedded")
    >>> model.input_size, model.in_chans
    ((224, 224), 1)
    """
    if isinstance(model, nn.Module):
        if pretrained or weights is not None or model_kwargs:
            raise TypeError(
                f"'pretrained', 'weights' and 'model_kwargs' of {_WHERE} apply to named models "
                f"only; load the weights into your {type(model).__name__} yourself."
            )
        return _load_module(model, input_size=input_size, mean=mean, std=std)
    if not isinstance(model, str):
        raise TypeError(
            f"The 'model' parameter of {_WHERE} must be a model name or a torch.nn.Module; "
            f"got {type(model).__name__}."
        )
    prefix, _, rest = model.partition(":")
    if prefix not in _SOURCES:
        valid = ", ".join(repr(f"{p}:NAME" if p == "timm" else p) for p in _SOURCES)
        raise ValueError(f"Unknown model {model!r} for {_WHERE}; valid models: {valid}.")
    loader, _ = _SOURCES[prefix]
    return loader(
        rest,
        pretrained=pretrained,
        weights=weights,
        input_size=input_size,
        mean=mean,
        std=std,
        model_kwargs=dict(model_kwargs or {}),
    )


def describe_models() -> str:
    """A few lines naming every model source, with the embedded models' held-out accuracy.

    Returns
    -------
    str
        What ``factorprobe models`` prints: each source, and under ``embedded`` the held-out
        accuracy of the default network and of each twin (``embedded:relu``, ``embedded:flat``).
    """
    lines = [f"{prefix}: {text}" for prefix, (_, text) in _SOURCES.items()]
    embedded = []
    for name in embedded_names():
        card = model_card(name)
        accuracy = ", ".join(f"{k} {v:.1%}" for k, v in card["heldout_accuracy"].items())
        what = "" if name == EMBEDDED_NAME else f"{TWIN_NOTES[name.partition(':')[2]]}; "
        embedded.append(
            f"  {name!r}: {what}held-out accuracy {accuracy} ({card['heldout_stimuli']} stimuli)"
        )
    lines[1:1] = embedded
    lines.append("any torch.nn.Module: load_model(module, input_size=..., mean=..., std=...).")
    return "\n".join(lines)


@register_source(
    EMBEDDED_NAME,
    "'embedded': factorprobe's own Swish CNN (224 px grayscale, SiLU, 3 FC layers), trained to "
    "recognise disc, square, triangle and cross; no download needed. Twins trained the same "
    "way: 'embedded:relu' (ReLU) and 'embedded:flat' (last feature map flattened into fc1).",
)
def _load_embedded(
    name: str,
    *,
    pretrained: bool,
    weights: str | os.PathLike[str] | None,
    input_size: int | tuple[int, int] | None,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    model_kwargs: dict[str, Any],
) -> ProbedModel:
    from factorprobe.probing.embedded.network import SwishCNN

    twin = twin_of(f"{EMBEDDED_NAME}:{name}" if name else EMBEDDED_NAME, _WHERE)
    full_name = f"{EMBEDDED_NAME}:{twin}" if twin else EMBEDDED_NAME
    if pretrained or model_kwargs:
        raise TypeError(
            f"'pretrained' and 'model_kwargs' of {_WHERE} apply to timm models only; the "
            f"embedded model always comes with its weights."
        )
    path = Path(weights) if weights is not None else embedded_file(EMBEDDED_WEIGHTS, twin)
    state, metadata = read_state_dict(path)
    config = _network_config(metadata, path)
    if twin:
        check_twin(config, twin, path)
    # the network the metadata declares is built without memory first, so that metadata
    # declaring a huge network is refused before anything is allocated
    if config is not None:
        with torch.device("meta"):
            declared = SwishCNN(config)
        check_declared_network(declared, state, path, "embedded")
    network = SwishCNN(config)
    load_into(network, state, path, "embedded")
    size = network.config.input_size
    if input_size is not None and _as_input_size(input_size) != (size, size):
        raise ValueError(
            f"The embedded model takes {size}x{size} px inputs; got input_size={input_size!r}. "
            f"Train one at another size with 'factorprobe train --input-size'."
        )
    network.eval().to(memory_format=torch.channels_last)
    described = f"factorprobe {full_name}" if weights is None else str(path)
    loaded = ProbedModel(
        module=network,
        name=full_name,
        input_size=(size, size),
        mean=_as_floats(
            mean if mean is not None else tuple(json.loads(metadata.get("mean", "[0.5]"))), "mean"
        ),
        std=_as_floats(
            std if std is not None else tuple(json.loads(metadata.get("std", "[0.5]"))), "std"
        ),
        weights=f"{described} (sha256 {file_digest(path)})",
        channels_last=True,
    )
    _check_channels(loaded, 1, "the embedded model", "grayscale")
    return loaded


def _network_config(metadata: dict[str, str], path: Path) -> Any:
    """The architecture recorded in a checkpoint's metadata (None: the default one)."""
    from factorprobe.probing.embedded.network import NetworkConfig

    if "config" not in metadata:
        return None
    try:
        return NetworkConfig.from_json(metadata["config"])
    except (ValueError, TypeError, KeyError) as err:
        raise ValueError(
            f"Weights {str(path)!r} declare an embedded network that cannot be built "
            f"({first_line(err)}); use a file written by 'factorprobe train'."
        ) from err


def _check_channels(model: ProbedModel, channels: int, what: str, kind: str) -> None:
    """Refuse a normalisation whose number of channels differs from the network's input."""
    if model.in_chans != channels:
        raise ValueError(
            f"'mean' and 'std' of {_WHERE} need one value per input channel, and {what} takes "
            f"{channels} ({kind}); got {len(model.mean)} values: {list(model.mean)}."
        )


@register_source(
    "timm",
    "'timm:NAME': any timm model, e.g. 'timm:efficientnet_b0' (see timm.list_models()); "
    "random init by default, pretrained=True downloads from the Hugging Face hub, "
    "weights=PATH loads a local .safetensors or state-dict file.",
)
def _load_timm(
    name: str,
    *,
    pretrained: bool,
    weights: str | os.PathLike[str] | None,
    input_size: int | tuple[int, int] | None,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    model_kwargs: dict[str, Any],
) -> ProbedModel:
    import timm
    import timm.data

    if not name or not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else "."
        raise ValueError(f"Unknown timm model {name!r} for {_WHERE}; see timm.list_models(){hint}")
    if pretrained and weights is not None:
        raise ValueError(
            f"Give either pretrained=True or weights=PATH to {_WHERE}, not both; got both for "
            f"'timm:{name}'."
        )
    if pretrained:
        _require_hub(name)
    try:
        network = timm.create_model(name, pretrained=pretrained, **model_kwargs)
    except (OSError, RuntimeError) as err:
        if not pretrained:
            raise
        raise ConnectionError(
            f"Could not download pretrained weights for 'timm:{name}' ({first_line(err)}); "
            f"download the checkpoint elsewhere and pass weights=PATH."
        ) from err
    if weights is not None:
        path = Path(weights)
        state, _ = read_state_dict(path)
        load_into(network, state, path, f"timm:{name}")
        described = f"{path} (sha256 {file_digest(path)})"
    elif pretrained:
        # a timm model carries its pretrained_cfg dict (nn.Module.__getattr__ says Tensor/Module)
        pretrained_cfg = cast("dict[str, Any]", network.pretrained_cfg)
        described = f"pretrained {pretrained_cfg.get('hf_hub_id') or name}"
    else:
        described = "random init"
    config = timm.data.resolve_model_data_config(network)
    channels, height, width = config["input_size"]
    network.eval().to(memory_format=torch.channels_last)
    loaded = ProbedModel(
        module=network,
        name=f"timm:{name}",
        input_size=_as_input_size(input_size) if input_size is not None else (height, width),
        mean=_as_floats(mean if mean is not None else tuple(config["mean"]), "mean"),
        std=_as_floats(std if std is not None else tuple(config["std"]), "std"),
        weights=described,
        channels_last=True,
    )
    _check_channels(loaded, int(channels), f"'timm:{name}'", "its in_chans")
    return loaded


def _load_module(
    module: nn.Module,
    *,
    input_size: int | tuple[int, int] | None,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
) -> ProbedModel:
    missing = [
        k for k, v in (("input_size", input_size), ("mean", mean), ("std", std)) if v is None
    ]
    if missing:
        raise ValueError(
            f"{_WHERE} needs {', '.join(repr(m) for m in missing)} for a "
            f"{type(module).__name__} module; e.g. input_size=224, mean=(0.0,), std=(1.0,) "
            f"for a grayscale input without normalisation."
        )
    return ProbedModel(
        module=module,
        name=type(module).__name__,
        input_size=input_size,  # type: ignore[arg-type]
        mean=mean,  # type: ignore[arg-type]
        std=std,  # type: ignore[arg-type]
        weights="user module",
    )


def _require_hub(name: str) -> None:
    """Fail at once unless the Hugging Face hub answers within a few seconds."""
    message = (
        f"pretrained=True for 'timm:{name}' needs the Hugging Face hub, which {{why}}; download "
        f"the checkpoint where the hub is reachable and pass weights=PATH (a .safetensors or "
        f"state-dict file)."
    )
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        raise ConnectionError(message.format(why="is switched off (HF_HUB_OFFLINE is set)"))
    endpoint = urllib.parse.urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or 443
    # Name resolution ignores socket timeouts, so the whole check runs under a deadline.
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        pool.submit(_connect, host, port).result(timeout=_HUB_TIMEOUT_S)
    except (OSError, concurrent.futures.TimeoutError) as err:
        why = f"could not be reached at {host}:{port} ({first_line(err) or 'timed out'})"
        raise ConnectionError(message.format(why=why)) from err
    finally:
        pool.shutdown(wait=False)


def _connect(host: str, port: int) -> None:
    with socket.create_connection((host, port), timeout=_HUB_TIMEOUT_S):
        pass


def _as_input_size(value: object) -> tuple[int, int]:
    if isinstance(value, Integral) and not isinstance(value, bool):
        side = check_int(value, name="input_size", where=_WHERE, minimum=1)
        return side, side
    if isinstance(value, tuple | list) and len(value) == 2:
        return (
            check_int(value[0], name="input_size", where=_WHERE, minimum=1),
            check_int(value[1], name="input_size", where=_WHERE, minimum=1),
        )
    raise TypeError(
        f"The 'input_size' parameter of {_WHERE} must be an int or a (height, width) pair of "
        f"ints, in pixels; got {value!r}."
    )


def _as_floats(value: object, name: str) -> tuple[float, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise TypeError(
            f"The {name!r} parameter of {_WHERE} must be a non-empty sequence of numbers, one "
            f"per input channel (e.g. {name}=({'1.0' if name == 'std' else '0.0'},) for one "
            f"grayscale channel); got {value!r}."
        )
    if not all(isinstance(v, Real) and not isinstance(v, bool) for v in value):
        raise TypeError(f"The {name!r} parameter of {_WHERE} must hold numbers; got {value!r}.")
    return tuple(float(v) for v in value)


_FROZEN = True


_embedded_file = embedded_file  # the old private name, which tests and scripts use
