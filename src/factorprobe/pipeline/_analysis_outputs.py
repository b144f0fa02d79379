"""The analysis outputs the report draws: random-direction baseline, basis comparison, maps.

:func:`write_report_inputs` is the last part of :func:`factorprobe.pipeline.runner.analyze`. It
saves, beside the unit table, everything the report shows that is a measure, so that
:mod:`factorprobe.report` only reads files (the names are in :mod:`factorprobe.io.results`):

- ``baseline/random_directions.nc``: :data:`~factorprobe.io.results.N_DIRECTIONS` unit-norm
  random directions per layer (:func:`factorprobe.analysis.random_directions`, the table's
  seed), analysed by :func:`factorprobe.analysis.unit_table` with the unit table's own options;
- ``baseline/basis_comparison.nc``: :func:`factorprobe.analysis.basis_comparison` of the units
  against those directions for ``selectivity`` and for ``mi`` per factor, over
  ``(comparison, layer)``;
- ``response_maps/<factor>.nc``: :func:`factorprobe.analysis.response_map` of every unit over
  the factor's pair (a group's members, else the factor and x, or y), one file per factor of the
  unit table that has a pair;
- in each ``tuning/<factor>.nc`` (:func:`with_ranking`): ``mi``, every unit's bias-corrected MI
  with that factor (so the report shows the units with the most x or y information even when x
  and y are not factors of the unit table), and the design's ``replicates`` (stimuli per cell
  of the varied factors: 1 on a deterministic grid, where a tuning curve's spread over the
  other factors is their effect, not uncertainty).

Each step is timed into the manifest's ``analyze_steps`` like the others.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from factorprobe.dims import FACTOR, FACTOR_GROUPS, LAYER, STIMULUS, UNIT
from factorprobe.io.results import (
    BASELINE,
    BASIS_COMPARISON,
    MAP_VARIABLE,
    N_DIRECTIONS,
    response_map_file,
)
from factorprobe.io.saved import write_netcdf
from factorprobe.pipeline._manifest import timed

__all__ = ["map_pair", "replicates", "report_steps", "with_ranking", "write_report_inputs"]

#: the dimension of ``basis_comparison.nc`` that lists what was compared
COMPARISON = "comparison"


def report_steps(acts: xr.DataArray, factors: tuple[str, ...] | list[str]) -> list[str]:
    """Progress labels of :func:`write_report_inputs`, in the order it runs them."""
    steps = ["random directions", "basis comparison"] if LAYER in acts.coords else []
    return steps + [f"response map {f}" for f in factors if map_pair(f, acts) is not None]


def write_report_inputs(
    acts: xr.DataArray,
    table: xr.Dataset,
    out: Path,
    *,
    options: dict[str, Any],
    timings: dict[str, dict[str, float]],
    bar: Any = None,
    scheduler: Any = None,
) -> None:
    """Compute and save the baseline, the basis comparison and the response maps.

    Parameters
    ----------
    acts : DataArray
        The activations the unit table was computed from, dims ``(stimulus, unit)``.
    table : Dataset
        Their unit table.
    out : Path
        The results folder; files are written atomically under it.
    options : dict
        The keyword arguments the unit table was computed with (estimator, null, permutations,
        seed, ...), reused for the random directions.
    timings : dict
        Wall and CPU seconds per step are added under ``random_directions``,
        ``basis_comparison`` and ``response_map_<factor>``.
    bar : tqdm, optional
        Advanced by one per step.
    scheduler : optional
        Where the directions' unit table runs (as the units').
    """
    from factorprobe import analysis

    factors = [str(f) for f in table[FACTOR].values]
    if LAYER in acts.coords:
        with timed(timings, "random_directions", bar, "random directions"):
            pseudo = analysis.random_directions(acts, N_DIRECTIONS, seed=options["seed"])
            baseline = analysis.unit_table(pseudo, factors, **options, scheduler=scheduler)
        write_netcdf(baseline, out / BASELINE)
        with timed(timings, "basis_comparison", bar, "basis comparison"):
            comparison = basis_table(table, baseline)
        write_netcdf(comparison, out / BASIS_COMPARISON)
    for factor in factors:
        pair = map_pair(factor, acts)
        if pair is None:
            continue
        with timed(timings, f"response_map_{factor}", bar, f"response map {factor}"):
            maps = analysis.response_map(acts, pair)
        write_netcdf(maps.to_dataset(name=MAP_VARIABLE), out / response_map_file(factor))


def with_ranking(
    curves: xr.Dataset, acts: xr.DataArray, factor: str, options: dict[str, Any]
) -> xr.Dataset:
    """Tuning curves with every unit's MI with the factor and the design's replicates.

    Parameters
    ----------
    curves : Dataset
        :func:`factorprobe.analysis.tuning_curves` of ``factor``.
    acts : DataArray
        The activations, in memory.
    factor : str
    options : dict
        The unit table's options: its estimator, correction, quantiser, bins and seed are used
        (the correction with 100 permutations, as the table's ``correction_permutations``).

    Returns
    -------
    Dataset
        ``curves`` with ``mi`` over ``unit`` (bits, bias-corrected like the table's) and attrs
        ``replicates`` (fewest stimuli in a cell of the varied factors; 1 = a grid with one
        stimulus per cell) and ``varied`` (those factors, comma-separated).
    """
    from factorprobe.analysis import mutual_information

    keys = ("estimator", "correction", "n_bins", "quantizer", "threshold", "seed")
    mi = mutual_information(
        acts, factor, n_permutations=100, **{k: options[k] for k in keys if k in options}
    )
    count, varied = replicates(acts)
    mi = mi.drop_vars([c for c in mi.coords if c != UNIT])
    return curves.assign(mi=mi).assign_attrs(replicates=count, varied=",".join(varied))


def replicates(acts: xr.DataArray) -> tuple[int, list[str]]:
    """Fewest stimuli sharing one combination of the varied factors, and those factors."""
    # sorted: a resumed store may list its coordinates in another order (same files either way)
    varied = sorted(
        str(c)
        for c, v in acts.coords.items()
        if v.dims == (STIMULUS,) and c != STIMULUS and np.unique(v.values).size > 1
    )
    if not varied:
        return int(acts.sizes[STIMULUS]), varied
    codes = np.stack([np.unique(acts[c].values, return_inverse=True)[1] for c in varied])
    _, counts = np.unique(codes, axis=1, return_counts=True)
    return int(counts.min()), varied


def basis_table(table: xr.Dataset, baseline: xr.Dataset) -> xr.Dataset:
    """``basis_comparison`` of ``selectivity`` and of ``mi`` per factor, over (comparison, layer).

    The ``comparison`` coordinate reads ``"selectivity"`` or ``"mi · <factor>"``, with the
    ``measure`` and ``factor`` (empty for a per-unit measure) as coordinates beside it.
    """
    from factorprobe.analysis import basis_comparison

    rows, measures, factors = [], [], []
    if "selectivity" in table and "selectivity" in baseline:
        rows.append(basis_comparison(table["selectivity"], baseline["selectivity"]))
        measures.append("selectivity")
        factors.append("")
    for f in (str(f) for f in table[FACTOR].values):
        units = table["mi"].sel({FACTOR: f}, drop=True)
        rows.append(basis_comparison(units, baseline["mi"].sel({FACTOR: f}, drop=True)))
        measures.append("mi")
        factors.append(f)
    labels = [m if not f else f"{m} · {f}" for m, f in zip(measures, factors, strict=True)]
    comparison = xr.concat(rows, dim=COMPARISON, combine_attrs="drop_conflicts")
    comparison.attrs.pop("measure", None)
    return comparison.assign_coords(
        {
            COMPARISON: labels,
            "measure": (COMPARISON, measures),
            "factor": (COMPARISON, factors),
        }
    )


def map_pair(factor: str, acts: xr.DataArray) -> tuple[str, str] | None:
    """The two factors of a factor's 2-D map: a group's members, else the factor and x (or y).

    None when the activations do not vary them (the map would be one row or one cell).
    """
    varied = [
        str(c)
        for c, v in acts.coords.items()
        if v.dims == (STIMULUS,) and c != STIMULUS and np.unique(v.values).size > 1
    ]
    members = FACTOR_GROUPS.get(factor)
    if members is not None:
        if all(m in varied for m in members):
            return (members[0], members[1])
        return None
    if factor not in varied:
        return None
    partners = [p for p in ("x", "y", *varied) if p in varied and p != factor]
    return (factor, partners[0]) if partners else None
