"""Load the ``[model]`` of a run configuration: embedded, ``timm:NAME`` or ``python:module:fn``."""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import sys
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
    """Import ``python:module:attr`` from ``base_dir`` only, and make the module it names.

    A configuration is trusted like code, but only the code beside it: the module must be a
    ``.py`` file (or package) in the configuration's folder, and what it names an
    ``nn.Module``, an ``nn.Module`` class, or a function defined in that folder, so that a
    configuration cannot call into the standard library or an installed package
    (``python:subprocess:run``).
    """
    import torch.nn as nn

    _, module_name, attr = config.name.split(":")
    folder = base_dir.resolve()
    where = f"[model] name = {config.name!r}"
    top = module_name.split(".")[0]
    path = folder.joinpath(*module_name.split("."))
    files = [path.with_suffix(".py"), path / "__init__.py"]
    file = next((f for f in files if f.is_file()), None)
    if file is None or top in sys.stdlib_module_names:
        why = (
            f"{top!r} is a standard-library module, not a file of yours"
            if top in sys.stdlib_module_names
            else f"there is no {module_name.replace('.', '/')}.py"
        )
        raise ValueError(
            f"Cannot import {attr!r} from {module_name!r} for {where}: python: models are "
            f"imported only from the configuration's folder {str(folder)!r}, and {why} (a "
            f"configuration is trusted like code: it runs the code it names; docs/run.md)."
        )
    _forget_if_elsewhere(top, folder)
    added = str(folder) not in sys.path
    if added:
        sys.path.insert(0, str(folder))
    try:
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as err:
        raise ValueError(
            f"Cannot import {attr!r} from {module_name!r} for {where} (searched "
            f"{str(folder)!r}): {err}."
        ) from err
    finally:
        if added:
            sys.path.remove(str(folder))
    if isinstance(target, nn.Module):
        if config.kwargs:
            raise TypeError(
                f"{where} names a module instance, which takes no kwargs; got "
                f"{dict(config.kwargs)!r}."
            )
        return target
    if not callable(target):
        raise TypeError(f"[model] {config.name!r} is not callable; got {type(target).__name__}.")
    if not (isinstance(target, type) and issubclass(target, nn.Module)):
        defined = _defined_in(target, folder)
        if defined is not True:
            raise ValueError(
                f"{where} names {defined}, which is not defined in the configuration's folder "
                f"{str(folder)!r}; name a torch.nn.Module, an nn.Module class, or a function "
                f"defined in a .py file there that returns one."
            )
    module = target(**config.kwargs)
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"[model] {config.name!r} must return a torch.nn.Module; got {type(module).__name__}."
        )
    return module


def _forget_if_elsewhere(top: str, folder: Path) -> None:
    """Drop an imported module ``top`` from another folder (an earlier configuration's), so
    that this configuration's own file is imported; refuse to shadow an installed module."""
    loaded = sys.modules.get(top)
    if loaded is None:  # not imported yet: it must not shadow one that would be
        spec = importlib.machinery.PathFinder.find_spec(top, [p for p in sys.path if p])
        origin = spec.origin if spec is not None else None
        if origin is None or Path(origin).resolve().parent in (folder, folder / top):
            return
    else:
        origin = getattr(loaded, "__file__", None)
    ours = {(folder / f"{top}.py").resolve(), (folder / top / "__init__.py").resolve()}
    if origin is not None and Path(origin).resolve() in ours:
        return
    installed = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    if origin is None or any(Path(origin).resolve().is_relative_to(p) for p in installed):
        raise ValueError(
            f"[model] python: module {top!r} is the name of an installed module "
            f"({origin or 'built into the interpreter'}); rename your {top!r} in "
            f"{str(folder)!r}."
        )
    for name in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
        del sys.modules[name]  # (none when it was not imported)


def _defined_in(target: Any, folder: Path) -> bool | str:
    """True when the function ``target`` comes from a file under ``folder``; else its name."""
    module = sys.modules.get(getattr(target, "__module__", None) or "")
    origin = getattr(module, "__file__", None)
    if origin is not None and Path(origin).resolve().is_relative_to(folder):
        return True
    name = getattr(target, "__qualname__", None) or type(target).__name__
    return f"{getattr(target, '__module__', None) or '?'}.{name}"
