"""Find and read a run's saved activations; damaged stores and non-finite values are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from factorprobe.dims import INDEX, LAYER, STIMULUS, UNIT

#: the activations file names a results folder may hold, in the order they are looked for
STORES = ("activations.zarr", "activations.nc")


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


def read_activations(path: Path) -> xr.DataArray:
    """Load saved activations; a store that cannot be read or holds NaN or inf is refused."""
    from factorprobe.probing.store import open_activations

    # opening checks what the store is (its own one-line errors); reading shows damaged data
    lazy = open_activations(path) if path.is_dir() else None
    try:
        if lazy is not None:
            acts = lazy.load()
        else:
            with xr.open_dataarray(path, engine="h5netcdf") as opened:
                acts = opened.load()
    except MemoryError:
        raise
    except Exception as err:  # zarr, numcodecs, h5py: their own types and messages
        first = (str(err).strip().splitlines() or [type(err).__name__])[0].rstrip(".")
        raise ValueError(
            f"Cannot read the activations in {str(path)!r}: {first}; the file is damaged or "
            f"not an activations file: capture it again (rerun the same command to resume or "
            f"redo it)."
        ) from err
    if not isinstance(acts, xr.DataArray) or set(acts.dims) != {STIMULUS, UNIT}:
        found = acts.dims if isinstance(acts, xr.DataArray) else type(acts).__name__
        raise ValueError(
            f"{str(path)!r} holds no activations with dims ('stimulus', 'unit'); got {found}."
        )
    if acts.dtype.kind == "f":
        bad = ~np.isfinite(acts.values)
        if bad.any():
            units = np.flatnonzero(bad.any(axis=acts.get_axis_num(STIMULUS)))
            names = [f"{acts[LAYER].values[u]}[{acts[INDEX].values[u]}]" for u in units[:3]]
            raise ValueError(
                f"Activations in {str(path)!r} hold {int(bad.sum())} non-finite value(s) (NaN "
                f"or inf) in {units.size} unit(s), e.g. {', '.join(names)}; every value must "
                f"be finite: check the model for overflow, or capture it again."
            )
    return acts
