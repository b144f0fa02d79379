"""The manifest of a results folder: versions, stage timings (wall and CPU), sizes, checksums.

``manifest.json`` is also how factorprobe recognises a folder it made (``"made_by":
"factorprobe"``, written when the run's work folder is created:
:mod:`factorprobe.pipeline._published`)
and, once the run has finished, what it published: ``"checksums"`` gives every file's size and
SHA-256, checked before a rerun calls the folder finished.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from factorprobe.io.files import atomic_output, read_json

MANIFEST = "manifest.json"
_PACKAGES = ("numpy", "scipy", "xarray", "pandas", "scikit-learn", "torch", "timm", "zarr")
#: files inside these folders are recorded by size only: a zarr store checks its own chunks
_SIZE_ONLY_SUFFIX = ".zarr"


@contextmanager
def timed(
    timings: dict[str, dict[str, float]], key: str, bar: Any = None, label: str = ""
) -> Iterator[None]:
    """Record the block's wall and CPU seconds (this process, all threads) under ``key``."""
    if bar is not None:
        bar.set_postfix_str(label)
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    timings[key] = {
        "wall_s": round(time.perf_counter() - wall, 3),
        "cpu_s": round(time.process_time() - cpu, 3),
    }
    if bar is not None:
        bar.update(1)


def total(timings: dict[str, dict[str, float]]) -> dict[str, float]:
    """Summed wall and CPU seconds of several timings."""
    return {k: round(sum(t[k] for t in timings.values()), 3) for k in ("wall_s", "cpu_s")}


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """``folder/manifest.json`` as a dict; None when there is none.

    Raises
    ------
    ValueError
        The file is not a JSON object (the message names it).
    """
    path = folder / MANIFEST
    if not path.is_file():
        return None
    manifest = read_json(path)
    if not isinstance(manifest, dict):
        raise ValueError(
            f"{str(path)!r} is not a factorprobe manifest (a JSON object); got "
            f"{type(manifest).__name__}."
        )
    return manifest


def update_manifest(folder: Path, *, final: bool = False, **entries: Any) -> None:
    """Merge ``entries`` into ``folder/manifest.json``; refresh versions, sizes and checksums.

    With ``final``, or when the manifest already holds checksums (a published folder that
    :func:`factorprobe.pipeline.runner.analyze` rewrites in place), every file's size and SHA-256
    are
    recorded again under ``"checksums"``.
    """
    path = folder / MANIFEST
    manifest = read_manifest(folder) or {}
    for key, value in entries.items():
        if isinstance(value, dict) and isinstance(manifest.get(key), dict):
            manifest[key] = {**manifest[key], **value}
        else:
            manifest[key] = value
    manifest["versions"] = versions()
    files = {p.name: _size(p) for p in sorted(folder.iterdir()) if p.name != MANIFEST}
    manifest["files"] = files
    manifest["total_bytes"] = sum(files.values())
    if final:
        manifest["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    if final or "checksums" in manifest:
        manifest["checksums"] = checksums(folder)
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")


def checksums(folder: Path) -> dict[str, list[Any]]:
    """Every file under ``folder`` but the manifest: relative path -> ``[bytes, sha256]``.

    Files inside a zarr store (``*.zarr/``) get ``None`` for the hash: their sizes are
    recorded, and zarr checks each chunk's own checksum when it reads it. Symbolic links are
    not followed.
    """
    found: dict[str, list[Any]] = {}
    for relative, path in walk_files(folder):
        if relative == MANIFEST:
            continue
        in_store = any(part.endswith(_SIZE_ONLY_SUFFIX) for part in Path(relative).parts[:-1])
        found[relative] = [path.lstat().st_size, None if in_store else sha256(path)]
    return found


def walk_files(folder: Path) -> Iterator[tuple[str, Path]]:
    """``(relative path with '/', path)`` of every file under ``folder``, in sorted order."""
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(names):
            path = Path(root) / name
            yield path.relative_to(folder).as_posix(), path


def sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def versions() -> dict[str, str]:
    """factorprobe's, Python's and the numerical packages' versions."""
    from factorprobe._version import __version__

    found = {"factorprobe": __version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def _size(path: Path) -> int:
    """Bytes of a file, or of every file under a folder (a zarr store, plots/)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
