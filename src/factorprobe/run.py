"""One command from factor grid to results: capture, analyse, report, each over saved outputs.

:func:`run` reads a configuration (:mod:`factorprobe.config`) and writes one results folder per
run, through three stages that each read only what the stage before saved:

1. :func:`capture_run`: render the grid, run the model, write ``activations.zarr`` (or ``.nc``);
2. :func:`analyze`: from the saved activations, write the unit table (``units.csv``,
   ``units.parquet``, ``units.nc``, ``data_dictionary.csv``), ``tuning/*.nc`` and the layer-level
   results (``layers.csv``, ``layers.nc``);
3. :func:`factorprobe.report.build.make_report`: from those files, the plots (and HTML report).

A results folder is built under a temporary name and renamed when complete, so a failure leaves
no half-written folder. Several runs write ``OUT/<run>/`` each and ``OUT/combined_units.csv``.
The folder layout and every file are described in ``docs/run.md``.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from factorprobe.config import (
    AnalysisConfig,
    ModelConfig,
    RunConfig,
    dumps_config,
    load_config,
    with_output,
)
from factorprobe.dims import LAYER
from factorprobe.files import atomic_output

__all__ = ["analyze", "capture_run", "combine_runs", "load_run_model", "run"]

CONFIG_FILE = "config.toml"
MANIFEST = "manifest.json"
STORES = {"zarr": "activations.zarr", "netcdf": "activations.nc"}
COMBINED = "combined_units"
_PACKAGES = ("numpy", "scipy", "xarray", "pandas", "scikit-learn", "torch", "timm", "zarr")

ConfigLike = RunConfig | Sequence[RunConfig] | str | os.PathLike[str] | None


def run(
    config: ConfigLike = None,
    *,
    out: str | os.PathLike[str] | None = None,
    quiet: bool = False,
    overwrite: bool | None = None,
) -> Path:
    """Render, capture, analyse and plot every run of a configuration; write its results folder.

    Parameters
    ----------
    config : RunConfig, list of RunConfig, path to a TOML file, or None
        None runs the default sweep: the embedded model on a 6 sizes × 7 x × 7 y disc grid,
        every fully connected layer, the default analysis (docs/run.md).
    out : path-like, optional
        Results folder; default the configuration's ``[output] folder``.
    quiet : bool, default=False
        No progress bars (they are also off when standard error is not a terminal).
    overwrite : bool, optional
        Replace an existing results folder made with another configuration; default the
        configuration's ``[output] overwrite``. A folder made with the same configuration is
        kept as it is (the run is skipped).

    Returns
    -------
    Path
        The results folder: the run's own folder for one run; for several runs the folder
        holding one subfolder per run and ``combined_units.csv``/``.parquet``.

    Raises
    ------
    FileExistsError
        The results folder exists, holds another configuration's results, and ``overwrite`` is
        not set.
    ValueError, TypeError, KeyError, OSError
        Invalid configuration, model, layers or factors (one-line messages).
    """
    configs = _as_configs(config)
    if out is not None:
        configs = [with_output(c, folder=os.fspath(out)) for c in configs]
    if overwrite is not None:
        configs = [with_output(c, overwrite=bool(overwrite)) for c in configs]
    if len(configs) == 1:
        return _run_one(configs[0], Path(configs[0].output.folder), quiet=quiet)
    roots = {c.output.folder for c in configs}
    if len(roots) != 1:
        raise ValueError(
            f"The runs of one configuration share one [output] folder (each run gets a "
            f"subfolder); got {sorted(roots)}."
        )
    root = Path(roots.pop())
    folders = [_run_one(c, root / c.name, quiet=quiet) for c in configs]
    combine_runs(folders, root)
    return root


def capture_run(config: RunConfig, out: str | os.PathLike[str], *, quiet: bool = False) -> Path:
    """Render the run's grid and capture the model's layers; write the activations to ``out``.

    Parameters
    ----------
    config : RunConfig
        Its ``stimuli``, ``model`` and ``output`` tables are used.
    out : path-like
        Folder to write ``activations.zarr`` (or ``activations.nc``), ``plots/stimuli.png``
        (a contact sheet) and, with ``[output] stimuli = true``, ``stimuli.nc``.

    Returns
    -------
    Path
        The activations store.
    """
    from factorprobe import probing, stimuli

    out = Path(out)
    model = load_run_model(config.model, base_dir=config.base_dir)
    height, width = model.input_size
    canvas = config.stimuli.canvas or (height if height == width else (height, width))
    space = stimuli.grid(canvas=canvas, on_misfit=config.stimuli.on_misfit, **_levels(config))
    plain = (config.stimuli.background, config.stimuli.foreground) == (0.0, 1.0)
    if plain and config.stimuli.canvas in (None, height) and height == width:
        source: Any = space  # rendered batch by batch, overlapping inference
    else:
        source = _render(space, config, canvas, model.in_chans)
    _write_sheet(space, config, canvas, out / "plots" / "stimuli.png")
    if config.output.stimuli:
        rendered = source if isinstance(source, xr.Dataset) else _render(space, config, canvas, 1)
        with atomic_output(out / "stimuli.nc") as tmp:
            rendered.to_netcdf(tmp, engine="h5netcdf")
    show = _show(quiet)
    layers = list(config.model.layers) or None
    options = dict(
        layers=layers,
        activation=config.model.activation,
        batch_size=config.model.batch_size,
        device=config.model.device,
        progress=show,
    )
    path = out / STORES[config.output.activations]
    if config.output.activations == "zarr":
        probing.capture(model, source, store=path, **options)
    else:
        probing.to_netcdf(probing.capture(model, source, **options), path)
    return path


def analyze(
    store: str | os.PathLike[str],
    *,
    config: AnalysisConfig | RunConfig | str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    quiet: bool = False,
) -> Path:
    """Analyse saved activations: unit table, tuning curves and layer-level results, to files.

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

    Returns
    -------
    Path
        The folder written: ``units.csv``, ``units.parquet``, ``units.nc``,
        ``data_dictionary.csv``, ``tuning/<factor>.nc``, ``layers.csv``, ``layers.nc`` (and
        ``disentanglement.csv`` when asked), with timings in ``manifest.json``.

    Raises
    ------
    ValueError
        The path holds no activations, or the options do not fit them.
    """
    from factorprobe import analysis
    from factorprobe.tables import data_dictionary, layer_dataframe, unit_dataframe

    path = _find_store(Path(store))
    out = Path(out) if out is not None else path.parent
    options = _analysis_config(config, path.parent)
    acts = _open_activations(path)
    seed = options.seed
    steps = ["unit table", *[f"tuning {f}" for f in options.tuning]]
    steps += [f"decoding {name}" for name in _layer_names(acts)] if options.decode else []
    steps += ["cka"] * options.cka + ["disentanglement"] * options.disentanglement
    timings: dict[str, dict[str, float]] = {}
    with tqdm(total=len(steps), desc="analyze", unit="step", disable=not _show(quiet)) as bar:
        with _timed(timings, "unit_table", bar, "unit table"):
            table = analysis.unit_table(
                acts,
                options.factors,
                compare=options.compare,
                estimator=options.estimator,
                correction=options.correction,
                significance=options.significance,
                n_permutations=options.n_permutations,
                n_bins=options.n_bins,
                quantizer=options.quantizer,
                threshold=options.threshold,
                alpha=options.alpha,
                family_wise=options.family_wise,
                seed=seed,
            )
        frame = unit_dataframe(table)
        _write_frame(frame, out / "units.csv")
        _write_frame(frame, out / "units.parquet")
        _write_frame(data_dictionary(table), out / "data_dictionary.csv")
        _write_netcdf(table, out / "units.nc")
        for factor in options.tuning:
            with _timed(timings, f"tuning_{factor}", bar, f"tuning {factor}"):
                curves = analysis.tuning_curves(acts, factor, n_boot=options.n_boot, seed=seed)
            _write_netcdf(curves, out / "tuning" / f"{factor}.nc")
        layers = xr.Dataset()
        if options.decode:
            parts = []
            for name in _layer_names(acts):
                with _timed(timings, f"decoding_{name}", bar, f"decoding {name}"):
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
            _write_frame(layer_dataframe(layers), out / "layers.csv")
        if options.cka:
            with _timed(timings, "cka", bar, "cka"):
                layers["cka"] = analysis.cka(acts)
        if options.disentanglement:
            with _timed(timings, "disentanglement", bar, "disentanglement"):
                scores = analysis.disentanglement(acts, [f for f in options.decode], seed=seed)
            _write_frame(scores.to_dataframe().reset_index(), out / "disentanglement.csv")
        if layers.data_vars:
            _write_netcdf(layers, out / "layers.nc")
    _update_manifest(out, stages={"analyze": _total(timings)}, analyze_steps=timings)
    return out


def combine_runs(folders: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str]) -> Path:
    """Stack the unit (and layer) tables of several results folders, with a ``run`` column.

    Parameters
    ----------
    folders : sequence of path-like
        Results folders written by :func:`run` or :func:`analyze`; the run's name is the folder
        name.
    out : path-like
        Folder for ``combined_units.csv``, ``combined_units.parquet`` and, when every run has
        one, ``combined_layers.csv``.

    Returns
    -------
    Path
        ``out / "combined_units.csv"``. Columns absent from a run (e.g. a factor it did not
        analyse) are empty in its rows.
    """
    folders = [Path(f) for f in folders]
    units = [_tagged(pd.read_parquet(f / "units.parquet"), f.name) for f in folders]
    out = Path(out)
    combined = pd.concat(units, ignore_index=True, sort=False)
    _write_frame(combined, out / f"{COMBINED}.csv")
    _write_frame(combined, out / f"{COMBINED}.parquet")
    if all((f / "layers.csv").is_file() for f in folders):
        layers = [_tagged(pd.read_csv(f / "layers.csv"), f.name) for f in folders]
        _write_frame(pd.concat(layers, ignore_index=True, sort=False), out / "combined_layers.csv")
    return out / f"{COMBINED}.csv"


def load_run_model(config: ModelConfig, *, base_dir: str | os.PathLike[str] = ".") -> Any:
    """Load the ``[model]`` of a configuration as a :class:`~factorprobe.probing.ProbedModel`.

    ``python:module:callable`` imports ``module`` (``base_dir`` is searched first, then
    ``sys.path``), calls ``callable(**kwargs)`` for a ``torch.nn.Module`` and loads ``weights``
    into it (``.safetensors`` or a state dict, read without running code). Relative ``weights``
    paths are relative to ``base_dir`` (the configuration file's folder).
    """
    from factorprobe import probing

    weights = None
    if config.weights is not None:
        weights = Path(config.weights)
        weights = weights if weights.is_absolute() else Path(base_dir) / weights
    common = dict(input_size=config.input_size, mean=config.mean, std=config.std)
    if not config.name.startswith("python:"):
        extra = {"model_kwargs": config.kwargs} if config.kwargs else {}
        return probing.load_model(
            config.name, pretrained=config.pretrained, weights=weights, **common, **extra
        )
    module = _call_python_model(config, Path(base_dir))
    if weights is not None:
        from factorprobe.probing.models import read_state_dict

        state, _ = read_state_dict(weights)
        try:
            module.load_state_dict(state)
        except RuntimeError as err:
            first = str(err).strip().splitlines()[0]
            raise ValueError(
                f"Weights {str(weights)!r} do not fit {config.name!r}: {first}"
            ) from err
    loaded = probing.load_model(module, **common)
    described = f"{weights}" if weights is not None else "as built by the callable"
    return replace(loaded, name=config.name, weights=described)


# ---------------------------------------------------------------------------------------------


def _run_one(config: RunConfig, folder: Path, *, quiet: bool) -> Path:
    # 'overwrite' is an action, not a property of the results: never part of the comparison
    resolved = dumps_config(with_output(config, overwrite=False))
    if folder.exists():
        same = (folder / CONFIG_FILE).is_file() and (folder / CONFIG_FILE).read_text() == resolved
        if same and (folder / MANIFEST).is_file() and not config.output.overwrite:
            return folder
        if not config.output.overwrite:
            raise FileExistsError(
                f"Results folder {str(folder)!r} exists and holds other results; pass "
                f"--overwrite (overwrite = true in [output]) or choose another --out."
            )
    started = datetime.now(UTC).isoformat(timespec="seconds")
    timings: dict[str, dict[str, float]] = {}
    with atomic_output(folder) as tmp:
        tmp.mkdir()
        (tmp / CONFIG_FILE).write_text(resolved)
        with _timed(timings, "capture"):
            store = capture_run(config, tmp, quiet=quiet)
        with _timed(timings, "analyze"):
            analyze(store, config=config.analysis, out=tmp, quiet=quiet)
        if config.ablation is not None:
            with _timed(timings, "ablation"):
                _ablation(config, tmp, store)
        if config.output.plots:
            from factorprobe.report.build import make_report

            with _timed(timings, "report"):
                make_report(tmp, quiet=quiet)
        total = {k: sum(t[k] for t in timings.values()) for k in ("wall_s", "cpu_s")}
        _update_manifest(
            tmp, run=config.name, started=started, stages={**timings, "total": total}, final=True
        )
    return folder


def _ablation(config: RunConfig, folder: Path, store: Path) -> None:
    try:
        ablation = importlib.import_module("factorprobe.analysis.ablation")
    except ModuleNotFoundError as err:
        raise ValueError(
            "[ablation] needs factorprobe.analysis.ablation, which this version does not have; "
            "remove the [ablation] table."
        ) from err
    raise ValueError(
        f"[ablation] is not wired to {ablation.__name__} yet; remove the [ablation] table."
    )


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


def _analysis_config(config: Any, folder: Path) -> AnalysisConfig:
    if isinstance(config, AnalysisConfig):
        return config
    if isinstance(config, RunConfig):
        return config.analysis
    if config is None:
        saved = folder / CONFIG_FILE
        return load_config(saved)[0].analysis if saved.is_file() else AnalysisConfig()
    if isinstance(config, str | os.PathLike):
        runs = load_config(config)
        if len(runs) != 1:
            raise ValueError(
                f"analyze needs a configuration with one run; {str(config)!r} has {len(runs)}."
            )
        return runs[0].analysis
    raise TypeError(
        f"The 'config' parameter of analyze must be an AnalysisConfig, a RunConfig, a TOML path "
        f"or None; got {type(config).__name__}."
    )


def _find_store(path: Path) -> Path:
    if path.is_dir() and not (path / "zarr.json").is_file():
        found = [path / name for name in STORES.values() if (path / name).exists()]
        if not found:
            raise ValueError(
                f"{str(path)!r} holds no activations; expected {' or '.join(STORES.values())}."
            )
        return found[0]
    if not path.exists():
        raise FileNotFoundError(f"No activations at {str(path)!r}.")
    return path


def _open_activations(path: Path) -> xr.DataArray:
    from factorprobe.probing.store import open_activations

    if path.is_dir():
        return open_activations(path).load()
    with xr.open_dataarray(path, engine="h5netcdf") as acts:
        return acts.load()


def _layer_names(acts: xr.DataArray) -> list[str]:
    return list(dict.fromkeys(str(v) for v in acts[LAYER].values))


def _levels(config: RunConfig) -> dict[str, Any]:
    return {k: list(v) for k, v in config.stimuli.levels().items()}


def _render(space: Any, config: RunConfig, canvas: Any, in_chans: int) -> xr.Dataset:
    from factorprobe import stimuli

    return stimuli.render(
        space,
        canvas=canvas,
        background=config.stimuli.background,
        foreground=config.stimuli.foreground,
        mode="L" if in_chans == 1 else "RGB",
    )


def _write_sheet(space: Any, config: RunConfig, canvas: Any, path: Path) -> None:
    """Contact sheet: size across, x down (or the first two varied factors), others at middle."""
    from factorprobe import stimuli

    levels = config.stimuli.levels()
    varied = [f for f, v in levels.items() if len(v) > 1]
    if len(varied) < 2:
        return
    columns, rows = ("size", "x") if {"size", "x"} <= set(varied) else varied[:2]
    at = {f: sorted(v)[len(v) // 2] for f, v in levels.items() if f not in (columns, rows)}
    keep = np.ones(len(space), dtype=bool)
    for f, value in at.items():
        keep &= np.asarray(space[f]) == value
    subset = _render(space.take(np.flatnonzero(keep)), config, canvas, 1)
    image = stimuli.contact_sheet(subset, columns=columns, rows=rows, at=at)
    with atomic_output(path) as tmp:
        image.save(tmp, format="PNG")


def _call_python_model(config: ModelConfig, base_dir: Path) -> Any:
    import torch.nn as nn

    _, module_name, attr = config.name.split(":")
    added = str(base_dir.resolve()) not in sys.path
    if added:
        sys.path.insert(0, str(base_dir.resolve()))
    try:
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as err:
        raise ValueError(
            f"Cannot import {attr!r} from {module_name!r} for [model] name = {config.name!r} "
            f"(searched {str(base_dir)!r} and sys.path): {err}."
        ) from err
    finally:
        if added:
            sys.path.remove(str(base_dir.resolve()))
    if not callable(target):
        raise TypeError(f"[model] {config.name!r} is not callable; got {type(target).__name__}.")
    module = target(**config.kwargs)
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"[model] {config.name!r} must return a torch.nn.Module; got {type(module).__name__}."
        )
    return module


def _tagged(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    return frame.assign(run=name)[["run", *frame.columns]]


def _write_frame(frame: pd.DataFrame, path: Path) -> None:
    with atomic_output(path) as tmp:
        if path.suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)


def _write_netcdf(ds: xr.Dataset, path: Path) -> None:
    ds = ds.copy()
    for name in ds.variables:
        if ds[name].dtype.kind == "O":
            ds[name] = ds[name].astype(str)
    with atomic_output(path) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf")


def _show(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


@contextmanager
def _timed(
    timings: dict[str, dict[str, float]], key: str, bar: Any = None, label: str = ""
) -> Iterator[None]:
    if bar is not None:
        bar.set_postfix_str(label)
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    timings[key] = {
        "wall_s": round(time.perf_counter() - wall, 3),
        "cpu_s": round(time.process_time() - cpu, 3),
    }
    if bar is not None:
        bar.update(1)


def _total(timings: dict[str, dict[str, float]]) -> dict[str, float]:
    return {k: round(sum(t[k] for t in timings.values()), 3) for k in ("wall_s", "cpu_s")}


def _update_manifest(folder: Path, *, final: bool = False, **entries: Any) -> None:
    path = folder / MANIFEST
    manifest = json.loads(path.read_text()) if path.is_file() else {}
    for key, value in entries.items():
        if isinstance(value, dict) and isinstance(manifest.get(key), dict):
            manifest[key] = {**manifest[key], **value}
        else:
            manifest[key] = value
    manifest["versions"] = _versions()
    files = {p.name: _size(p) for p in sorted(folder.iterdir()) if p.name != MANIFEST}
    manifest["files"] = files
    manifest["total_bytes"] = sum(files.values())
    if final:
        manifest["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")


def _size(path: Path) -> int:
    """Bytes of a file, or of every file under a folder (a zarr store, plots/)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _versions() -> dict[str, str]:
    from factorprobe import __version__

    versions = {"factorprobe": __version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
