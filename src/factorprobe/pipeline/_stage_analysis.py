"""The analysis stage: from saved activations, the unit table, tuning and layer results, to files.

:func:`analyze_saved` is :func:`factorprobe.pipeline.runner.analyze` once its arguments are
checked, and the ``analyze`` stage of :func:`factorprobe.pipeline.runner.run`; the files it writes
are listed in docs/run.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import xarray as xr
from tqdm.auto import tqdm

from factorprobe.dims import LAYER
from factorprobe.io.results import ACTIVATIONS
from factorprobe.io.saved import check_values, find_store, open_saved, write_frame, write_netcdf
from factorprobe.pipeline._analysis_outputs import (
    report_steps,
    with_ranking,
    write_report_inputs,
)
from factorprobe.pipeline._manifest import timed, total, update_manifest
from factorprobe.pipeline.config import AnalysisConfig
from factorprobe.scheduler import scheduler_for

__all__ = ["UNIT_TABLE_KEYS", "analyze_saved"]

# the [analysis] keys that are unit_table's parameters by the same names
UNIT_TABLE_KEYS = (
    *("compare", "estimator", "correction", "significance", "null", "n_permutations", "n_bins"),
    *("quantizer", "threshold", "alpha", "family_wise", "pid", "seed"),
)


def analyze_saved(
    path: Path,
    options: AnalysisConfig,
    out: Path,
    *,
    scheduler: str | None,
    quiet: bool,
    label: str,
) -> Path:
    """:func:`analyze` once its arguments are checked; ``label`` names its progress bar."""
    from factorprobe import analysis
    from factorprobe.io.tables import data_dictionary, layer_dataframe, unit_dataframe

    path = find_store(Path(path))
    scheduler = scheduler or "threads"
    acts = open_saved(path)
    seed = options.seed
    steps = ["unit table", *[f"tuning {f}" for f in options.tuning]]
    steps += [f"decoding {name}" for name in _layer_names(acts)] if options.decode else []
    steps += ["cka"] * options.cka + ["disentanglement"] * options.disentanglement
    steps += report_steps(acts, options.factors)
    unit_table_options = {key: getattr(options, key) for key in UNIT_TABLE_KEYS}
    timings: dict[str, dict[str, float]] = {}
    bar = tqdm(total=len(steps), desc=label, unit="step", disable=_disable(quiet))
    with scheduler_for(scheduler) as chosen, bar:
        with timed(timings, "unit_table", bar, "unit table"):
            check_values(acts, path, scheduler=chosen)
            table = analysis.unit_table(
                acts, options.factors, **unit_table_options, scheduler=chosen
            )
        if len(steps) > 1:
            with timed(timings, "load"):  # every step below works in memory
                acts = acts.load()
        frame = unit_dataframe(table)
        write_frame(frame, out / "units.csv")
        write_frame(frame, out / "units.parquet")
        write_frame(data_dictionary(table), out / "data_dictionary.csv")
        write_netcdf(table, out / "units.nc")
        for factor in options.tuning:
            with timed(timings, f"tuning_{factor}", bar, f"tuning {factor}"):
                curves = analysis.tuning_curves(acts, factor, n_boot=options.n_boot, seed=seed)
                curves = with_ranking(curves, acts, factor, unit_table_options)
            write_netcdf(curves, out / "tuning" / f"{factor}.nc")
        layers = xr.Dataset()
        if options.decode:
            parts = []
            for name in _layer_names(acts):
                with timed(timings, f"decoding_{name}", bar, f"decoding {name}"):
                    one = acts.isel(unit=acts[LAYER].values == name)
                    parts.append(
                        analysis.decoding(
                            one,
                            options.decode,
                            C=options.decode_c,
                            n_splits=options.n_splits,
                            seed=seed,
                        )
                    )
            layers = xr.concat(parts, dim=LAYER, combine_attrs="override")
            write_frame(layer_dataframe(layers), out / "layers.csv")
        if options.cka:
            with timed(timings, "cka", bar, "cka"):
                layers["cka"] = analysis.cka(acts)
        if options.disentanglement:
            with timed(timings, "disentanglement", bar, "disentanglement"):
                scores = analysis.disentanglement(acts, [f for f in options.decode], seed=seed)
            write_frame(scores.to_dataframe().reset_index(), out / "disentanglement.csv")
        if layers.data_vars:
            write_netcdf(layers, out / "layers.nc")
        write_report_inputs(
            acts, table, out, options=unit_table_options, timings=timings, bar=bar,
            scheduler=chosen,
        )  # fmt: skip
    # where the activations are, so the report of an analysis written elsewhere finds them
    # (typed as update_manifest's **entries: Any, so the key cannot be taken for 'final')
    where: dict[str, Any] = (
        {ACTIVATIONS: str(path.resolve())} if path.parent.resolve() != out.resolve() else {}
    )
    update_manifest(
        out,
        stages={"analyze": total(timings)},
        analyze_steps=timings,
        scheduler=scheduler,
        **where,
    )
    return out


# ---------------------------------------------------------------------------------------------


def _layer_names(acts: xr.DataArray) -> list[str]:
    return list(dict.fromkeys(str(v) for v in acts[LAYER].values))


def _disable(quiet: bool) -> bool | None:
    """tqdm's ``disable``: None shows a bar only when standard error is a terminal."""
    return True if quiet else None
