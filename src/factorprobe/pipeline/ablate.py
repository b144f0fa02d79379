"""The ``factorprobe ablate`` command's work: cumulative ablation written to a folder, with
plots."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import xarray as xr

from factorprobe.interventions.ablation import cumulative_ablation, dissociation_frame
from factorprobe.io.files import atomic_output
from factorprobe.probing.models import ProbedModel, load_model
from factorprobe.report.ablation_plots import plot_ablation_curves

__all__ = ["write_ablation"]


def write_ablation(
    model: ProbedModel | str,
    stimuli: Any,
    layer: str,
    ranking: Any,
    out: str | os.PathLike[str],
    *,
    plot: bool = True,
    **options: Any,
) -> dict[str, Path]:
    """Run :func:`~factorprobe.interventions.ablation.cumulative_ablation` and write its result,
    plot and dissociation table.

    Parameters
    ----------
    model : ProbedModel or str
        A model, or a name for :func:`~factorprobe.probing.load_model`.
    stimuli : Dataset, FactorSpace or path-like
        Stimuli, or a NetCDF file written by ``factorprobe stimuli``.
    layer, ranking
        As in :func:`~factorprobe.interventions.ablation.cumulative_ablation`.
    out : path-like
        Output directory: ``ablation.nc`` (NetCDF), ``ablation.png`` (with ``plot``) and
        ``dissociation.csv`` (:func:`~factorprobe.interventions.ablation.double_dissociation` on
        each measure with rankings about
        two or more of its decoded factors, a ``measure`` column first), each written atomically.
    plot : bool, default=True
    **options
        Keyword options of :func:`~factorprobe.interventions.ablation.cumulative_ablation`.

    Returns
    -------
    dict of str to Path
        ``"result"``, and ``"plot"`` and ``"dissociation"`` where written.
    """
    if isinstance(model, str):
        model = load_model(model)
    if isinstance(stimuli, str | os.PathLike):
        stimuli = xr.load_dataset(stimuli, engine="h5netcdf")
    result = cumulative_ablation(model, stimuli, layer, ranking, **options)
    folder = Path(out)
    paths = {"result": folder / "ablation.nc"}
    with atomic_output(paths["result"]) as tmp:
        result.to_netcdf(tmp, engine="h5netcdf")
    table = dissociation_frame(result)
    if table is not None:
        paths["dissociation"] = folder / "dissociation.csv"
        with atomic_output(paths["dissociation"]) as tmp:
            table.to_csv(tmp, index=False)
    if plot:
        paths["plot"] = folder / "ablation.png"
        plot_ablation_curves(result, path=paths["plot"])
    return paths
