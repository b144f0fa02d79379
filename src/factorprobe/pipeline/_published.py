"""Which folders factorprobe may write, reuse or replace: the marker, and the checks made on it.

Every work folder, and so every results folder it becomes, holds a ``manifest.json`` with
``"made_by": "factorprobe"`` and ``"kind": "run"`` from the moment it is created. A folder
without that marker is never replaced, removed or resumed, ``--overwrite`` included; a marked
folder is replaced only when it holds nothing factorprobe did not write. A finished results
folder is reused only when its configuration, its inputs (:mod:`factorprobe.pipeline._fingerprint`)
and
the files it published (sizes and SHA-256 recorded in the manifest) are unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from factorprobe.pipeline._fingerprint import changed, same_inputs, sources_changed
from factorprobe.pipeline._manifest import (
    MANIFEST,
    read_manifest,
    sha256,
    update_manifest,
    walk_files,
)
from factorprobe.pipeline.config import AnalysisConfig, load_config

MADE_BY = "factorprobe"
KIND = "run"
#: redrawn by 'factorprobe report' from the tables: checked for presence, not for bytes
_REDRAWN = ("plots/", "report.html")
_SHOWN = 3  # names listed in a message
#: what a run leaves beside its results folder ``<name>``: ``.<name>.partial``, ``.<name>.lock``
_HIDDEN = (".partial", ".lock")


def mark(folder: Path, inputs: dict[str, Any]) -> None:
    """Write the marker (and the run's inputs) into a new work folder's manifest."""
    update_manifest(folder, made_by=MADE_BY, kind=KIND, inputs=inputs)


def is_marked(folder: Path) -> bool:
    """Whether ``folder`` is a real folder (not a link) that factorprobe made for a run."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    try:
        manifest = read_manifest(folder)
    except (ValueError, OSError):  # not JSON: not provably ours
        return False
    return manifest is not None and _marked(manifest)


def check_out_path(folder: Path) -> None:
    """Refuse an output path that factorprobe cannot build a run in safely (one-line errors).

    Raises
    ------
    ValueError
        The path is not valid UTF-8, or is the current folder or one that contains it.
    FileExistsError
        The path is a file or a symbolic link.
    """
    text = os.fspath(folder)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            f"The output folder {text!r} is not valid UTF-8 (its name is saved in config.toml, "
            f"which is UTF-8 text); choose a folder name in UTF-8 (--out, or [output] folder)."
        ) from None
    if folder.is_symlink():
        raise FileExistsError(
            f"The output folder {text!r} is a symbolic link; factorprobe never publishes through "
            f"one: give the folder it points to, or another path (--out, or [output] folder)."
        )
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(
            f"The output folder {text!r} is a file; choose a folder path (--out, or [output] "
            f"folder)."
        )
    cwd, target = Path.cwd().resolve(), folder.resolve()
    if target == cwd or target in cwd.parents:
        raise ValueError(
            f"The output folder {text!r} is the current folder or contains it; a run's folder is "
            f"built beside it and renamed into place as a whole, so give a new subfolder, such "
            f"as --out results."
        )


def check_sweep_root(root: Path, names: list[str], combined: tuple[str, ...]) -> None:
    """Refuse a sweep's folder that holds what a sweep did not write, or a run name that clashes.

    A sweep writes ``root/<run>/`` for each run and the ``combined`` tables beside them; the
    folder is never replaced as a whole, but it must hold nothing else (no user's files) and
    no run may be named as a combined table.

    Raises
    ------
    ValueError
        A run is named like a combined table, or the path is not valid UTF-8.
    FileExistsError
        The folder is a file or a link, or holds entries that are not this package's.
    """
    clash = sorted(set(names) & set(combined))
    if clash:
        raise ValueError(
            f"Run name {clash[0]!r} clashes with a table the sweep writes beside its runs; rename "
            f"the run (reserved names: {', '.join(map(repr, combined))})."
        )
    text = os.fspath(root)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        check_out_path(root)  # its one-line error
    if root.is_symlink() or (root.exists() and not root.is_dir()):
        check_out_path(root)
    if not root.is_dir():
        return
    entries = sorted(root.iterdir())
    runs = {p.name for p in entries if is_marked(p)}
    allowed = set(names) | runs | {f".{n}{suffix}" for n in names for suffix in _HIDDEN}
    allowed |= set(combined) if runs else set()
    extra = [p.name for p in entries if p.name not in allowed and not _hidden_of_ours(p)]
    if extra:
        raise FileExistsError(
            f"The output folder {text!r} holds files that are not factorprobe results "
            f"({_names(extra)}); a sweep writes one folder per run and its combined tables "
            f"there: choose a new or empty folder (--out, or [output] folder)."
        )


def check_work_folder(partial: Path) -> None:
    """Refuse a work folder that this package did not make (a link, a file, an unmarked folder).

    Raises
    ------
    FileExistsError
        ``partial`` is a symbolic link, another user's folder, a file, or a folder without the
        marker.
    """
    if partial.is_symlink():
        raise FileExistsError(
            f"The work folder {str(partial)!r} is a symbolic link; factorprobe never follows a "
            f"work folder it did not make: move the link away, or choose another --out."
        )
    owner = getattr(os, "getuid", None)
    if partial.is_dir() and owner is not None and partial.lstat().st_uid != owner():
        raise FileExistsError(
            f"The work folder {str(partial)!r} belongs to another user; factorprobe never "
            f"resumes or removes a work folder it did not make: choose another --out."
        )
    if partial.exists() and not is_marked(partial):
        raise FileExistsError(
            f"The work folder {str(partial)!r} exists but was not made by factorprobe (no "
            f"factorprobe manifest.json in it); factorprobe never resumes or removes such a "
            f"folder: move it away, or choose another --out."
        )


def check_analysis_out(
    out: Path, store_folder: Path, options: AnalysisConfig, config_file: str
) -> None:
    """Refuse to write tables where a ``config.toml`` would no longer describe them.

    Raises
    ------
    ValueError
        ``out`` is another run's results folder, or its ``config_file`` has another
        ``[analysis]`` than ``options``.
    """
    if is_marked(out) and out.resolve() != store_folder.resolve():
        raise ValueError(
            f"{str(out)!r} is the results folder of another run; writing these tables there "
            f"would mix two runs' results: write them to a new folder with --out (out=...)."
        )
    saved = out / config_file
    if not saved.is_file():
        return
    (before,) = load_config(saved)
    if before.analysis != options:
        raise ValueError(
            f"{str(out)!r} holds tables made with the [analysis] of its config.toml, which "
            f"differs from this one; analysing it in place would leave config.toml describing "
            f"other tables: write them to a new folder with --out (out=...)."
        )


def reuse_or_replace(
    folder: Path,
    same_config: bool,
    inputs: dict[str, Any],
    *,
    overwrite: bool,
    base_dir: Path = Path("."),
) -> tuple[bool, str]:
    """Decide what a run does with an existing results folder.

    Parameters
    ----------
    folder : Path
        The results folder (checked by :func:`check_out_path`).
    same_config : bool
        Whether its ``config.toml`` gives the same results as this run's configuration.
    inputs : dict
        This run's inputs (:func:`factorprobe.pipeline._fingerprint.run_inputs`).
    overwrite : bool
        Whether the user asked to replace a folder made with another configuration.
    base_dir : Path, default=Path(".")
        The configuration's folder, from which recorded model source paths are found.

    Returns
    -------
    (bool, str)
        True and why when the folder is finished and can be reused as it is; False and the
        reason to rebuild it otherwise (empty when there is nothing to rebuild).

    Raises
    ------
    FileExistsError
        The folder may not be replaced: not made by factorprobe, holding files factorprobe did
        not write, or holding another configuration's results without ``overwrite``.
    """
    if not folder.exists() or not any(folder.iterdir()):
        return False, ""
    manifest = read_manifest(folder) if not folder.is_symlink() else None
    if manifest is None or not _marked(manifest):
        raise FileExistsError(
            f"The output folder {str(folder)!r} is not empty and was not made by factorprobe "
            f"(no factorprobe manifest.json in it); factorprobe never replaces such a folder, "
            f"--overwrite included: choose a new or empty folder (--out, or [output] folder)."
        )
    damage = damaged(folder, manifest)
    edited = sources_changed(manifest.get("model_sources"), base_dir)
    fresh = same_inputs(manifest.get("inputs"), inputs) and edited is None
    if same_config and fresh and damage is None and not overwrite:
        return True, "finished earlier with the same configuration and inputs"
    if not same_config and not overwrite:
        raise FileExistsError(
            f"Results folder {str(folder)!r} exists and holds other results; pass --overwrite "
            f"(overwrite = true in [output]) to replace them, or choose another --out."
        )
    extra = foreign(folder, manifest)
    if extra:
        raise FileExistsError(
            f"The results folder {str(folder)!r} holds files factorprobe did not write "
            f"({_names(extra)}); move them out of it before it is replaced, or choose another "
            f"--out."
        )
    if same_config and damage is not None:
        return False, f"the folder was damaged ({damage})"
    if same_config and edited is not None:
        return False, f"the model's source {edited!r} changed"
    if same_config and not fresh:
        return False, changed(manifest.get("inputs"), inputs)
    if same_config:
        return False, "--overwrite redoes it"
    return False, "--overwrite replaces the results of another configuration"


def damaged(folder: Path, manifest: dict[str, Any]) -> str | None:
    """What differs between a finished folder and what it published; None when nothing does."""
    recorded = manifest.get("checksums")
    if "finished" not in manifest or not isinstance(recorded, dict):
        return "it never finished"
    for name, entry in recorded.items():
        path = folder / name
        if not path.is_file() or path.is_symlink():
            return f"{name} is missing"
        size, digest = entry
        if name.startswith(_REDRAWN):
            continue
        if path.stat().st_size != size:
            return f"{name} has {path.stat().st_size} bytes, {size} were published"
        if digest is not None and sha256(path) != digest:
            return f"{name} changed since it was published"
    return None


def foreign(folder: Path, manifest: dict[str, Any]) -> list[str]:
    """Files under ``folder`` that factorprobe did not publish (the user's own additions)."""
    recorded = manifest.get("checksums") or {}
    files = [name for name, _ in walk_files(folder)]
    ours = {MANIFEST, *recorded}
    return [n for n in files if n not in ours and not n.startswith(_REDRAWN)]


def _hidden_of_ours(path: Path) -> bool:
    """A hidden folder that holds the marker: a run's work folder, or replaced results."""
    return path.name.startswith(".") and is_marked(path)


def _marked(manifest: dict[str, Any]) -> bool:
    return manifest.get("made_by") == MADE_BY and manifest.get("kind") == KIND


def _names(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")
