"""A run's work folder: built beside its results folder, kept across a kill, renamed when complete.

``factorprobe run`` writes a run into ``.<folder>.partial/`` next to the results folder
``<folder>``. The activations go there as a chunked zarr store whose ``done`` flags say which
batches are finished (:mod:`factorprobe.io.store`), so a rerun of the same configuration
after ``kill -9`` reopens the work folder, captures only the unfinished batches, redoes the
analysis and report (deterministic: the seed is in the configuration), and renames the work folder
onto ``<folder>`` in one :func:`os.replace`. The results folder therefore never exists in a
half-written state; only the hidden work folder does.

What a rerun keeps (only of a work folder that holds factorprobe's marker and recorded the same
inputs, :mod:`factorprobe.pipeline._fingerprint`: the weights file's and a ``python:`` model's
source's
bytes, the package versions; any other is refused, or started afresh):

- the same configuration (``[dask]`` aside: where dask work runs is not compared, like the
  machine or thread count, so a rerun on another scheduler resumes the same work): everything in
  the work folder (finished files are rewritten anyway);
- another configuration with the same ``[stimuli]`` and ``[model]``: the activations store only;
- anything else: nothing (the work folder is removed and started afresh).

An error in the input (``ValueError``, ``TypeError``, ``KeyError``) removes the work folder: the
same configuration would fail the same way. Any other failure (``kill``, Ctrl-C, a full disk, a
crash) keeps it when it holds finished batches, for the rerun.
"""

from __future__ import annotations

import os
import re
import shutil
import tomllib
import uuid
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import numpy as np

from factorprobe.io.files import atomic_output
from factorprobe.io.saved import STORE_NAMES, WORK_STORE
from factorprobe.pipeline._manifest import read_manifest
from factorprobe.pipeline._published import check_work_folder, is_marked, mark
from factorprobe.pipeline.config import RunConfig, load_config

PARTIAL = ".partial"
# debris of writers killed mid-write: atomic_output's '.NAME.tmp-PID-HEX' and zarr's
# 'NAME.<32 hex>.partial' (zarr's LocalStore writes each chunk to such a name, then renames it)
_DEBRIS = re.compile(r"^\..+\.tmp-\d+-[0-9a-f]{8}$|\.[0-9a-f]{32}\.partial$")
USER_ERRORS = (ValueError, TypeError, KeyError)
#: tables of a resolved configuration that do not change results (never compared)
NOT_COMPARED = ("dask",)
# hex digits naming a replaced results folder while it is removed: 32, a name no user picks
# (8 would match a date such as '.res.old-20240101')
_OLD_HEX = 32


def partial_path(folder: Path) -> Path:
    """The hidden work folder of the results folder ``folder``: ``.<name>.partial`` beside it."""
    folder = Path(os.path.abspath(folder))
    return folder.with_name(f".{folder.name}{PARTIAL}")


def prepare(
    folder: Path,
    resolved: str,
    config_file: str,
    *,
    keep: Collection[str] = (),
    inputs: dict[str, Any] | None = None,
) -> Path:
    """Create the work folder of ``folder``, or reopen the one an interrupted run left.

    Parameters
    ----------
    folder : Path
        The results folder the work folder will become.
    resolved : str
        The run's resolved configuration (TOML); saved as ``config_file`` in the work folder
        (replacing a saved one that differs only in tables that do not change results).
    config_file : str
        Name of the saved configuration.
    keep : collection of str, default=()
        Entries of an existing work folder made with another configuration to keep (its
        activations, when the caller found its ``[stimuli]`` and ``[model]`` equal to this
        run's); everything else in it is removed. Ignored when the saved configuration is
        the same (:func:`same_config`): then the whole work folder is reopened.
    inputs : dict, optional
        What else changes the numbers (:func:`factorprobe.pipeline._fingerprint.run_inputs`),
        recorded
        in the work folder's manifest with the marker; a work folder that recorded other
        inputs keeps nothing (default: no inputs beyond the configuration).

    Returns
    -------
    Path
        The work folder, holding ``config_file`` and the marker.

    Raises
    ------
    FileExistsError
        The work folder exists but factorprobe did not make it (a link, or no marker).
    """
    inputs = {} if inputs is None else inputs
    _remove_stale_old(folder)
    partial = partial_path(folder)
    check_work_folder(partial)
    saved = partial / config_file
    reusable = partial.is_dir() and saved.is_file() and _recorded_inputs(partial) == inputs
    if reusable and same_config(saved.read_text(), resolved):
        if saved.read_text() != resolved:
            _write(saved, resolved)
        return partial
    if reusable and keep:
        for entry in partial.iterdir():
            if entry.name not in keep:
                remove(entry)
    elif partial.exists():
        remove(partial)
    partial.mkdir(parents=True, exist_ok=True)
    _write(saved, resolved)
    mark(partial, inputs)
    return partial


def same_config(saved: str, resolved: str) -> bool:
    """Whether two resolved configurations (TOML) give the same results: equal but for the
    tables that only say where the work runs (:data:`NOT_COMPARED`)."""
    before, now = _compared(saved), _compared(resolved)
    return before is not None and before == now


def same_saved_config(saved: Path, resolved: str) -> bool:
    """Whether the configuration file ``saved`` (if any) gives the same results as ``resolved``."""
    if saved.is_symlink() or not saved.is_file():
        return False
    try:
        return same_config(saved.read_text(encoding="utf-8"), resolved)
    except (OSError, UnicodeDecodeError):
        return False


def resume_capture(config: RunConfig, work: Path, capture: Callable[[], Path]) -> Path:
    """Run ``capture`` into the work folder, resuming what an interrupted attempt left there;
    the activations path it returns (a finished NetCDF file is returned as it is)."""
    if config.output.activations == "netcdf" and (work / STORE_NAMES["netcdf"]).is_file():
        return work / STORE_NAMES["netcdf"]  # written last by the capture: it had finished
    resumed = captured_any(config, work)
    try:
        return capture()
    except USER_ERRORS:
        if not resumed:
            raise
    # The store left by the interrupted attempt no longer fits (e.g. the weights file or the
    # python: model's code changed since): start the capture afresh, once.
    for name in (STORE_NAMES[config.output.activations], WORK_STORE):
        remove(work / name)
    return capture()


def captured_any(config: RunConfig, work: Path) -> bool:
    """Whether the work folder holds finished capture batches (worth keeping for a rerun)."""
    if config.output.activations == "netcdf" and (work / STORE_NAMES["netcdf"]).is_file():
        return True
    return any(finished_chunks(work / n)[0] for n in (STORE_NAMES["zarr"], WORK_STORE))


def reusable_capture(config: RunConfig, folder: Path, config_file: str) -> tuple[str, ...]:
    """The capture outputs of an interrupted run with another configuration worth keeping: all
    of them when its stimuli, model and activation format equal this run's, else none."""
    try:
        (before,) = load_config(partial_path(folder) / config_file)
    except (OSError, ValueError, TypeError, KeyError):
        return ()
    same = (before.stimuli, before.model) == (config.stimuli, config.model)
    if not same or before.output.activations != config.output.activations:
        return ()
    return (*STORE_NAMES.values(), WORK_STORE)


def finished_chunks(store: Path) -> tuple[int, int]:
    """``(finished, total)`` batches of an activations store; ``(0, 0)`` when there is none."""
    import zarr

    try:
        flags = zarr.open_group(str(store), mode="r")["done"]
        assert isinstance(flags, zarr.Array)  # a group there is no store of ours either
        done = np.asarray(flags[:], dtype=bool)
    except Exception:  # absent, or a store whose creation was interrupted: nothing to reuse
        return 0, 0
    return int(done.sum()), int(done.size)


def discard(partial: Path, err: BaseException, *, resumable: bool) -> None:
    """After a failure: remove the work folder unless ``resumable`` and not an input error."""
    if isinstance(err, USER_ERRORS) or not resumable:
        remove(partial)


def remove_debris(folder: Path) -> None:
    """Remove what writers killed mid-write left under ``folder`` (never a finished output)."""
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if _DEBRIS.search(path.name):
            remove(path)


def publish(partial: Path, folder: Path) -> None:
    """Rename the finished work folder onto ``folder`` (replacing an existing one).

    An existing ``folder`` is first renamed to a hidden ``.<name>.old-*`` and removed after the
    swap, so at every instant ``folder`` is either the old complete results, absent, or the new
    complete results; a kill in between leaves the work folder for the rerun.
    """
    remove_debris(partial)
    old = None
    if folder.exists() or folder.is_symlink():
        hex_id = uuid.uuid4().hex
        old = Path(os.path.abspath(folder)).with_name(f".{folder.name}.old-{hex_id}")
        os.replace(folder, old)
    os.replace(partial, folder)
    if old is not None:
        remove(old)


def _compared(text: str) -> dict[str, Any] | None:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None
    return {k: v for k, v in raw.items() if k not in NOT_COMPARED}


def _write(path: Path, text: str) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(text)


def _recorded_inputs(partial: Path) -> Any:
    try:
        manifest = read_manifest(partial)
    except ValueError:
        return None
    return (manifest or {}).get("inputs")


def _remove_stale_old(folder: Path) -> None:
    """Remove the replaced results that :func:`publish` renamed aside and a kill left: only
    folders named exactly as it names them, that are not links and hold the marker."""
    folder = Path(os.path.abspath(folder))
    if not folder.parent.is_dir():
        return
    name = re.compile(rf"^\.{re.escape(folder.name)}\.old-[0-9a-f]{{{_OLD_HEX}}}$")
    for old in folder.parent.iterdir():
        if name.match(old.name) and not old.is_symlink() and _is_ours(old):
            remove(old)


def _is_ours(path: Path) -> bool:
    try:
        return is_marked(path) or (path.is_dir() and not any(path.iterdir()))
    except ValueError:  # an unreadable manifest: not provably ours, so left alone
        return False


def remove(path: Path) -> None:
    """Remove a file or a folder tree (missing is fine)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
