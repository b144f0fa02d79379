"""Run configuration: what ``factorprobe run`` renders, probes, analyses and writes, from TOML.

A configuration file has up to six tables, each optional (``examples/default.toml`` documents every
key): ``[stimuli]`` (the factor grid), ``[model]`` (network, weights, layers), ``[analysis]``
(estimator, bins, permutations, factors compared, tuning, decoding), ``[ablation]`` (present =
run it), ``[output]`` (folder, activation format), ``[dask]`` (where dask work runs), and a
top-level ``name``.

Several runs go in one file as ``[[run]]`` tables: the top-level tables are the defaults every run
starts from, and each ``[[run]]`` (with its own ``name``) overrides single keys of them, e.g.
``[run.model] name = "timm:resnet18"``. Every run gets its own results folder; a combined table
gathers their units (:mod:`factorprobe.pipeline.runner`).

Each table becomes a frozen dataclass validated in ``__post_init__``; vary one with
:func:`dataclasses.replace`. Errors name the table, the key, the value and the valid choices,
e.g. ``Unknown key 'n_bin' in [analysis]; did you mean 'n_bins'? Valid keys: ...``.
"""

from __future__ import annotations

import inspect
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from factorprobe import _options
from factorprobe.analysis.population import decoding
from factorprobe.analysis.table import (
    CORRECTIONS,
    ESTIMATORS,
    NULLS,
    QUANTIZERS,
    SIGNIFICANCES,
    unit_table,
)
from factorprobe.analysis.tuning import tuning_curves
from factorprobe.io.toml import dumps_tables, read_toml
from factorprobe.pipeline import _config_checks as ck
from factorprobe.pipeline._config_grid import follow_grid, grid_problems
from factorprobe.pipeline._config_parse import parse_runs
from factorprobe.stimuli.factors import grid
from factorprobe.stimuli.render import render
from factorprobe.stimuli.shapes import SHAPES

__all__ = [
    "AblationConfig",
    "AnalysisConfig",
    "DaskConfig",
    "ModelConfig",
    "OutputConfig",
    "RunConfig",
    "StimuliConfig",
    "dumps_config",
    "load_config",
    "parse_config",
]

# The closed sets and defaults of the keys that are library parameters come from the library
# (its tuples and its signatures), so the two cannot drift; tests/test_options.py checks every
# pair. The ablation's come from factorprobe._options, which cumulative_ablation uses too
# (importing the ablation itself would import torch), and so does ACTIVATIONS (probing imports
# torch). MISFIT mirrors a private tuple of stimuli; the same test checks it.
ACTIVATIONS = _options.ACTIVATIONS
MISFIT = ("raise", "drop")
ACTIVATION_FORMATS = ("zarr", "netcdf")
ABLATION_METHODS = _options.ABLATION_METHODS
ABLATION_DIRECTIONS = _options.ABLATION_DIRECTIONS
ABLATION_DECODERS = _options.ABLATION_DECODERS
_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_DOTTED = rf"{_IDENTIFIER}(\.{_IDENTIFIER})*"
_PYTHON_SPEC = re.compile(rf"python:{_DOTTED}:{_DOTTED}")
_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _default(function: Callable[..., Any], name: str) -> Any:
    """The default of parameter ``name`` of a library function (the config's default too)."""
    return inspect.signature(function).parameters[name].default


_TABLE = {name: p.default for name, p in inspect.signature(unit_table).parameters.items()}


# ---------------------------------------------------------------------------------------------
# the tables


@dataclass(frozen=True)
class StimuliConfig:
    """``[stimuli]``: a full factorial grid of one object on a blank canvas.

    Sizes and positions in pixels (``size`` is a disc's diameter, a square's side, see
    :mod:`factorprobe.stimuli.shapes`), rotation in degrees, contrast and intensities in [0, 1].
    Each factor is one value or a list of levels; ``canvas`` defaults to the model's input size.
    """

    size: tuple[float, ...] = (16.0, 24.0, 32.0, 40.0, 48.0, 56.0)
    x: tuple[float, ...] = (40.0, 64.0, 88.0, 112.0, 136.0, 160.0, 184.0)
    y: tuple[float, ...] = (40.0, 64.0, 88.0, 112.0, 136.0, 160.0, 184.0)
    shape: tuple[str, ...] = ("disc",)
    rotation: tuple[float, ...] = (0.0,)
    contrast: tuple[float, ...] = (1.0,)
    canvas: int | None = None
    background: float = _default(render, "background")
    foreground: float = _default(render, "foreground")
    on_misfit: str = _default(grid, "on_misfit")

    def __post_init__(self) -> None:
        t = "stimuli"
        for key in ("size", "x", "y"):
            object.__setattr__(self, key, ck.reals(t, key, getattr(self, key)))
        object.__setattr__(self, "rotation", ck.reals(t, "rotation", self.rotation))
        object.__setattr__(self, "contrast", ck.reals(t, "contrast", self.contrast, 0.0))
        if max(self.contrast) > 1:
            ck.fail(t, "contrast", "a list of numbers in [0, 1]", list(self.contrast))
        if min(self.size) <= 0:
            ck.fail(t, "size", "a list of positive sizes in pixels", list(self.size))
        shapes = ck.names(t, "shape", self.shape)
        for s in shapes:
            ck.choice(t, "shape", s, SHAPES)
        object.__setattr__(self, "shape", shapes)
        if self.canvas is not None:
            object.__setattr__(self, "canvas", ck.integer(t, "canvas", self.canvas, 8))
        object.__setattr__(self, "background", ck.real(t, "background", self.background, 0, 1))
        object.__setattr__(self, "foreground", ck.real(t, "foreground", self.foreground, 0, 1))
        ck.choice(t, "on_misfit", self.on_misfit, MISFIT)

    def levels(self) -> dict[str, tuple[Any, ...]]:
        """Factor name -> levels, as :func:`factorprobe.stimuli.grid` takes them."""
        return {k: getattr(self, k) for k in ("size", "x", "y", "shape", "rotation", "contrast")}

    def n_stimuli(self) -> int:
        """Number of grid points (before any misfits are dropped)."""
        return math.prod(len(v) for v in self.levels().values())


@dataclass(frozen=True)
class ModelConfig:
    """``[model]``: the network, its weights and preprocessing, and which layers to capture.

    ``name`` is ``"embedded"`` (or a twin, ``"embedded:relu"``, ``"embedded:flat"``),
    ``"timm:NAME"`` (random init unless ``pretrained`` or
    ``weights``), or ``"python:module:callable"``: a callable defined in ``module``, a ``.py``
    file in the configuration file's folder (nowhere else), that returns a ``torch.nn.Module``
    when called with ``kwargs``; it then needs ``input_size``, ``mean`` and ``std``, and
    ``weights`` (a ``.safetensors`` or state-dict file) is loaded into the module it returns.
    ``layers`` empty means the pooled features and every fully connected layer.
    """

    name: str = "embedded"
    pretrained: bool = False
    weights: str | None = None
    input_size: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    layers: tuple[str, ...] = ()
    activation: _options.Activation = "post"
    batch_size: int = 64
    device: str | None = None

    def __post_init__(self) -> None:
        t = "model"
        name = ck.text(t, "name", self.name)
        valid = f"{', '.join(map(repr, _options.EMBEDDED_MODELS))}, 'timm:NAME' or "
        valid += "'python:module:callable'"
        if name not in _options.EMBEDDED_MODELS and not (
            (name.startswith("timm:") and len(name) > 5) or _PYTHON_SPEC.fullmatch(name)
        ):
            ck.fail(t, "name", valid, name)
        ck.boolean(t, "pretrained", self.pretrained)
        if self.pretrained and not name.startswith("timm:"):
            ck.fail(t, "pretrained", "false for a model that is not 'timm:NAME'", True)
        if self.weights is not None:
            ck.text(t, "weights", self.weights)
            if self.pretrained:
                ck.fail(t, "weights", "absent when pretrained = true (give one or the other)", "")
        if self.input_size is not None:
            object.__setattr__(self, "input_size", ck.integer(t, "input_size", self.input_size, 8))
        for key in ("mean", "std"):
            value = getattr(self, key)
            if value is not None:
                low = 1e-12 if key == "std" else None
                items = tuple(ck.real(t, key, v, low) for v in ck.as_list(value))
                if not items:
                    ck.fail(t, key, "a non-empty list of numbers (one per channel)", value)
                object.__setattr__(self, key, items)
        if self.mean is not None and self.std is not None and len(self.mean) != len(self.std):
            ck.fail(t, "std", f"as long as 'mean' ({len(self.mean)} values)", list(self.std))
        if name.startswith("python:"):
            missing = [k for k in ("input_size", "mean", "std") if getattr(self, k) is None]
            if missing:
                raise ValueError(
                    f"[model] name = {name!r} needs the keys "
                    f"{', '.join(repr(m) for m in missing)} (e.g. input_size = 224, "
                    f"mean = [0.0], std = [1.0] for grayscale without normalisation)."
                )
        if not isinstance(self.kwargs, Mapping):
            ck.fail(t, "kwargs", "a table of keyword arguments", self.kwargs, TypeError)
        if self.kwargs and name in _options.EMBEDDED_MODELS:
            expected = f"empty for {name!r} (it applies to timm and python: models)"
            ck.fail(t, "kwargs", expected, dict(self.kwargs))
        object.__setattr__(self, "kwargs", dict(self.kwargs))
        object.__setattr__(self, "layers", ck.names(t, "layers", self.layers, empty=True))
        ck.choice(t, "activation", self.activation, ACTIVATIONS)
        object.__setattr__(self, "batch_size", ck.batch_size(t, "batch_size", self.batch_size))
        if self.device is not None:
            ck.choice(t, "device", self.device, ("cpu", "cuda", "mps"))


@dataclass(frozen=True)
class AnalysisConfig:
    """``[analysis]``: the unit table's options, tuning curves and layer-level measures.

    The unit-table keys are :func:`factorprobe.analysis.unit_table`'s parameters by the same
    names; ``tuning`` names the factors whose tuning curves are saved (``n_boot`` bootstrap
    resamples); ``decode`` the factors decoded per layer by :func:`~factorprobe.analysis.decoding`
    (``decode_c``, ``n_splits``); ``cka`` adds linear CKA between layers; ``disentanglement`` adds
    the literature's scores (slow: gradient-boosted trees per layer). Left unset, ``tuning`` and
    ``decode`` follow the grid (the factors among size, x, y that it varies), and ``n_bins`` (8)
    and ``n_splits`` (5) are lowered on a grid too small for them.
    """

    factors: tuple[str, ...] = ck.GridDefault(_TABLE["factors"])
    compare: tuple[str, ...] | None = _TABLE["compare"]
    estimator: str = _TABLE["estimator"]
    correction: str = _TABLE["correction"]
    significance: str = _TABLE["significance"]
    null: str = _TABLE["null"]
    n_permutations: int = _TABLE["n_permutations"]
    n_bins: int = ck.GridCount(_TABLE["n_bins"])
    quantizer: str = _TABLE["quantizer"]
    threshold: float = _TABLE["threshold"]
    alpha: float = _TABLE["alpha"]
    family_wise: bool = _TABLE["family_wise"]
    pid: tuple[str, ...] | None = _TABLE["pid"]
    seed: int = _TABLE["seed"]
    tuning: tuple[str, ...] = ck.GridDefault(("size", "x", "y"))
    n_boot: int = _default(tuning_curves, "n_boot")
    decode: tuple[str, ...] = ck.GridDefault(("size", "x", "y"))
    # one C, not decoding's cross-validated grid of C: the default run stays fast
    decode_c: float = 1.0
    n_splits: int = ck.GridCount(_default(decoding, "n_splits"))
    cka: bool = True
    disentanglement: bool = False

    def __post_init__(self) -> None:
        t = "analysis"
        object.__setattr__(self, "factors", ck.names(t, "factors", self.factors))
        if self.compare is not None:
            compare = ck.names(t, "compare", self.compare)
            unknown = [c for c in compare if c not in self.factors]
            if unknown:
                ck.fail(
                    t, "compare", f"a list of the analysed factors {list(self.factors)}", unknown
                )
            object.__setattr__(self, "compare", compare)
        ck.choice(t, "estimator", self.estimator, ESTIMATORS)
        ck.choice(t, "correction", self.correction, CORRECTIONS)
        ck.choice(t, "significance", self.significance, SIGNIFICANCES)
        ck.choice(t, "null", self.null, NULLS)
        ck.choice(t, "quantizer", self.quantizer, QUANTIZERS)
        n_permutations = ck.permutations(t, "n_permutations", self.n_permutations)
        object.__setattr__(self, "n_permutations", n_permutations)
        if not isinstance(self.n_bins, ck.GridCount):
            object.__setattr__(self, "n_bins", ck.integer(t, "n_bins", self.n_bins, 2))
        object.__setattr__(self, "threshold", ck.real(t, "threshold", self.threshold))
        object.__setattr__(self, "alpha", ck.real(t, "alpha", self.alpha, 0.0, 1.0))
        ck.boolean(t, "family_wise", self.family_wise)
        if self.pid is not None:
            pid = ck.names(t, "pid", self.pid)
            if len(pid) != 2 or any(f not in self.factors for f in pid):
                ck.fail(t, "pid", f"2 of the analysed factors {list(self.factors)}", pid)
            object.__setattr__(self, "pid", pid)
        object.__setattr__(self, "seed", ck.seed(t, "seed", self.seed))
        object.__setattr__(self, "tuning", ck.names(t, "tuning", self.tuning, empty=True))
        object.__setattr__(self, "n_boot", ck.resamples(t, "n_boot", self.n_boot))
        object.__setattr__(self, "decode", ck.names(t, "decode", self.decode, empty=True))
        object.__setattr__(self, "decode_c", ck.real(t, "decode_c", self.decode_c, 1e-12))
        if not isinstance(self.n_splits, ck.GridCount):
            object.__setattr__(self, "n_splits", ck.integer(t, "n_splits", self.n_splits, 2))
        ck.boolean(t, "cka", self.cka)
        ck.boolean(t, "disentanglement", self.disentanglement)

    def needed_factors(self) -> set[str]:
        """Every factor or group any analysis names."""
        return set(self.factors) | set(self.tuning) | set(self.decode)


@dataclass(frozen=True)
class AblationConfig:
    """``[ablation]``: cumulative ablation of one layer's units, ranked by unit-table measures.

    Passed to :func:`factorprobe.interventions.ablation.cumulative_ablation`: the units of ``layer``
    are ordered by each of ``rankings`` (unit-table columns as ``"measure:factor"``, e.g.
    ``"mi:size"``, or a per-unit measure such as ``"selectivity"``, taken from the run's own unit
    table), ablated cumulatively from the highest and/or lowest (``directions``) at ``grid``
    steps, set to zero or their mean (``method``), against ``n_random`` random orders; the
    read-out layer's decodability is measured with ``decoder``.
    """

    layer: str = "fc1"
    rankings: tuple[str, ...] = ck.GridDefault(("mi:size", "mi:position"))
    directions: tuple[str, ...] = _options.DEFAULT_DIRECTIONS
    grid: int = _options.DEFAULT_GRID
    n_random: int = _options.DEFAULT_N_RANDOM
    method: str = _options.DEFAULT_METHOD
    decoder: str = _options.DEFAULT_DECODER
    seed: int = _options.DEFAULT_SEED

    def __post_init__(self) -> None:
        t = "ablation"
        ck.text(t, "layer", self.layer)
        object.__setattr__(self, "rankings", ck.names(t, "rankings", self.rankings))
        directions = ck.names(t, "directions", self.directions)
        for d in directions:
            ck.choice(t, "directions", d, ABLATION_DIRECTIONS)
        object.__setattr__(self, "directions", directions)
        object.__setattr__(self, "grid", ck.integer(t, "grid", self.grid, 2))
        n_random = ck.integer(t, "n_random", self.n_random, _options.MIN_RANDOM)
        object.__setattr__(self, "n_random", n_random)
        ck.choice(t, "method", self.method, ABLATION_METHODS)
        ck.choice(t, "decoder", self.decoder, ABLATION_DECODERS)
        object.__setattr__(self, "seed", ck.seed(t, "seed", self.seed))

    def ranked_factors(self) -> set[str]:
        """Factors the rankings name (``"mi:size"`` -> ``size``)."""
        return {r.partition(":")[2] for r in self.rankings if ":" in r}


@dataclass(frozen=True)
class OutputConfig:
    """``[output]``: where results go and in which formats.

    ``folder`` is relative to the working directory (not the configuration file). ``activations``
    picks a chunked zarr store or one NetCDF file; ``stimuli`` also writes the rendered images as
    ``stimuli.nc`` (about 200 kB per stimulus at 224 px); ``plots`` writes ``plots/*.png``.
    ``overwrite`` replaces an existing results folder made with a different configuration.
    """

    folder: str = "factorprobe-results"
    activations: str = "zarr"
    stimuli: bool = False
    plots: bool = True
    overwrite: bool = False

    def __post_init__(self) -> None:
        t = "output"
        ck.text(t, "folder", self.folder)
        ck.choice(t, "activations", self.activations, ACTIVATION_FORMATS)
        ck.boolean(t, "stimuli", self.stimuli)
        ck.boolean(t, "plots", self.plots)
        ck.boolean(t, "overwrite", self.overwrite)


@dataclass(frozen=True)
class DaskConfig:
    """``[dask]``: where a run's dask work executes.

    ``scheduler`` is ``"threads"`` (dask's local threaded scheduler), ``"synchronous"`` (the
    calling thread, for debugging) or the address of a running ``dask.distributed`` scheduler,
    e.g. ``"tcp://10.0.0.5:8786"``: the unit table is computed on its workers and the capture's
    batches are spread over them, each writing its own shard of the store, so the results folder
    must be on a file system every worker sees (docs/scale.md). Locally the capture runs batch by
    batch in this process either way. The analysis gives identical tables on every scheduler; a
    capture on worker processes runs the model with their threads and CPUs, which can move
    activations at float32 rounding (docs/reliability.md). ``factorprobe run --scheduler``
    overrides it; it is not part of what decides whether results or captured batches are reused.
    """

    scheduler: str = "threads"

    def __post_init__(self) -> None:
        ck.scheduler("dask", "scheduler", self.scheduler)


@dataclass(frozen=True)
class RunConfig:
    """One run: stimuli, model, analysis, optional ablation, output and dask, checked together.

    ``base_dir`` is the configuration file's folder (where ``python:`` models and relative
    ``weights`` are looked up); it is not written to the resolved configuration.
    """

    name: str = "default"
    stimuli: StimuliConfig = field(default_factory=StimuliConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    ablation: AblationConfig | None = None
    output: OutputConfig = field(default_factory=OutputConfig)
    dask: DaskConfig = field(default_factory=DaskConfig)
    base_dir: str = "."

    def __post_init__(self) -> None:
        problems: list[Exception] = []
        if not isinstance(self.name, str) or not _RUN_NAME.fullmatch(self.name):
            problems.append(
                ValueError(
                    f"The 'name' key of a run must be letters, digits, '.', '_' or '-' (it "
                    f"names the run's folder); got {self.name!r}."
                )
            )
        levels = self.stimuli.levels()
        n = self.stimuli.n_stimuli()
        analysis, ablation = follow_grid(self.analysis, self.ablation, levels, n)
        object.__setattr__(self, "analysis", analysis)
        object.__setattr__(self, "ablation", ablation)
        problems += grid_problems(self.stimuli, analysis, ablation, levels)
        ck.raise_all(problems)


# ---------------------------------------------------------------------------------------------
# reading and writing TOML

_TABLES: dict[str, type] = {
    "stimuli": StimuliConfig,
    "model": ModelConfig,
    "analysis": AnalysisConfig,
    "ablation": AblationConfig,
    "output": OutputConfig,
    "dask": DaskConfig,
}


def load_config(path: str | os.PathLike[str]) -> list[RunConfig]:
    """Read a TOML configuration file into its runs.

    Parameters
    ----------
    path : path-like
        A TOML file (``examples/default.toml`` documents every key).

    Returns
    -------
    list of RunConfig
        One per ``[[run]]`` table, or one run when there are none.

    Raises
    ------
    OSError
        The file cannot be read.
    ValueError, TypeError
        Invalid TOML, an unknown table or key (with the closest valid one), or a bad value (the
        message names the table, key, value and valid choices).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.toml"
    >>> _ = path.write_text('[analysis]\\nn_permutations = 200\\n')
    >>> [r.analysis.n_permutations for r in load_config(path)]
    [200]
    """
    path = Path(path)
    raw = read_toml(path)
    return parse_config(raw, base_dir=str(path.resolve().parent))


def parse_config(raw: Mapping[str, Any], *, base_dir: str = ".") -> list[RunConfig]:
    """Build and validate the runs of an already parsed TOML document (see :func:`load_config`).

    Every problem is reported at once: one error lists each bad key of every table and run.
    """
    return parse_runs(raw, base_dir=base_dir, tables=_TABLES, make_run=RunConfig)


def dumps_config(config: RunConfig) -> str:
    """The resolved configuration of one run as TOML (every key, defaults included).

    ``load_config`` of the text gives back an equal RunConfig (``base_dir`` aside).

    Examples
    --------
    >>> import tomllib
    >>> text = dumps_config(RunConfig(name="demo"))
    >>> parse_config(tomllib.loads(text))[0].name
    'demo'
    """
    tables = {
        key: {f.name: getattr(section, f.name) for f in fields(section)}
        for key in _TABLES
        if (section := getattr(config, key)) is not None
    }
    return dumps_tables({"name": config.name}, tables)


def with_output(config: RunConfig, **changes: Any) -> RunConfig:
    """``config`` with some ``[output]`` keys changed (e.g. the folder given on the CLI)."""
    return replace(config, output=replace(config.output, **changes))


def with_scheduler(config: RunConfig, scheduler: str) -> RunConfig:
    """``config`` with another ``[dask] scheduler`` (e.g. the one given on the CLI)."""
    return replace(config, dask=DaskConfig(scheduler=scheduler))
