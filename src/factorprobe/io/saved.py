"""A run's saved files: the activations it reads back, the tables it writes.

:func:`open_saved` opens saved activations lazily, as a dask-backed array chunked along
``unit`` (every stimulus in one chunk), and :func:`check_values` reads them once, chunk by chunk,
refusing damaged stores and non-finite values, so the unit table can be computed chunk by chunk
with memory that does not grow with the number of stimuli; stages that need the values in
memory load them themselves.
:func:`write_frame` and :func:`write_netcdf` write tables atomically (temporary name, rename).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from factorprobe.dims import INDEX, LAYER, STIMULUS, UNIT
from factorprobe.io.files import atomic_output

#: the activations file names a results folder may hold, in the order they are looked for
STORES = ("activations.zarr", "activations.nc")
#: the activations file of each ``[output] activations`` format
STORE_NAMES = {"zarr": STORES[0], "netcdf": STORES[1]}
#: where a NetCDF run's capture streams (resumably) before the one .nc file is written
WORK_STORE = ".activations-capture.zarr"
# failures of the cluster, not of the file: reported as they are
_CLUSTER_MODULES = ("distributed", "tornado")


def find_store(path: Path) -> Path:
    """The activations at ``path``: a store, a NetCDF file, or the one a results folder holds."""
    if path.is_dir() and not (path / "zarr.json").is_file():
        found = [path / name for name in STORES if (path / name).exists()]
        if not found:
            raise ValueError(f"{str(path)!r} holds no activations; expected {' or '.join(STORES)}.")
        return found[0]
    if not path.exists():
        raise FileNotFoundError(f"No activations at {str(path)!r}.")
    return path


def open_saved(path: Path) -> xr.DataArray:
    """Open saved activations lazily, without reading their values.

    Parameters
    ----------
    path : Path
        An activations store (``.zarr``) or NetCDF file.

    Returns
    -------
    DataArray
        Dims ``(stimulus, unit)``, backed by dask, every stimulus in one chunk and about 64 MB
        of values per unit chunk (:func:`factorprobe.probing.open_activations`'s ``"auto"``).

    Raises
    ------
    ValueError
        Not a store, an incomplete store, a file that cannot be opened, or no
        ``(stimulus, unit)`` dims.
    """
    acts = _open(path)
    if not isinstance(acts, xr.DataArray) or set(acts.dims) != {STIMULUS, UNIT}:
        found = acts.dims if isinstance(acts, xr.DataArray) else type(acts).__name__
        raise ValueError(
            f"{str(path)!r} holds no activations with dims ('stimulus', 'unit'); got {found}."
        )
    return acts


def check_values(acts: xr.DataArray, path: Path, *, scheduler: Any = "threads") -> None:
    """Read every value of lazily opened activations once, chunk by chunk, keeping none.

    Counts each unit's NaN and inf values on ``scheduler`` (what ``dask.compute`` takes: a
    local scheduler's name or a ``distributed.Client``); a damaged chunk or file, or any
    non-finite value, is a ``ValueError`` naming the file (and how many values, in which units).
    """
    if acts.dtype.kind != "f":
        return
    counts = _non_finite(acts, path, scheduler)
    if counts.any():
        units = np.flatnonzero(counts)
        names = [f"{acts[LAYER].values[u]}[{acts[INDEX].values[u]}]" for u in units[:3]]
        raise ValueError(
            f"Activations in {str(path)!r} hold {int(counts.sum())} non-finite value(s) (NaN "
            f"or inf) in {units.size} unit(s), e.g. {', '.join(names)}; every value must "
            f"be finite: check the model for overflow, or capture it again."
        )


def _open(path: Path) -> Any:
    from factorprobe.io.store import AUTO_CHUNK_BYTES, STORE_UNIT_CHUNK, open_activations

    if path.is_dir():
        # a store says what it is in its own one-line errors (not a store, incomplete)
        return open_activations(path, unit_chunk="auto")
    try:
        opened = xr.open_dataarray(path, engine="h5netcdf")
    except MemoryError:
        raise
    except Exception as err:  # h5py, h5netcdf, xarray: their own types and messages
        raise _unreadable(path, err) from err
    if set(opened.dims) != {STIMULUS, UNIT}:
        return opened
    # the store's "auto" rule: ~64 MB per chunk, in multiples of 64 units
    per_unit = opened.dtype.itemsize * max(1, opened.sizes[STIMULUS])
    blocks = max(1, AUTO_CHUNK_BYTES // (per_unit * STORE_UNIT_CHUNK))
    acts = opened.chunk({STIMULUS: -1, UNIT: blocks * STORE_UNIT_CHUNK})
    coords = {name: c.compute() for name, c in acts.coords.items() if name not in acts.indexes}
    return acts.assign_coords(coords)


def _non_finite(acts: xr.DataArray, path: Path, scheduler: Any) -> np.ndarray:
    """Number of NaN or inf values per unit, computed chunk by chunk on ``scheduler``."""
    import dask
    import dask.array as da

    counts = (~da.isfinite(acts.data)).sum(axis=acts.get_axis_num(STIMULUS))
    try:
        (result,) = dask.compute(counts, scheduler=scheduler)
    except MemoryError:
        raise
    except Exception as err:  # zarr, numcodecs, h5py: their own types and messages
        if type(err).__module__.split(".")[0] in _CLUSTER_MODULES or isinstance(
            err, ConnectionError | TimeoutError
        ):
            raise
        raise _unreadable(path, err) from err
    return np.asarray(result)


def _unreadable(path: Path, err: BaseException) -> ValueError:
    first = (str(err).strip().splitlines() or [type(err).__name__])[0].rstrip(".")
    return ValueError(
        f"Cannot read the activations in {str(path)!r}: {first}; the file is damaged or "
        f"not an activations file: capture it again (rerun the same command to resume or "
        f"redo it)."
    )


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    """Write a table as ``.parquet`` or CSV (by the suffix), without the index, atomically."""
    with atomic_output(path) as tmp:
        if path.suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)


def write_netcdf(ds: xr.Dataset, path: Path) -> None:
    """Write a Dataset to NetCDF (h5netcdf; object arrays as strings), atomically."""
    ds = ds.copy()
    for name in ds.variables:
        if ds[name].dtype.kind == "O":
            ds[name] = ds[name].astype(str)
    with atomic_output(path) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf")
