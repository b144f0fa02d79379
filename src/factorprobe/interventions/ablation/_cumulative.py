"""Cumulative ablation (Amjad et al. 2018; Morcos et al. 2018) of a layer's units, ranked by a
measure of factor coding, against random orders; and the ablation context manager it uses.

See docs/ablation.md for the definitions, the forward paths and the measured embedded curves.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import numpy as np
import torch
import xarray as xr

from factorprobe._options import (
    ABLATION_METHODS,
    DEFAULT_DECODER,
    DEFAULT_DIRECTIONS,
    DEFAULT_FACTORS,
    DEFAULT_GRID,
    DEFAULT_METHOD,
    DEFAULT_N_RANDOM,
    DEFAULT_N_SPLITS,
    DEFAULT_SEED,
    MIN_RANDOM,
    AblationDecoder,
    AblationMethod,
)
from factorprobe._validation import as_rng, check_choice, check_int, check_real
from factorprobe.analysis.decoders import ALPHA_GRID, check_grid, factor_values
from factorprobe.analysis.layerwise import check_factor_list, random_state, seed_attr
from factorprobe.dims import INDEX, LAYER, STIMULUS, UNIT
from factorprobe.interventions.ablation._dissociation import double_dissociation
from factorprobe.interventions.ablation._metrics import DECODERS, score_steps
from factorprobe.interventions.ablation._rankings import (
    ablation_order,
    check_directions,
    resolve_rankings,
)
from factorprobe.interventions.ablation._run import run_steps
from factorprobe.interventions.ablation._setup import (
    ablation_grid,
    ablation_steps,
    chance_level,
    metric_names,
    resolve_layers,
    table_maker,
    task_labels,
    unit_index,
)
from factorprobe.probing.forward import forward_plan, resolve_device
from factorprobe.probing.hooks import UnitHooks
from factorprobe.probing.layers import ACTIVATIONS, Activation, resolve_targets
from factorprobe.probing.models import ProbedModel
from factorprobe.probing.sources import stimulus_source

__all__ = ["METHODS", "ablated", "cumulative_ablation", "double_dissociation"]

METHODS: tuple[str, ...] = ABLATION_METHODS
_FORWARDS = ("auto", "full")
_WHERE = "cumulative_ablation"
K, RANKING, DIRECTION, METRIC, RANDOM, RANK = (
    "k", "ranking", "direction", "metric", "random_order", "rank"
)  # fmt: skip
_REFERENCES = (
    "Amjad, Liu & Geiger (2018), arXiv:1804.06679 (cumulative ablation ranked by information "
    "measures, per layer); Morcos, Barrett, Rabinowitz & Botvinick (2018), ICLR (ablation to "
    "zero or to the mean, random orders as baseline)"
)


@contextmanager
def ablated(
    model: ProbedModel,
    units: Mapping[str, Sequence[int]],
    *,
    method: AblationMethod = DEFAULT_METHOD,
    reference: xr.Dataset | None = None,
    activation: Activation = "post",
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> Iterator[ProbedModel]:
    """Context manager: chosen units of named layers are set to zero or to their mean.

    Inside the block every forward pass of ``model.module`` (and so :func:`capture`) sees the
    ablated units; the hooks are removed when the block exits, also on error.

    Parameters
    ----------
    model : ProbedModel
        From :func:`~factorprobe.probing.load_model`.
    units : mapping of str to sequence of int
        Layer name (a module path, as in ``capture``) to the unit indices to ablate (the
        ``index`` coordinate of captured activations).
    method : {"zero", "mean"}, default="zero"
        Set the units to 0, or to their mean response over ``reference``.
    reference : Dataset, optional
        Stimuli for ``method="mean"`` (rendered at the model's input size).
    activation : {"post", "pre"}, default="post"
        Ablate the layer's activation output (the unit's output, as in Amjad et al.) or the
        layer's own output before its activation.
    batch_size, device
        For capturing ``reference``, as in :func:`~factorprobe.probing.capture`.

    Yields
    ------
    ProbedModel
        The same model.

    Raises
    ------
    ValueError
        Unknown layers or methods, unit indices out of range, ``method="mean"`` without
        ``reference``.

    Examples
    --------
    >>> import factorprobe as fp
    >>> model = fp.probing.load_model("embedded")
    >>> stim = fp.stimuli.render(fp.stimuli.grid(size=[32], x=[112], y=[112]))
    >>> with ablated(model, {"fc2": [0, 1, 2]}):
    ...     acts = fp.probing.capture(model, stim, layers=["fc2"], progress=False)
    >>> float(abs(acts[:, :3]).max())
    0.0
    """
    where = "ablated"
    check_choice(method, METHODS, name="method", where=where)
    if not isinstance(units, Mapping) or not units:
        raise TypeError(
            f"The 'units' parameter of {where} must be a non-empty mapping from layer name to "
            f"unit indices, e.g. {{'fc2': [0, 5]}}; got {units!r}."
        )
    targets = resolve_targets(model, list(units), activation)
    by_layer = {t.layer: t for t in targets}
    index = {name: unit_index(units[name], by_layer[name].n_units, name) for name in units}
    if method == "mean":
        if reference is None:
            raise ValueError(
                f"method='mean' of {where} needs reference stimuli to take the mean over; "
                f"pass reference=stimuli."
            )
        from factorprobe.probing.capture import capture, layer

        acts = capture(model, reference, layers=list(units), activation=activation,
                       batch_size=batch_size, device=device, progress=False)  # fmt: skip
        fill = {n: layer(acts, n).mean(STIMULUS).values[index[n]] for n in units}
    else:
        fill = {n: np.zeros(index[n].size) for n in units}
    with UnitHooks(model.module, targets, []) as hooks:
        for name in units:
            hooks.set_units(name, index[name], fill[name])
        yield model


def cumulative_ablation(
    model: ProbedModel,
    stimuli: Any,
    layer: str,
    ranking: Any,
    *,
    factor: str | None = None,
    factors: Sequence[str] = DEFAULT_FACTORS,
    directions: Sequence[str] = DEFAULT_DIRECTIONS,
    grid: int | Sequence[int] = DEFAULT_GRID,
    n_random: int = DEFAULT_N_RANDOM,
    method: AblationMethod = DEFAULT_METHOD,
    reference: xr.Dataset | None = None,
    readout: str | None = None,
    activation: Activation = "post",
    classes: Sequence[str] | Literal["auto"] | None = "auto",
    label: str = "shape",
    table: xr.Dataset | None = None,
    decoder: AblationDecoder = DEFAULT_DECODER,
    C: float = 1.0,
    alpha: float | Sequence[float] = ALPHA_GRID,
    n_splits: int = DEFAULT_N_SPLITS,
    max_iter: int = 1000,
    forward: Literal["auto", "full"] = "auto",
    batch_size: int = 256,
    device: str | torch.device | None = None,
    seed: int | np.random.Generator | None = DEFAULT_SEED,
    progress: bool | None = None,
) -> xr.Dataset:
    """Ablate a layer's units cumulatively in the order of a ranking, against random orders.

    For each ranking and direction the units are sorted (``"highest"``: largest value first)
    and, for each ``k`` of the grid, the first ``k`` are set to zero (or their mean) while the
    stimuli run through the network. Each step records the task accuracy (where labels exist),
    the agreement of the top-1 output with the intact network's, and each factor's
    cross-validated decodability from the read-out layer, the layer after the ablated one: as
    a label (accuracy, and V-information in bits) and, for an ordered factor, as a value
    (held-out R² of a ridge read-out; ``position`` jointly as (x, y)). ``n_random`` random
    orders give the baseline, mean ± sd over orders, that every ranked curve is read against
    (Amjad et al. 2018, per layer).

    Parameters
    ----------
    model : ProbedModel
        From :func:`~factorprobe.probing.load_model` (the model is not changed: hooks are
        removed, device and modes restored).
    stimuli : Dataset or FactorSpace
        Rendered stimuli at the model's input size, with the factors as coordinates.
    layer : str
        The layer to ablate (a module path, e.g. ``"fc2"``).
    ranking : str, DataArray, array or mapping
        What orders the units: a unit-table column (``"mi"``, ``"kl_selectivity"``,
        ``"selectivity"``, ``"entropy"``, ..., with its factor as ``"mi:size"`` or
        ``factor=``), computed from ``table`` or, without one, from the layer's responses to
        ``stimuli`` (:func:`unit_table` defaults); a DataArray over ``unit`` such as
        ``table["mi"].sel(factor="size")`` (units matched by the ``layer`` and ``index``
        coordinates); an array of the layer's width; a list of column names, or a mapping from
        label to any of these for several rankings in one run (sharing the random baseline).
        NaN values (e.g. the selectivity of a unit without significant MI) are ablated last in
        both directions; ties are broken in a seeded random order.
    factor : str, optional
        The factor of a per-factor column named without one.
    factors : sequence of str, default=("size", "position")
        Factors whose decodability is recorded (a group such as ``position`` as its joint
        label, and as its members' values jointly).
    directions : sequence of {"highest", "lowest"}, default=("highest", "lowest")
        Ablate the units with the highest, or the lowest, values first.
    grid : int or sequence of int, default=9
        The numbers of units ablated: ``grid`` values from 0 to the layer's width, evenly
        spaced (rounded), or the given values.
    n_random : int, default=5
        Random orders for the baseline (>= 5).
    method : {"zero", "mean"}, default="zero"
        Set ablated units to 0 (Amjad et al., Morcos et al.) or to their mean over
        ``reference``.
    reference : Dataset, optional
        Stimuli for the mean; default: ``stimuli``.
    readout : str, optional
        Layer whose responses are decoded: default the next fully connected layer after
        ``layer`` (:func:`~factorprobe.probing.fc_layers`), or ``"logits"`` (the network's
        output) after the last one.
    activation : {"post", "pre"}, default="post"
        Ablate (and read out) layers' activation outputs, or their outputs before activation.
    classes : sequence of str, "auto" or None, default="auto"
        Class names in output order, for the task accuracy: ``"auto"`` uses the embedded
        model's shapes (no task accuracy for other models); None records none.
    label : str, default="shape"
        The stimulus coordinate holding each stimulus's class name.
    table : Dataset, optional
        A unit table (:func:`unit_table`) to take named columns from, e.g. one computed on other
        stimuli than the ablation's.
    decoder : {"logistic", "lda"}, default="logistic"
        The logistic regression of :func:`~factorprobe.analysis.decoding` (the same kernel, so
        the intact network's values equal ``decoding``'s on the read-out layer with the same
        folds), or shrinkage LDA (Ledoit–Wolf, closed form).
    C, max_iter
        Logistic regression only, as in :func:`~factorprobe.analysis.decoding`.
    alpha : float or sequence of float, default=ALPHA_GRID
        Penalty of the ridge read-out of values, as in :func:`~factorprobe.analysis.decoding`.
    n_splits : int, default=5
        Folds of the stratified cross-fitting (the same folds at every step).
    forward : {"auto", "full"}, default="auto"
        ``"auto"`` runs the part of the network before the ablated layer once and only the rest
        per step where the model allows it (embedded, timm ``forward_head``, ``nn.Sequential``;
        checked against the full pass); ``"full"`` always runs full forward passes.
    batch_size, device
        As in :func:`~factorprobe.probing.capture`.
    seed : int, Generator or None, default=0
        Seeds the random orders, tie-breaking, the folds and the unit table.
    progress : bool or None, default=None
        Progress bar over steps (None: when standard error is a terminal).

    Returns
    -------
    Dataset
        ``score`` over ``(k, ranking, direction, metric)``; ``random`` over
        ``(k, random_order, metric)`` and its ``random_mean`` and ``random_sd`` (ddof=1) over
        ``(k, metric)``; ``order`` (unit indices in ablation order, ``(ranking, direction,
        rank)``), ``random_units`` (``(random_order, rank)``) and ``ranking_value`` (``(ranking,
        unit)``). Metrics: ``task_accuracy`` (when labels exist), ``agreement`` (fractions),
        ``decoding_accuracy:F`` (fraction) and ``v_information:F`` (bits) per factor F,
        ``decoding_r2:F`` (held-out R², dimensionless) per ordered factor F; the
        ``metric`` coordinate carries ``metric_units``, ``metric_factor`` and ``chance``;
        ``k`` carries ``fraction`` (k / width); ``ranking`` carries ``ranking_factor``.
        ``attrs`` record the model, layer, read-out, method, decoder, seed and
        ``forward_path`` (which path ran).

    Raises
    ------
    ValueError, KeyError, TypeError
        Unknown layers, factors, columns or options; rankings that do not match the layer;
        factor levels with fewer than ``n_splits`` stimuli.

    References
    ----------
    Amjad, R. A., Liu, K. & Geiger, B. C. (2018). Understanding individual neuron importance
    using information theory. arXiv:1804.06679.
    Morcos, A. S., Barrett, D. G. T., Rabinowitz, N. C. & Botvinick, M. (2018). On the
    importance of single directions for generalization. ICLR 2018.
    Ledoit, O. & Wolf, M. (2004). A well-conditioned estimator for large-dimensional covariance
    matrices. J. Multivar. Anal. 88, 365–411 (the LDA decoder's shrinkage).

    Examples
    --------
    >>> import factorprobe as fp
    >>> model = fp.probing.load_model("embedded")
    >>> stim = fp.stimuli.render(fp.stimuli.grid(size=[24, 56], x=[80, 144], y=[112],
    ...                                          shape=["disc", "square"]))
    >>> abl = cumulative_ablation(model, stim, "fc3", ranking=np.arange(128.0),
    ...                           factors=["size"], grid=3, n_splits=2)
    >>> abl["score"].sel(k=0, metric="agreement").values.ravel().tolist()
    [1.0, 1.0]
    """
    if not isinstance(model, ProbedModel):
        raise TypeError(
            f"{_WHERE} needs a ProbedModel from load_model; got {type(model).__name__}."
        )
    check_choice(method, METHODS, name="method", where=_WHERE)
    check_choice(decoder, DECODERS, name="decoder", where=_WHERE)
    check_choice(forward, _FORWARDS, name="forward", where=_WHERE)
    check_choice(activation, ACTIVATIONS, name="activation", where=_WHERE)
    n_random = check_int(n_random, name="n_random", where=_WHERE, minimum=MIN_RANDOM)
    n_splits = check_int(n_splits, name="n_splits", where=_WHERE, minimum=2)
    max_iter = check_int(max_iter, name="max_iter", where=_WHERE, minimum=1)
    batch_size = check_int(batch_size, name="batch_size", where=_WHERE, minimum=1)
    C = check_real(C, name="C", where=_WHERE, minimum=0.0)
    if C <= 0:
        raise ValueError(f"The 'C' parameter of {_WHERE} must be a finite number > 0; got {C}.")
    alphas = check_grid(alpha, name="alpha", where=_WHERE, positive=False)
    directions = check_directions(directions)
    if not isinstance(layer, str):
        raise TypeError(f"The 'layer' parameter of {_WHERE} must be a str; got {layer!r}.")
    target, read_target, readout = resolve_layers(model, layer, readout, activation)
    source = stimulus_source(stimuli, model, batch_size, False)
    if source.n is None or source.coords is None:
        raise TypeError(
            f"The 'stimuli' parameter of {_WHERE} must be a rendered Dataset or a FactorSpace; "
            f"got {type(stimuli).__name__}."
        )
    coords = xr.DataArray(np.zeros(source.n), dims=(STIMULUS,),
                          coords={k: (STIMULUS, v) for k, v in source.coords.items()})  # fmt: skip
    codes = check_factor_list(coords, list(factors), where=_WHERE)
    for fc in codes:
        if int(fc.counts.min()) < n_splits:
            raise ValueError(
                f"Factor {fc.name!r} of {_WHERE} has a level with {int(fc.counts.min())} "
                f"stimuli; n_splits={n_splits} needs at least {n_splits} per level."
            )
    labels, class_names = task_labels(model, source.coords, classes, label)
    n = target.n_units
    ks = ablation_grid(grid, n)
    seed = seed_attr(seed)
    rng = as_rng(seed)
    folds_state = random_state(rng)
    device_ = resolve_device(device)
    show = bool(progress) if progress is not None else False

    rankings = resolve_rankings(
        ranking, factor=factor, layer=layer, n_units=n,
        table=table_maker(model, stimuli, layer, activation, table, list(factors),
                          _available(source.coords), rng, batch_size, device_),
    )  # fmt: skip
    orders = np.stack(
        [np.stack([ablation_order(r.values, d, rng) for d in directions]) for r in rankings]
    )
    randoms = np.stack([rng.permutation(n) for _ in range(n_random)])

    steps, where_ = ablation_steps(orders.reshape(-1, n), randoms, ks)
    fill = None
    if method == "zero":
        fill = np.zeros(n)
    elif reference is not None:
        from factorprobe.probing.capture import capture

        ref = capture(model, reference, layers=[layer], activation=activation,
                      batch_size=batch_size, device=device_, progress=False)  # fmt: skip
        fill = ref.mean(STIMULUS).values
    plan = forward_plan(model, [target.module] + ([read_target.module] if read_target else []),
                        allow_split=forward == "auto")  # fmt: skip
    plan, _, outputs = run_steps(model, source, plan, target, read_target, steps, fill,
                                 device=device_, show=show)  # fmt: skip
    targets = [factor_values(coords, fc)[0] for fc in codes]
    metrics = metric_names(codes, labels is not None, targets)
    values = score_steps(outputs, len(steps), labels, codes, targets, decoder=decoder, C=C,
                         alphas=alphas, n_splits=n_splits, max_iter=max_iter,
                         random_state=folds_state)  # fmt: skip

    score = values[where_["ranked"]].reshape(len(rankings), len(directions), len(ks), -1)
    rand = values[where_["random"]].reshape(n_random, len(ks), -1)
    ds = xr.Dataset(
        {
            "score": ((K, RANKING, DIRECTION, METRIC), score.transpose(2, 0, 1, 3)),
            "random": ((K, RANDOM, METRIC), rand.transpose(1, 0, 2)),
            "random_mean": ((K, METRIC), rand.mean(axis=0)),
            "random_sd": ((K, METRIC), rand.std(axis=0, ddof=1)),
            "order": ((RANKING, DIRECTION, RANK), orders),
            "random_units": ((RANDOM, RANK), randoms),
            "ranking_value": ((RANKING, UNIT), np.stack([r.values for r in rankings])),
        },
        coords={
            K: ks,
            "fraction": (K, ks / n),
            RANKING: [r.label for r in rankings],
            "ranking_factor": (RANKING, [r.factor for r in rankings]),
            DIRECTION: list(directions),
            METRIC: [m[0] for m in metrics],
            "metric_units": (METRIC, [m[1] for m in metrics]),
            "metric_factor": (METRIC, [m[2] for m in metrics]),
            "chance": (METRIC, [chance_level(m, codes, labels) for m in metrics]),
            RANDOM: np.arange(n_random),
            RANK: np.arange(n),
            INDEX: (UNIT, np.arange(n)),
            LAYER: (UNIT, np.full(n, layer)),
        },
    )
    ds["score"].attrs = {"long_name": "metric after ablating the k first units of the order"}
    ds["random_sd"].attrs = {"long_name": "sd over random orders (ddof=1)"}
    ds.attrs = {
        **model.describe(),
        "layer": layer,
        "ablated_values": f"{target.module} ({target.values})",
        "readout": readout,
        "readout_values": f"{read_target.module} ({read_target.values})" if read_target else
        "model output",
        "method": method,
        "mean_over": "" if method == "zero" else ("reference" if reference is not None
                                                  else "stimuli"),
        "n_units": n,
        "n_stimuli": source.n,
        "n_random": n_random,
        "decoder": "shrinkage LDA (Ledoit-Wolf), standardised inputs" if decoder == "lda"
        else "multinomial logistic regression, L2, standardised inputs (as decoding)",
        "C": C if decoder == "logistic" else "",
        "value_decoder": "ridge regression on standardised inputs (multi-output for a group; "
        "R2 of a group: mean of its members'), penalty " + ("given" if len(alphas) == 1 else
        "by leave-one-out on each training fold") + " (as decoding)",
        "alpha_grid": " ".join(f"{a:g}" for a in alphas),
        "n_splits": n_splits,
        "cross_validation": "stratified k-fold cross-fitting on each factor's levels, the same "
        "folds at every step and for the label and value decoders",
        "classes": json.dumps(class_names) if class_names else "",
        "label": label if class_names else "",
        "forward_path": plan.description,
        "ties": "broken in a seeded random order",
        "nan_ranking": "units with NaN ranking values are ablated last in both directions",
        "seed": seed,
        "reference": _REFERENCES,
    }  # fmt: skip
    ds.attrs = {k: v for k, v in ds.attrs.items() if v is not None}
    return ds


def _available(coords: dict[str, np.ndarray]) -> list[str]:
    names = [k for k in coords if k != STIMULUS]
    return names + (["position"] if {"x", "y"} <= set(names) else [])
