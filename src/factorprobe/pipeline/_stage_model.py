"""Load the ``[model]`` of a run configuration: embedded, ``timm:NAME`` or ``python:module:fn``."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from factorprobe.pipeline.config import ModelConfig


def load_run_model(config: ModelConfig, *, base_dir: str | os.PathLike[str] = ".") -> Any:
    """Load the ``[model]`` of a configuration as a :class:`~factorprobe.probing.ProbedModel`.

    ``python:module:callable`` imports ``module`` from ``base_dir`` (the configuration file's
    folder) and nowhere else, calls ``callable(**kwargs)`` for a ``torch.nn.Module`` (or takes
    the module ``callable`` names) and loads ``weights`` into it (``.safetensors`` or a state
    dict, read without running code). Relative ``weights`` paths are relative to ``base_dir``.
    A configuration is trusted like code: it runs the code in its folder that it names.
    """
    from factorprobe import probing

    weights = None
    if config.weights is not None:
        weights = Path(config.weights)
        weights = weights if weights.is_absolute() else Path(base_dir) / weights
    common: dict[str, Any] = dict(input_size=config.input_size, mean=config.mean, std=config.std)
    if not config.name.startswith("python:"):
        extra: dict[str, Any] = {"model_kwargs": config.kwargs} if config.kwargs else {}
        return probing.load_model(
            config.name, pretrained=config.pretrained, weights=weights, **common, **extra
        )
    from factorprobe.probing.python_models import model_from_python

    module = model_from_python(config.name, config.kwargs, Path(base_dir))
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
