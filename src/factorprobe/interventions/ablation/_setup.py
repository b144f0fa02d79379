"""Setting up cumulative ablation: layers, labels, the grid, the distinct ablation sets, metrics."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from factorprobe._validation import check_int
from factorprobe.probing.layers import Activation, fc_layers, resolve_targets
from factorprobe.probing.models import ProbedModel

if TYPE_CHECKING:
    import torch

__all__ = [
    "LOGITS",
    "ablation_grid",
    "ablation_steps",
    "chance_level",
    "metric_names",
    "resolve_layers",
    "table_maker",
    "task_labels",
    "unit_index",
]

LOGITS = "logits"
_WHERE = "cumulative_ablation"


def resolve_layers(model: ProbedModel, layer: str, readout: str | None, activation: Activation):
    names = fc_layers(model)
    if readout is None:
        after = names[names.index(layer) + 1 :] if layer in names else []
        readout = after[0] if after else LOGITS
    if not isinstance(readout, str):
        raise TypeError(f"The 'readout' parameter of {_WHERE} must be a str; got {readout!r}.")
    if readout == layer:
        raise ValueError(
            f"The read-out of {_WHERE} must be a layer after {layer!r}, or 'logits'; got the "
            f"ablated layer itself."
        )
    if readout == LOGITS:
        return resolve_targets(model, [layer], activation)[0], None, readout
    both = resolve_targets(model, [layer, readout], activation)
    if both[0].layer != layer:
        raise ValueError(
            f"The read-out layer {readout!r} of {_WHERE} runs before the ablated layer "
            f"{layer!r}; name a later layer or 'logits'."
        )
    return both[0], both[1], readout


def unit_index(units: Sequence[int], n: int, name: str) -> np.ndarray:
    index = np.asarray(units)
    if index.ndim != 1 or (index.size and index.dtype.kind not in "iu"):
        raise TypeError(
            f"Units of layer {name!r} for ablated must be a sequence of ints; got {units!r}."
        )
    index = index.astype(np.int64)
    if index.size and (index.min() < 0 or index.max() >= n or np.unique(index).size < index.size):
        raise ValueError(
            f"Units of layer {name!r} for ablated must be distinct indices in [0, {n - 1}]; "
            f"got {index.tolist()!r}."
        )
    return index


def task_labels(model, coords, classes, label):
    if classes is None:
        return None, []
    if isinstance(classes, str) and classes == "auto":
        from factorprobe.probing.embedded.network import SwishCNN

        if not isinstance(model.module, SwishCNN):
            return None, []
        classes = list(model.module.config.shapes)
    elif isinstance(classes, str) or not isinstance(classes, Sequence):
        raise TypeError(
            f"The 'classes' parameter of {_WHERE} must be 'auto', None or a sequence of class "
            f"names in output order; got {classes!r}."
        )
    classes = [str(c) for c in classes]
    if label not in coords:
        raise KeyError(
            f"Task accuracy in {_WHERE} needs the stimulus coordinate {label!r} (each "
            f"stimulus's class); pass classes=None to skip it."
        )
    names = np.asarray(coords[label]).astype(str)
    unknown = sorted(set(names.tolist()) - set(classes))
    if unknown:
        raise ValueError(
            f"Stimuli of {_WHERE} have {label} {unknown!r}, not among the model's classes "
            f"{classes!r}; pass classes=None to skip the task accuracy."
        )
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup[v] for v in names]), classes


def ablation_grid(grid: int | Sequence[int], n: int) -> np.ndarray:
    if isinstance(grid, int | np.integer) and not isinstance(grid, bool):
        steps = check_int(grid, name="grid", where=_WHERE, minimum=2)
        return np.unique(np.round(np.linspace(0, n, steps)).astype(np.int64))
    values = np.asarray(grid)
    if values.ndim != 1 or values.size == 0 or values.dtype.kind not in "iu":
        raise TypeError(
            f"The 'grid' parameter of {_WHERE} must be an int or a sequence of ints; got {grid!r}."
        )
    if values.min() < 0 or values.max() > n:
        raise ValueError(
            f"The 'grid' parameter of {_WHERE} must hold numbers of units in [0, {n}] for "
            f"this layer; got {values.tolist()!r}."
        )
    return np.unique(values.astype(np.int64))


def ablation_steps(
    ranked: np.ndarray, randoms: np.ndarray, ks: np.ndarray
) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """The distinct ablation sets (k = 0 and k = n run once) and where each curve point is."""
    steps: list[np.ndarray] = []
    seen: dict[tuple[int, ...] | str, int] = {}

    def index(units: np.ndarray) -> int:
        n = ranked.shape[1]
        key = tuple(sorted(units.tolist())) if 0 < units.size < n else f"all {units.size}"
        if key not in seen:
            seen[key] = len(steps)
            steps.append(units)
        return seen[key]

    index(np.empty(0, np.int64))
    where = {
        name: np.array([index(order[:k]) for order in orders for k in ks])
        for name, orders in (("ranked", ranked), ("random", randoms))
    }
    return steps, where


def metric_names(codes, task: bool, values) -> list[tuple[str, str, str]]:
    """(name, units, factor) of each metric; ``decoding_r2`` for factors with ``values``."""
    names = [("task_accuracy", "fraction", "")] if task else []
    names.append(("agreement", "fraction", ""))
    names += [(f"decoding_accuracy:{fc.name}", "fraction", fc.name) for fc in codes]
    names += [(f"v_information:{fc.name}", "bits", fc.name) for fc in codes]
    valued = [fc for fc, v in zip(codes, values, strict=True) if v is not None]
    names += [(f"decoding_r2:{fc.name}", "1", fc.name) for fc in valued]
    return names


def chance_level(metric: tuple[str, str, str], codes, labels) -> float:
    name, _, factor = metric
    if name == "task_accuracy":
        return float(np.bincount(labels).max() / labels.size)
    if name.startswith("decoding_accuracy:"):
        fc = next(c for c in codes if c.name == factor)
        return float(fc.counts.max() / fc.counts.sum())
    # R2 of predicting every stimulus by the mean value, V-information of the level frequencies
    return 0.0 if name.startswith(("v_information:", "decoding_r2:")) else float("nan")


def table_maker(
    model: ProbedModel,
    stimuli: Any,
    layer: str,
    activation: Activation,
    table: xr.Dataset | None,
    factors: list[str],
    available: list[str],
    rng: np.random.Generator,
    batch_size: int,
    device: torch.device,
) -> Callable[[list[str]], xr.Dataset]:
    """A function giving the unit table for named-column rankings (``table``, or computed once).

    The computed table covers the decoded factors and the rankings' factors, and at least two
    factors where the stimuli have them (its selectivity columns compare two).
    """
    cache: dict[tuple[str, ...], xr.Dataset] = {}
    acts: list[xr.DataArray] = []
    table_seed = int(rng.integers(2**31 - 1))

    def make(extra: list[str]) -> xr.Dataset:
        if table is not None:
            return table
        needed = list(dict.fromkeys([*factors, *extra]))
        spare = [f for f in ("size", "position", "x", "y") if f in available and f not in needed]
        needed += spare[: max(0, 2 - len(needed))]
        key = tuple(needed)
        if key not in cache:
            from factorprobe.analysis.table import unit_table
            from factorprobe.probing.capture import capture

            if not acts:
                options: dict[str, Any] = dict(batch_size=batch_size, device=device, progress=False)
                acts.append(capture(model, stimuli, layers=[layer], activation=activation,
                                    **options))  # fmt: skip
            cache[key] = unit_table(acts[0], factors=needed, seed=table_seed)
        return cache[key]

    return make
