"""The combined tables of a sweep: every run's unit (and layer) table stacked, with a run column."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from factorprobe.io.saved import write_frame

COMBINED = "combined_units"
#: what a sweep writes beside its run folders (a run may not have one of these names)
COMBINED_FILES = (
    f"{COMBINED}.csv",
    f"{COMBINED}.parquet",
    "combined_layers.csv",
    "report.html",  # the runs side by side (factorprobe.report.sweep)
)


def combine_runs(folders: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str]) -> Path:
    """Stack the unit (and layer) tables of several results folders, with a ``run`` column.

    Parameters
    ----------
    folders : sequence of path-like
        Results folders written by :func:`~factorprobe.pipeline.runner.run` or
        :func:`~factorprobe.pipeline.runner.analyze`; the run's name is the folder
        name.
    out : path-like
        Folder for ``combined_units.csv``, ``combined_units.parquet`` and ``combined_layers.csv``
        (the runs that decoded factors).

    Returns
    -------
    Path
        ``out / "combined_units.csv"``. Columns absent from a run (e.g. a factor it did not
        analyse) are empty in its rows.
    """
    paths = [Path(f) for f in folders]
    units = [_tagged(pd.read_parquet(f / "units.parquet"), f.name) for f in paths]
    dest = Path(out)
    combined = pd.concat(units, ignore_index=True, sort=False)
    write_frame(combined, dest / f"{COMBINED}.csv")
    write_frame(combined, dest / f"{COMBINED}.parquet")
    layers = [_tagged(pd.read_csv(f / "layers.csv"), f.name) for f in paths if _has_layers(f)]
    if layers:
        write_frame(pd.concat(layers, ignore_index=True, sort=False), dest / "combined_layers.csv")
    else:  # an earlier sweep's, which no run of this one describes
        (dest / "combined_layers.csv").unlink(missing_ok=True)
    return dest / f"{COMBINED}.csv"


def _has_layers(folder: Path) -> bool:
    return (folder / "layers.csv").is_file()


def _tagged(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    return frame.assign(run=name)[["run", *frame.columns]]
