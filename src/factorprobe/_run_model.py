"""Load the ``[model]`` of a run configuration: embedded, ``timm:NAME`` or ``python:module:fn``."""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from factorprobe.config import ModelConfig


def load_run_model(config: ModelConfig, *, base_dir: str | os.PathLike[str] = ".") -> Any:
    """Load the ``[model]`` of a configuration as a :class:`~factorprobe.probing.ProbedModel`.

    ``python:module:callable`` imports ``module`` (``base_dir`` is searched first, then
    ``sys.path``), calls ``callable(**kwargs)`` for a ``torch.nn.Module`` and loads ``weights``
    into it (``.safetensors`` or a state dict, read without running code). Relative ``weights``
    paths are relative to ``base_dir`` (the configuration file's folder).
    """
    from factorprobe import probing

    weights = None
    if config.weights is not None:
        weights = Path(config.weights)
        weights = weights if weights.is_absolute() else Path(base_dir) / weights
    common = dict(input_size=config.input_size, mean=config.mean, std=config.std)
    if not config.name.startswith("python:"):
        extra = {"model_kwargs": config.kwargs} if config.kwargs else {}
        return probing.load_model(
            config.name, pretrained=config.pretrained, weights=weights, **common, **extra
        )
    module = _call_python_model(config, Path(base_dir))
    if weights is not None:
        from factorprobe.probing.models import read_state_dict

        state, _ = read_state_dict(weights)
        try:
            module.load_state_dict(state)
        except RuntimeError as err:
            first = str(err).strip().splitlines()[0]
            raise ValueError(
                f"Weights {str(weights)!r} do not fit {config.name!r}: {first}"
            ) from err
    loaded = probing.load_model(module, **common)
    described = f"{weights}" if weights is not None else "as built by the callable"
    return replace(loaded, name=config.name, weights=described)


def _call_python_model(config: ModelConfig, base_dir: Path) -> Any:
    import torch.nn as nn

    _, module_name, attr = config.name.split(":")
    added = str(base_dir.resolve()) not in sys.path
    if added:
        sys.path.insert(0, str(base_dir.resolve()))
    try:
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as err:
        raise ValueError(
            f"Cannot import {attr!r} from {module_name!r} for [model] name = {config.name!r} "
            f"(searched {str(base_dir)!r} and sys.path): {err}."
        ) from err
    finally:
        if added:
            sys.path.remove(str(base_dir.resolve()))
    if not callable(target):
        raise TypeError(f"[model] {config.name!r} is not callable; got {type(target).__name__}.")
    module = target(**config.kwargs)
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"[model] {config.name!r} must return a torch.nn.Module; got {type(module).__name__}."
        )
    return module
