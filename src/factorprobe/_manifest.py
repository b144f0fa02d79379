"""The manifest of a results folder: package versions, stage timings (wall and CPU), file sizes."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from factorprobe.files import atomic_output

MANIFEST = "manifest.json"
_PACKAGES = ("numpy", "scipy", "xarray", "pandas", "scikit-learn", "torch", "timm", "zarr")


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


def update_manifest(folder: Path, *, final: bool = False, **entries: Any) -> None:
    """Merge ``entries`` into ``folder/manifest.json``; refresh versions and file sizes."""
    path = folder / MANIFEST
    manifest = json.loads(path.read_text()) if path.is_file() else {}
    for key, value in entries.items():
        if isinstance(value, dict) and isinstance(manifest.get(key), dict):
            manifest[key] = {**manifest[key], **value}
        else:
            manifest[key] = value
    manifest["versions"] = _versions()
    files = {p.name: _size(p) for p in sorted(folder.iterdir()) if p.name != MANIFEST}
    manifest["files"] = files
    manifest["total_bytes"] = sum(files.values())
    if final:
        manifest["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")


def _size(path: Path) -> int:
    """Bytes of a file, or of every file under a folder (a zarr store, plots/)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _versions() -> dict[str, str]:
    from factorprobe import __version__

    versions = {"factorprobe": __version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
