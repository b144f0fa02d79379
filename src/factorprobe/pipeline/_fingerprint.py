"""What changes a run's numbers besides its configuration text: weights, model code, versions.

A rerun reuses finished work (a finished results folder, or the capture batches of an
interrupted one) only when its configuration *and* these inputs are the same:

- the bytes of the ``[model] weights`` file (SHA-256), so replacing the file under the same name
  recomputes;
- for a ``python:module:callable`` model, the bytes of the module's source file (SHA-256), so
  editing the model's ``forward`` recomputes; when the source cannot be found (a compiled or
  built-in module) the inputs never compare equal and nothing is reused;
- the versions of factorprobe and of the numerical packages
  (:func:`factorprobe.pipeline._manifest.versions`).

A ``python:`` model whose classes are defined in other files is covered by the capture: it records
the source files of the model's classes (:func:`factorprobe.probing.capture.model_sources`, also
part of an activations store's configuration hash), and a finished folder whose recorded sources
changed is recomputed (:func:`sources_changed`).
"""

from __future__ import annotations

import importlib.machinery
import uuid
from pathlib import Path
from typing import Any

from factorprobe.pipeline._manifest import sha256, versions
from factorprobe.pipeline.config import RunConfig

#: recorded when a python: model's source cannot be read: unequal to every other value
_UNAVAILABLE = "unavailable"


def run_inputs(config: RunConfig) -> dict[str, Any]:
    """The inputs of ``config`` that change its numbers, as JSON-ready values.

    Parameters
    ----------
    config : RunConfig
        A run; ``[model] weights`` and ``python:`` modules are found from its ``base_dir``.

    Returns
    -------
    dict
        ``weights_sha256`` (or None without a weights file), ``code_sha256`` (None unless a
        ``python:`` model) and ``versions``.
    """
    base = Path(config.base_dir)
    weights = None
    if config.model.weights is not None:
        path = Path(config.model.weights)
        path = path if path.is_absolute() else base / path
        weights = sha256(path) if path.is_file() else f"{_UNAVAILABLE}-{uuid.uuid4().hex}"
    code = None
    if config.model.name.startswith("python:"):
        code = _module_hash(config.model.name.split(":")[1], base)
    return {"weights_sha256": weights, "code_sha256": code, "versions": versions()}


def same_inputs(recorded: Any, now: dict[str, Any]) -> bool:
    """Whether recorded inputs equal ``now`` (an unreadable model source is never equal)."""
    return isinstance(recorded, dict) and recorded == now  # "unavailable-<random>" never is


def changed(recorded: Any, now: dict[str, Any]) -> str:
    """Which input differs, in words (for the line that says why a run is recomputed)."""
    if not isinstance(recorded, dict):
        return "the folder does not record its inputs"
    if recorded.get("weights_sha256") != now["weights_sha256"]:
        return "the weights file changed"
    code = str(now["code_sha256"] or "")
    if recorded.get("code_sha256") != now["code_sha256"] or code.startswith(_UNAVAILABLE):
        return "the python: model's source changed (or cannot be read)"
    before = recorded.get("versions") or {}
    names = [k for k, v in now["versions"].items() if before.get(k) != v]
    return f"package versions changed ({', '.join(names)})"


def recorded_sources(sources: dict[str, str], base: Path) -> list[list[str]]:
    """The model's source files as the manifest records them: ``[path, sha256]`` pairs, each
    path relative to the configuration's folder ``base`` when inside it (a moved project's
    folder still verifies).

    ``sources`` is :func:`factorprobe.probing.capture.model_sources`'s result.
    """
    root = base.resolve()
    pairs = []
    for path, digest in sources.items():
        where = Path(path)
        if where.is_absolute() and where.resolve().is_relative_to(root):
            where = where.resolve().relative_to(root)
        pairs.append([where.as_posix(), digest])
    return pairs


def sources_changed(recorded: Any, base: Path) -> str | None:
    """The first recorded source file of the model's classes that changed, or None.

    ``recorded`` is the manifest's ``model_sources`` (:func:`recorded_sources`); relative paths
    are found from ``base``; entries without a hash (no source file) are not checked.
    """
    for entry in recorded if isinstance(recorded, list) else []:
        path, digest = entry
        if not digest:
            continue
        where = Path(path) if Path(path).is_absolute() else base / path
        if not where.is_file() or sha256(where) != digest:
            return str(path)
    return None


def _module_hash(module: str, base: Path) -> str:
    """SHA-256 of the source file of ``module``, found as the run imports it (``base`` first)."""
    path: list[str] | None = [str(base.resolve())]
    spec = None
    for i, part in enumerate(module.split(".")):
        spec = importlib.machinery.PathFinder.find_spec(part, path)
        if spec is None and i == 0:
            spec = importlib.machinery.PathFinder.find_spec(part)  # sys.path
        if spec is None:
            break
        path = list(spec.submodule_search_locations or [])
    origin = Path(spec.origin) if spec is not None and spec.origin else None
    if origin is None or origin.suffix != ".py" or not origin.is_file():
        return f"{_UNAVAILABLE}-{uuid.uuid4().hex}"
    return sha256(origin)
