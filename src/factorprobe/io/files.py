"""File input and output that never half-writes a file, nor hides which file failed.

Every output is written under a temporary name and renamed when complete (:func:`atomic_output`):
a crash, an exception or ``kill -9`` therefore never leaves a half-written output behind
(DESIGN.md section 9); at worst a hidden ``.NAME.tmp-*`` file remains, which the next write
of the same output replaces.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block succeeds.

    Parameters
    ----------
    path : path-like
        The final output (a file, or a directory such as a zarr store). Its parent directory
        is created if missing. An existing output is replaced only once the new one is complete.

    Yields
    ------
    Path
        Where to write. On error the temporary output is removed and the error re-raised.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "table.csv"
    >>> with atomic_output(out) as tmp:
    ...     _ = tmp.write_text("a,b\\n1,2\\n")
    >>> out.read_text()
    'a,b\\n1,2\\n'
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        _remove(tmp)
        raise


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file; a file that is not JSON is a ``ValueError`` naming it.

    Parameters
    ----------
    path : path-like
        The file (UTF-8 JSON).

    Returns
    -------
    Any
        The decoded value.

    Raises
    ------
    ValueError
        The file is not valid UTF-8 JSON; the message names the file and where it broke.
    OSError
        The file cannot be read.
    """
    path = Path(path)
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ValueError(
            f"Cannot read {str(path)!r} as JSON ({first}); the file is damaged: restore it, "
            f"or rerun the command that wrote it."
        ) from err


def load_netcdf(path: str | os.PathLike[str], *, array: bool = False) -> Any:
    """Read a NetCDF file (h5netcdf) into memory; a file that cannot be read names itself.

    Parameters
    ----------
    path : path-like
        A ``.nc`` file written by factorprobe.
    array : bool, default=False
        Read its one variable as a DataArray (``xr.open_dataarray``), as ``activations.nc``.

    Returns
    -------
    Dataset or DataArray
        Loaded into memory, the file closed.

    Raises
    ------
    ValueError
        The file is damaged or not NetCDF; the message names it.
    """
    import xarray as xr

    path = Path(path)
    opener = xr.open_dataarray if array else xr.open_dataset
    try:
        with opener(path, engine="h5netcdf") as opened:
            return opened.load()
    except MemoryError:
        raise
    except Exception as err:  # h5py, h5netcdf, xarray: their own types and messages
        if isinstance(err, FileNotFoundError):
            raise
        first = (str(err).strip().splitlines() or [type(err).__name__])[0].rstrip(".")
        raise ValueError(
            f"Cannot read {str(path)!r} as NetCDF ({first}); the file is damaged: rerun the "
            f"command that wrote it."
        ) from err


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
