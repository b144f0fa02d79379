"""One command from factor grid to results: capture, analyse, report, each over saved outputs.

:func:`run` reads a configuration (:mod:`factorprobe.pipeline.config`) and writes one results
folder per
run, through three stages that each read only what the stage before saved:

1. :func:`capture_run`: render the grid, run the model, write ``activations.zarr`` (or ``.nc``);
2. :func:`analyze`: from the saved activations, write the unit table (``units.csv``,
   ``units.parquet``, ``units.nc``, ``data_dictionary.csv``), ``tuning/*.nc``, the layer-level
   results (``layers.csv``, ``layers.nc``) and what the report draws (``baseline/``,
   ``response_maps/``: :mod:`factorprobe.pipeline._analysis_outputs`);
3. :func:`factorprobe.report.build.make_report`: from those files only, the plots and HTML report.

A run is built in a hidden work folder beside its results folder and renamed onto it when
complete, so the results folder is never half-written; a run killed at any point (``kill -9``
included) resumes when rerun: finished capture batches are kept, the rest is redone, and the
results are identical to an uninterrupted run's (:mod:`factorprobe.pipeline._resume`,
docs/reliability.md).
Only a folder factorprobe made (:mod:`factorprobe.pipeline._published`) is ever replaced, one run
at a time
writes a folder (:mod:`factorprobe.pipeline._lock`), and finished work is reused only when nothing
that
changes its numbers changed (:mod:`factorprobe.pipeline._fingerprint`) and its files are intact.
The ``[dask] scheduler`` (or ``scheduler=``) says where dask work runs: the unit table is computed
over the saved store chunk by chunk on it, and with a ``dask.distributed`` address the capture's
batches are spread over its workers too (docs/scale.md); the tables do not depend on it.
Several runs write ``OUT/<run>/`` each and ``OUT/combined_units.csv``. The folder layout and
every file are described in ``docs/run.md``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import xarray as xr

from factorprobe._deprecated import renamed_keyword
from factorprobe.io.files import atomic_output
from factorprobe.io.saved import (
    STORE_NAMES,
    WORK_STORE,
    find_store,
)
from factorprobe.pipeline import _resume
from factorprobe.pipeline._combine import COMBINED_FILES, combine_runs
from factorprobe.pipeline._config_checks import checked_scheduler
from factorprobe.pipeline._fingerprint import recorded_sources, run_inputs
from factorprobe.pipeline._lock import folder_lock
from factorprobe.pipeline._manifest import read_manifest, timed, total, update_manifest
from factorprobe.pipeline._progress import Progress, resolve_mode
from factorprobe.pipeline._published import (
    check_analysis_out,
    check_out_path,
    check_sweep_root,
    check_work_folder,
    reuse_or_replace,
)
from factorprobe.pipeline._stage_ablation import run_ablation
from factorprobe.pipeline._stage_analysis import UNIT_TABLE_KEYS, analyze_saved
from factorprobe.pipeline._stage_model import load_run_model
from factorprobe.pipeline._stage_stimuli import render_run, run_canvas, run_stimuli, write_sheet
from factorprobe.pipeline.config import (
    AnalysisConfig,
    RunConfig,
    dumps_config,
    load_config,
    with_output,
    with_scheduler,
)
from factorprobe.scheduler import LOCAL_SCHEDULERS

__all__ = ["analyze", "capture_run", "combine_runs", "load_run_model", "run"]

CONFIG_FILE = "config.toml"
# the unit_table keys of [analysis], under the name they had here (tests/test_config.py)
_UNIT_TABLE_KEYS = UNIT_TABLE_KEYS

ConfigLike = RunConfig | Sequence[RunConfig] | str | os.PathLike[str] | None


def run(
    config: ConfigLike = None,
    *,
    out: str | os.PathLike[str] | None = None,
    quiet: bool | None = None,
    overwrite: bool | None = None,
    scheduler: str | None = None,
    progress: str | bool | None = "auto",
) -> Path:
    """Render, capture, analyse and plot every run of a configuration; write its results folder.

    Parameters
    ----------
    config : RunConfig, list of RunConfig, path to a TOML file, or None
        None runs the default sweep: the embedded model on a 6 sizes × 7 x × 7 y disc grid,
        every fully connected layer, the default analysis (docs/run.md).
    out : path-like, optional
        Results folder; default the configuration's ``[output] folder``.
    quiet : bool, optional
        Deprecated (until the next release; warns): ``quiet=True`` is ``progress="none"``.
    overwrite : bool, optional
        Replace an existing results folder made with another configuration; default the
        configuration's ``[output] overwrite``. Only a folder factorprobe made (its marked
        ``manifest.json``) holding nothing else is ever replaced. A finished folder made with
        the same configuration and inputs (weights file, ``python:`` model source, package
        versions), whose published files are intact, is kept as it is (the run is skipped); a
        damaged or stale one is recomputed.
    scheduler : str, optional
        Where dask work runs, for every run: ``"threads"``, ``"synchronous"`` or a
        ``dask.distributed`` address such as ``"tcp://host:8786"``; default the
        configuration's ``[dask] scheduler``. Not compared when deciding reuse (the tables are
        identical on every scheduler; a capture on worker processes can differ at float32
        rounding: docs/reliability.md).
    progress : {"auto", "bars", "lines", "none"}, bool or None, default="auto"
        Progress bars, plain log lines (one per finished stage, naming the run), or nothing
        (no notes either); ``"auto"``: bars when standard error is a terminal, else lines. As
        elsewhere in factorprobe, None and True mean ``"auto"`` and False means ``"none"``.

    Returns
    -------
    Path
        The results folder: the run's own folder for one run; for several runs the folder
        holding one subfolder per run and ``combined_units.csv``/``.parquet``.

    Raises
    ------
    FileExistsError
        The results folder exists and may not be replaced: not made by factorprobe, holding
        files it did not write, or another configuration's results without ``overwrite``.
    BlockingIOError
        Another run is writing the same results folder (it holds the folder's lock).
    ValueError, TypeError, KeyError, OSError
        Invalid configuration, model, layers or factors (one-line messages).
    """
    if quiet is not None:
        renamed_keyword("run", "quiet")
        progress = "none" if quiet else progress
    # progress as the rest of the library takes it: None and True are "auto", False "none"
    named = progress if isinstance(progress, str) else ("none" if progress is False else "auto")
    mode = resolve_mode(named, False)
    configs = _as_configs(config)
    if scheduler is not None:
        scheduler = checked_scheduler(scheduler, "The 'scheduler' parameter of run")
        configs = [with_scheduler(c, scheduler) for c in configs]
    if out is not None:
        configs = [with_output(c, folder=os.fspath(out)) for c in configs]
    if overwrite is not None:
        configs = [with_output(c, overwrite=bool(overwrite)) for c in configs]
    if len(configs) == 1:
        only = configs[0]
        return _run_one(only, Path(only.output.folder), Progress(mode, only.name))
    roots = {c.output.folder for c in configs}
    if len(roots) != 1:
        raise ValueError(
            f"The runs of one configuration share one [output] folder (each run gets a "
            f"subfolder); got {sorted(roots)}."
        )
    root = Path(roots.pop())
    check_sweep_root(root, [c.name for c in configs], COMBINED_FILES)
    n = len(configs)
    folders = [
        _run_one(c, root / c.name, Progress(mode, f"[{i}/{n}] {c.name}"))
        for i, c in enumerate(configs, 1)
    ]
    combine_runs(folders, root)
    if any(c.output.plots for c in configs):
        from factorprobe.report.sweep import write_sweep_html

        write_sweep_html(root, folders)  # the runs side by side (report/sweep.py)
    return root


def capture_run(
    config: RunConfig,
    out: str | os.PathLike[str],
    *,
    progress: bool | None = None,
    quiet: bool | None = None,
) -> Path:
    """Render the run's grid and capture the model's layers; write the activations to ``out``.

    The capture streams to a zarr store batch by batch, so calling this again with the same
    configuration and ``out`` after an interruption (``kill -9`` included) resumes it: finished
    batches are not recomputed.

    Parameters
    ----------
    config : RunConfig
        Its ``stimuli``, ``model``, ``output`` and ``dask`` tables are used: with a
        ``dask.distributed`` address as ``[dask] scheduler`` the unfinished batches are spread
        over its workers, each writing its own shard of the store (``out`` must be on a file
        system they see); with a local scheduler the batches run here, one after the other.
    out : path-like
        Folder to write ``activations.zarr`` (or ``activations.nc``, captured through the hidden
        store ``.activations-capture.zarr``, removed once the file is written), with
        ``[output] plots`` a contact sheet ``plots/stimuli.png``, and with ``[output] stimuli``
        ``stimuli.nc``.
    progress : bool or None, default=None
        A progress bar (on a terminal only when None); False for none.
    quiet : bool, optional
        Deprecated (until the next release; warns): ``quiet=True`` is ``progress=False``.

    Returns
    -------
    Path
        The activations store (or NetCDF file).

    Raises
    ------
    ValueError, TypeError, KeyError, OSError
        Unknown model or layers, a grid that does not fit the canvas, or a store in ``out``
        made with another configuration (one-line messages).
    """
    from factorprobe import probing
    from factorprobe.probing.capture import model_sources

    if quiet is not None:
        renamed_keyword("capture_run", "quiet")
        progress = False if quiet else progress
    out = Path(out)
    model = load_run_model(config.model, base_dir=config.base_dir)
    space, source = run_stimuli(config, model)
    canvas = run_canvas(config, model)
    if config.output.plots:
        write_sheet(space, config, canvas, out / "plots" / "stimuli.png")
    if config.output.stimuli:
        rendered = source if isinstance(source, xr.Dataset) else render_run(space, config, canvas)
        with atomic_output(out / "stimuli.nc") as tmp:
            rendered.to_netcdf(tmp, engine="h5netcdf")
    path = out / STORE_NAMES[config.output.activations]
    store = path if config.output.activations == "zarr" else out / WORK_STORE
    reused, _ = _resume.finished_chunks(store)
    probing.capture(
        model,
        source,
        store=store,
        layers=list(config.model.layers) or None,
        activation=config.model.activation,
        batch_size=config.model.batch_size,
        device=config.model.device,
        progress=False if progress is False else f"{config.name}: capture",
        scheduler=None if config.dask.scheduler in LOCAL_SCHEDULERS else config.dask.scheduler,
    )
    _, batches = _resume.finished_chunks(store)
    sources = recorded_sources(model_sources(model.module), Path(config.base_dir))
    update_manifest(
        out, capture={"batches": batches, "batches_reused": reused}, model_sources=sources
    )
    if store != path:
        probing.to_netcdf(probing.open_activations(store, unit_chunk=None), path)
        _resume.remove(store)
    return path


def analyze(
    store: str | os.PathLike[str],
    *,
    config: AnalysisConfig | RunConfig | str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    quiet: bool = False,
    scheduler: str | None = None,
) -> Path:
    """Analyse saved activations: unit table, tuning curves and layer-level results, to files.

    The store is read lazily, chunked along ``unit``: a first pass checks every value and the
    unit table is computed chunk by chunk on ``scheduler``, with memory that does not grow with
    the number of stimuli; tuning curves, decoding, CKA, disentanglement, the random-direction
    baseline and the response maps load the values.

    Parameters
    ----------
    store : path-like
        An activations store (``activations.zarr``), a NetCDF file (``activations.nc``), or a
        results folder holding one.
    config : AnalysisConfig, RunConfig or path to a TOML file, optional
        The analysis options; default the ``config.toml`` beside the store, else the defaults.
    out : path-like, optional
        Folder to write to; default the store's folder.
    quiet : bool, default=False
        No progress bar.
    scheduler : str, optional
        Where the dask work runs: ``"threads"``, ``"synchronous"`` or a ``dask.distributed``
        address such as ``"tcp://host:8786"`` (whose workers must see the store's path);
        default the ``[dask] scheduler`` of ``config`` when it is a RunConfig or a TOML path,
        else ``"threads"`` (the ``config.toml`` beside the store records where the run ran, not
        where to analyse it now). The tables do not depend on it.

    Returns
    -------
    Path
        The folder written: ``units.csv``, ``units.parquet``, ``units.nc``,
        ``data_dictionary.csv``, ``tuning/<factor>.nc``, ``layers.csv``, ``layers.nc`` (and
        ``disentanglement.csv`` when asked), ``baseline/random_directions.nc``,
        ``baseline/basis_comparison.nc`` and ``response_maps/<factor>.nc``, with timings in
        ``manifest.json``.

    Raises
    ------
    ValueError
        The path holds no activations, or the options do not fit them, or ``out`` holds a
        ``config.toml`` with another ``[analysis]`` (its tables would no longer match it).
    OSError
        ``scheduler`` is an address where no dask scheduler answers.
    """
    path = find_store(Path(store))
    out = Path(out) if out is not None else path.parent
    _check_folder(out)
    options, configured = _analysis_config(config, path.parent)
    if scheduler is not None:
        configured = checked_scheduler(scheduler, "The 'scheduler' parameter of analyze")
    check_analysis_out(out, path.parent, options, CONFIG_FILE)
    return analyze_saved(path, options, out, scheduler=configured, quiet=quiet, label="analyze")


def _run_one(config: RunConfig, folder: Path, progress: Progress) -> Path:
    check_out_path(folder)
    # 'overwrite' is an action, not a property of the results: never part of the comparison
    resolved = dumps_config(with_output(config, overwrite=False))
    with folder_lock(folder):
        check_work_folder(_resume.partial_path(folder))
        inputs = run_inputs(config)
        same = _resume.same_saved_config(folder / CONFIG_FILE, resolved)
        overwrite = config.output.overwrite
        finished, note = reuse_or_replace(
            folder, same, inputs, overwrite=overwrite, base_dir=Path(config.base_dir)
        )
        if finished:
            progress.note(f"reused {folder}, {note} (--overwrite redoes it)")
            return folder
        if note:
            progress.note(f"recomputing {folder}: {note}")
        progress.start(f"writing {folder}")
        keep = _resume.reusable_capture(config, folder, CONFIG_FILE)
        work = _resume.prepare(folder, resolved, CONFIG_FILE, keep=keep, inputs=inputs)
        _stages(config, work, progress)
        _resume.publish(work, folder)
    return folder


def _stages(config: RunConfig, work: Path, progress: Progress) -> None:
    """Capture, analyse, ablate and report into the work folder; a failure keeps what resumes."""
    quiet = not progress.bars
    started = datetime.now(UTC).isoformat(timespec="seconds")
    timings: dict[str, dict[str, float]] = {}
    try:
        name = WORK_STORE if config.output.activations == "netcdf" else STORE_NAMES["zarr"]

        def batches() -> tuple[int, int]:  # read from the store's done flags
            return _resume.finished_chunks(work / name)

        with timed(timings, "capture"), progress.watch("capture", batches):
            store = _resume.resume_capture(
                config, work, lambda: capture_run(config, work, progress=not quiet)
            )
        captured = (read_manifest(work) or {}).get("capture", {})
        progress.stage(
            f"capture done, {captured.get('batches', 0)} batches "
            f"({captured.get('batches_reused', 0)} reused from an interrupted run), "
            f"{timings['capture']['wall_s']:.1f} s"
        )
        with timed(timings, "analyze"):
            analyze_saved(store, config.analysis, work, scheduler=config.dask.scheduler,
                     quiet=quiet, label=f"{progress.label} analyze")  # fmt: skip
        progress.stage(f"analysis done, {timings['analyze']['wall_s']:.1f} s")
        if config.ablation is not None:
            with timed(timings, "ablation"):
                run_ablation(config, work, progress=progress.bars)
            progress.stage(f"ablation done, {timings['ablation']['wall_s']:.1f} s")
        if config.output.plots:
            from factorprobe.io.files import load_netcdf
            from factorprobe.pipeline.cards import write_card_inputs
            from factorprobe.report.build import make_report
            from factorprobe.report.cards import card_units

            with timed(timings, "cards"):  # the top units' stimuli strips and saliency
                units = card_units(load_netcdf(work / "units.nc"))
                write_card_inputs(work, units, config=config)
            with timed(timings, "report"):
                make_report(work, quiet=quiet)
            progress.stage(f"report done, {timings['report']['wall_s']:.1f} s")
        _resume.remove(work / WORK_STORE)
        _resume.remove_debris(work)
        stages = {**timings, "total": total(timings)}
        update_manifest(work, run=config.name, started=started, stages=stages, final=True)
    except BaseException as err:
        _resume.discard(work, err, resumable=_resume.captured_any(config, work))
        raise


def _as_configs(config: ConfigLike) -> list[RunConfig]:
    if config is None:
        return [RunConfig()]
    if isinstance(config, RunConfig):
        return [config]
    if isinstance(config, str | os.PathLike):
        return load_config(config)
    configs = list(config)
    if not configs or not all(isinstance(c, RunConfig) for c in configs):
        raise TypeError(
            f"The 'config' parameter of run must be a RunConfig, a list of them, a TOML path or "
            f"None; got {config!r}."
        )
    return configs


def _analysis_config(config: Any, folder: Path) -> tuple[AnalysisConfig, str | None]:
    """The analysis options, and the scheduler of a configuration given explicitly."""
    if isinstance(config, AnalysisConfig):
        return config, None
    if isinstance(config, RunConfig):
        return config.analysis, config.dask.scheduler
    if config is None:
        saved = folder / CONFIG_FILE
        return (load_config(saved)[0].analysis if saved.is_file() else AnalysisConfig()), None
    if isinstance(config, str | os.PathLike):
        runs = load_config(config)
        if len(runs) != 1:
            raise ValueError(
                f"analyze needs a configuration with one run; {str(config)!r} has {len(runs)}."
            )
        return runs[0].analysis, runs[0].dask.scheduler
    raise TypeError(
        f"The 'config' parameter of analyze must be an AnalysisConfig, a RunConfig, a TOML path "
        f"or None; got {type(config).__name__}."
    )


def _check_folder(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(
            f"The output folder {str(folder)!r} is a file; choose a folder path (--out, or "
            f"[output] folder)."
        )
