"""Models from a configuration's own folder: ``[model] name = "python:module:attr"``.

A configuration is trusted like code, but only the code beside it: the module is imported from
the configuration's folder and nowhere else, and what it names must be an ``nn.Module``, an
``nn.Module`` class, or a function defined there (docs/run.md).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

__all__ = ["model_from_python"]


def model_from_python(name: str, kwargs: Mapping[str, Any], base_dir: Path) -> nn.Module:
    """Import ``python:module:attr`` from ``base_dir`` only, and make the module it names.

    Parameters
    ----------
    name : str
        ``"python:module:attr"``, as in a configuration's ``[model] name``.
    kwargs : mapping
        Keyword arguments for the callable (none for a module instance).
    base_dir : Path
        The configuration's folder: the only place the module is imported from.

    A configuration is trusted like code, but only the code beside it: the module must be a
    ``.py`` file (or package) in the configuration's folder, and what it names an
    ``nn.Module``, an ``nn.Module`` class, or a function defined in that folder, so that a
    configuration cannot call into the standard library or an installed package
    (``python:subprocess:run``).
    """
    _, module_name, attr = name.split(":")
    folder = base_dir.resolve()
    where = f"[model] name = {name!r}"
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
        if kwargs:
            raise TypeError(
                f"{where} names a module instance, which takes no kwargs; got "
                f"{dict(kwargs)!r}."
            )
        return target
    if not callable(target):
        raise TypeError(f"[model] {name!r} is not callable; got {type(target).__name__}.")
    if not (isinstance(target, type) and issubclass(target, nn.Module)):
        defined = _defined_in(target, folder)
        if defined is not True:
            raise ValueError(
                f"{where} names {defined}, which is not defined in the configuration's folder "
                f"{str(folder)!r}; name a torch.nn.Module, an nn.Module class, or a function "
                f"defined in a .py file there that returns one."
            )
    module = target(**kwargs)
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"[model] {name!r} must return a torch.nn.Module; got {type(module).__name__}."
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
