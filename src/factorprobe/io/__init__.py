"""Files in and out, torch-free: atomic writes, the activation store, saved results and tables.

- :mod:`factorprobe.io.files`: :func:`atomic_output` (a file appears whole or not at all),
  :func:`read_json`, :func:`load_netcdf`;
- :mod:`factorprobe.io.store`: the resumable zarr activation store
  (:func:`open_activations`, :func:`to_netcdf`);
- :mod:`factorprobe.io.saved`: a results folder's saved activations and tables;
- :mod:`factorprobe.io.tables`: the unit table as flat CSV/Parquet rows and its data dictionary;
- :mod:`factorprobe.io.toml`: reading TOML with errors that name the file and line.
"""

from __future__ import annotations

from factorprobe.io.files import atomic_output, load_netcdf, read_json
from factorprobe.io.store import open_activations, to_netcdf
from factorprobe.io.tables import data_dictionary, layer_dataframe, unit_dataframe

__all__ = [
    "atomic_output",
    "data_dictionary",
    "layer_dataframe",
    "load_netcdf",
    "open_activations",
    "read_json",
    "to_netcdf",
    "unit_dataframe",
]
