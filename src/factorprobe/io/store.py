"""Activation stores: a zarr store written chunk by chunk (resumable), and NetCDF export.

Layout of a store (zarr format 3, readable with ``xr.open_zarr``):

- ``activations`` (``stimulus``, ``unit``), float32, in shards of ``(batch_size, all units)``
  made of inner chunks of ``(batch_size, 64 units)``: capture produces one batch of stimuli at a
  time, for every unit at once, and writes one whole shard, so a rerun can tell exactly which
  batches are finished and writers of different batches never touch the same file; a reader of
  a block of units reads only that block's inner chunks of each shard;
- ``done`` (``chunk``), one flag per stimulus chunk, set only after that chunk's activations are
  written, so a sweep killed at any point resumes without recomputing finished chunks;
- the ``stimulus`` and factor coordinates, ``layer`` and ``index`` on ``unit``, and the attrs of
  the activations, including ``config_hash``: a store made with another model, weights, layers,
  preprocessing, batch size or stimuli is refused unless ``overwrite=True``.

Analyses reduce over ``stimulus``, so they want chunks along ``unit`` with every stimulus in
one chunk; :func:`open_activations` rechunks that way on reading (``unit_chunk``), which reads
each inner chunk once in all (docs/scale.md).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import dask.array as da
import numpy as np
import xarray as xr
import zarr

from factorprobe.dims import STIMULUS, UNIT
from factorprobe.io.files import atomic_output

VARIABLE = "activations"
DONE = "done"
CHUNK_DIM = "chunk"
HASH_ATTR = "config_hash"
#: Units per inner chunk of a store (a shard holds one batch of stimuli for every unit).
STORE_UNIT_CHUNK = 64
#: Bytes of float32 responses per dask chunk that ``open_activations(unit_chunk="auto")`` aims at.
AUTO_CHUNK_BYTES = 64 << 20


class ActivationStore:
    """A zarr activations store open for writing one stimulus chunk at a time.

    Use :func:`open_store` to create or resume one.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        group = zarr.open_group(str(path), mode="r+")
        values, done = group[VARIABLE], group[DONE]
        # open_store made both arrays (or found its own store by its hash)
        assert isinstance(values, zarr.Array) and isinstance(done, zarr.Array)
        self._values, self._done = values, done
        self.chunk = int(self._values.chunks[0])
        self.n_chunks = int(self._done.shape[0])

    def done(self) -> np.ndarray:
        """Boolean flags, one per chunk: whether it is written."""
        return np.asarray(self._done[:], dtype=bool)

    def forget_missing(self) -> None:
        """Unset the ``done`` flag of chunks whose file is missing, so that they are redone."""
        for k in np.flatnonzero(self.done()):
            if not _chunk_present(self.path, int(k)):
                self._done[int(k)] = False

    def write(self, k: int, values: np.ndarray) -> None:
        """Write chunk ``k`` (stimuli ``k * chunk`` onwards), then mark it done."""
        start = k * self.chunk
        self._values[start : start + values.shape[0], :] = values
        self._done[k] = True


def open_store(
    path: str | os.PathLike[str],
    template: xr.DataArray,
    *,
    chunk: int,
    config_hash: str,
    overwrite: bool = False,
) -> ActivationStore:
    """Create a store shaped like ``template``, or reopen one made with the same configuration.

    Parameters
    ----------
    path : path-like
        The store (a directory).
    template : DataArray
        Dims ``(stimulus, unit)`` with every coordinate and attr of the result; its values are
        not read (a lazy array of zeros will do).
    chunk : int
        Stimuli per chunk.
    config_hash : str
        Identifies the configuration; recorded in the attrs and compared on reopening.
    overwrite : bool, default=False
        Replace an existing store made with another configuration. A path that holds anything
        but a factorprobe store is never replaced.

    Raises
    ------
    ValueError
        The path holds something that is not a factorprobe store, or a store made with
        another configuration and ``overwrite`` is False.
    """
    path = Path(path)
    if path.exists() or path.is_symlink():
        found = _stored_hash(path) if not path.is_symlink() else None
        if found is None:
            raise ValueError(
                f"{str(path)!r} is not a factorprobe activations store; factorprobe replaces "
                f"only stores it made (overwrite=True does not apply): choose another path."
            )
        if found == config_hash and not overwrite:
            store = ActivationStore(path)
            store.forget_missing()
            return store
        if found is not None and not overwrite:
            raise ValueError(
                f"{str(path)!r} holds a store made with a different configuration (hash "
                f"{found}, this one {config_hash}); pass overwrite=True to replace it, or "
                f"choose another path."
            )
    n_chunks = -(-template.sizes[STIMULUS] // chunk)
    data = template.copy(data=da.zeros(template.shape, chunks=(chunk, -1), dtype=np.float32))
    # Variable-length strings: zarr 3 has no specified fixed-width unicode type.
    data = data.assign_coords(
        {name: c.astype(object) for name, c in data.coords.items() if c.dtype.kind == "U"}
    )
    data.attrs[HASH_ATTR] = config_hash
    ds = data.to_dataset(name=VARIABLE)
    ds[DONE] = ((CHUNK_DIM,), da.zeros(n_chunks, chunks=1, dtype=bool))
    ds.attrs[HASH_ATTR] = config_hash
    n_units = template.sizes[UNIT]
    inner = min(STORE_UNIT_CHUNK, max(1, n_units))
    shard_units = -(-max(1, n_units) // inner) * inner
    encoding = {
        VARIABLE: {"fill_value": np.nan, "chunks": (chunk, inner), "shards": (chunk, shard_units)},
        DONE: {"fill_value": False},
    }
    with atomic_output(path) as tmp:
        ds.to_zarr(
            str(tmp), mode="w", compute=False, zarr_format=3, consolidated=False, encoding=encoding
        )
    return ActivationStore(path)


def open_activations(
    path: str | os.PathLike[str], *, unit_chunk: int | Literal["auto"] | None = "auto"
) -> xr.DataArray:
    """Open a finished activations store lazily (dask-backed).

    Parameters
    ----------
    path : path-like
        A store written by :func:`~factorprobe.probing.capture` with ``store=path``.
    unit_chunk : int, "auto" or None, default="auto"
        Units per dask chunk, with every stimulus in one chunk (what reductions over stimuli
        want); ``"auto"``: about 64 MB of float32 per chunk, a multiple of the store's 64-unit
        inner chunks (at least 64 units); None keeps the stored shards (one batch of stimuli,
        all units).

    Returns
    -------
    DataArray
        Dims ``(stimulus, unit)``, as returned by capture.

    Raises
    ------
    ValueError
        The path is not a store, or the sweep that writes it has not finished.
    """
    path = Path(path)
    if _stored_hash(path) is None:
        raise ValueError(f"{str(path)!r} is not a factorprobe activations store.")
    ds = xr.open_zarr(str(path), zarr_format=3, consolidated=False)
    done = ds[DONE].values
    if not done.all():
        raise ValueError(
            f"Store {str(path)!r} is incomplete ({int(done.sum())} of {done.size} chunks "
            f"written); rerun capture with the same arguments to resume it."
        )
    missing = [k for k in range(done.size) if not _chunk_present(path, k)]
    if missing:
        chunk = -(-ds.sizes[STIMULUS] // done.size)
        first = missing[0]
        raise ValueError(
            f"Store {str(path)!r} is damaged: the file of chunk {first} (stimuli "
            f"{first * chunk} to {min((first + 1) * chunk, ds.sizes[STIMULUS]) - 1}), "
            f"{_chunk_name(first)!r}, is missing ({len(missing)} of {done.size} chunk files "
            f"missing); capture it again (rerun the same command to redo the missing chunks)."
        )
    acts = ds[VARIABLE]
    if unit_chunk == "auto":
        per_unit = 4 * max(1, acts.sizes[STIMULUS])
        blocks = max(1, AUTO_CHUNK_BYTES // (per_unit * STORE_UNIT_CHUNK))
        acts = acts.chunk({STIMULUS: -1, UNIT: blocks * STORE_UNIT_CHUNK})
    elif unit_chunk is not None:
        acts = acts.chunk({STIMULUS: -1, UNIT: unit_chunk})
    else:
        # the stored shards: one batch of stimuli, every unit
        acts = acts.chunk({UNIT: -1})
    # Coordinates are small: load them, with strings back to numpy's fixed-width unicode.
    coords = {name: c.compute() for name, c in acts.coords.items() if name not in acts.indexes}
    acts = acts.assign_coords(
        {name: _fixed_width(c) if c.dtype.kind in "OT" else c for name, c in coords.items()}
    )
    acts.encoding = {}
    return acts


def to_netcdf(acts: xr.DataArray, path: str | os.PathLike[str]) -> Path:
    """Write activations to one NetCDF file (h5netcdf), atomically; for results that fit in memory.

    Parameters
    ----------
    acts : DataArray
        Activations from :func:`~factorprobe.probing.capture` (in memory or from a store).
    path : path-like
        The ``.nc`` file to write.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    data = acts.load().copy()
    data.encoding = {}
    for name in data.coords:
        data[name].encoding = {}
    with atomic_output(path) as tmp:
        data.to_netcdf(tmp, engine="h5netcdf")
    return path


def _fixed_width(coord: xr.DataArray) -> xr.DataArray:
    return coord.copy(data=np.array(coord.values.tolist(), dtype=str))


def _chunk_name(k: int) -> str:
    """The file of stimulus chunk ``k`` in a store (zarr 3's default chunk keys, one shard)."""
    return f"{VARIABLE}/c/{k}/0"


def _chunk_present(path: Path, k: int) -> bool:
    """Whether stimulus chunk ``k``'s file exists (True for a layout other than ours)."""
    chunks = path / VARIABLE / "c"
    return not chunks.is_dir() or (path / _chunk_name(k)).is_file()


def _stored_hash(path: Path) -> str | None:
    try:
        attrs: Mapping[str, object] = zarr.open_group(str(path), mode="r").attrs
    except Exception:  # not a zarr group at all
        return None
    value = attrs.get(HASH_ATTR)
    return str(value) if value is not None else None
