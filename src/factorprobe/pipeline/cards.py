"""What a unit's card needs beyond the tables: its strongest and weakest stimuli, and saliency.

:func:`write_card_inputs` reads one unit's activations from the saved store (one column, never
the whole store), renders the ``k`` stimuli that drive it most and least from the run's
configuration, computes the saliency of the unit on its top stimulus (this loads the model, so
torch, through :mod:`factorprobe.interventions`), and saves them as ``cards/<layer>_<index>.nc``
(:func:`factorprobe.io.results.card_file`), which :func:`factorprobe.report.cards.unit_card`
draws; :func:`factorprobe.report.cards.card_units` names the units the report gives a card.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal, cast

import numpy as np
import xarray as xr

from factorprobe.dims import INDEX, LAYER, STIMULUS, UNIT
from factorprobe.io.files import atomic_output, read_json
from factorprobe.io.results import card_file, find_activations
from factorprobe.io.saved import open_saved
from factorprobe.pipeline.config import RunConfig, load_config

__all__ = ["parse_unit", "write_card", "write_card_inputs"]

#: stimuli in each strip of a card (most and least driving)
STRIP = 5
#: the strip's images are subsampled to at most this many pixels a side
STRIP_PX = 112
_UNIT = re.compile(r"^(?P<layer>.+?)(?::(?P<a>-?\d+)|\[(?P<b>-?\d+)\])$")


def parse_unit(text: str) -> tuple[str, int]:
    """``"fc1:17"`` or ``"fc1[17]"`` as ``("fc1", 17)``.

    Raises
    ------
    ValueError
        For any other form.
    """
    found = _UNIT.match(str(text).strip())
    if not found:
        raise ValueError(
            f"A unit is named LAYER:INDEX or LAYER[INDEX], e.g. 'fc1:17'; got {text!r}."
        )
    return found["layer"], int(found["a"] if found["a"] is not None else found["b"])


def write_card_inputs(
    results: str | os.PathLike[str],
    units: list[tuple[str, int]],
    *,
    k: int = STRIP,
    saliency: bool = True,
    config: RunConfig | str | os.PathLike[str] | None = None,
) -> list[Path]:
    """Save each unit's strips of stimuli and its saliency map for its card.

    Parameters
    ----------
    results : path-like
        A results folder (its ``config.toml`` and activations, its own or the ones ``analyze``
        recorded in ``manifest.json``).
    units : list of (str, int)
        ``(layer, index)`` of each unit.
    k : int, default=5
        Stimuli in each strip.
    saliency : bool, default=True
        Compute the gradient of the unit on its top stimulus (loads the model).
    config : RunConfig or path, optional
        The run's configuration; default the folder's ``config.toml`` (a ``python:`` model is
        then looked for beside it: pass the original configuration file instead).

    Returns
    -------
    list of Path
        The files written, ``cards/<layer>_<index>.nc``: ``image`` over ``(strip, row, col)``
        (the ``k`` most driving stimuli, then the ``k`` least; 8-bit, intensity × 255, attrs
        ``image_scale``; every ``step``-th pixel, at most :data:`STRIP_PX` a side),
        ``activation`` over ``strip``
        (activation units), ``rank`` (``most 1``..., ``least 1``...), the factor values as
        coordinates on ``strip``, and ``saliency`` over ``(pixel_row, pixel_col)``, the full
        image's pixels (activation per unit
        pixel intensity) on the first.

    Raises
    ------
    ValueError, KeyError
        No activations or configuration, or a unit the activations do not have.
    """
    from factorprobe.pipeline._stage_model import load_run_model
    from factorprobe.pipeline._stage_stimuli import render_run, run_canvas, run_stimuli

    results = Path(results)
    manifest_path = results / "manifest.json"
    manifest = read_json(manifest_path) if manifest_path.is_file() else {}
    store = find_activations(results, manifest)
    if config is None and not (results / "config.toml").is_file():
        raise ValueError(
            f"{str(results)!r} has no config.toml; a unit card needs the folder of a "
            "'factorprobe run' (or one 'factorprobe analyze' wrote from it)."
        )
    if store is None:
        raise ValueError(f"{str(results)!r} has no activations (nor a record of where they are).")
    if not isinstance(config, RunConfig):
        (config,) = load_config(results / "config.toml" if config is None else config)
    acts = open_saved(store)
    model = load_run_model(config.model, base_dir=config.base_dir)
    space, _ = run_stimuli(config, model)
    written = []
    # the units' columns in one read of the store (their chunks only), the factors once
    positions = [_position(acts, layer, index) for layer, index in units]
    columns = np.asarray(acts.isel({UNIT: positions}).values, dtype=float)
    coords = {
        str(c): np.asarray(v.values)
        for c, v in acts.coords.items()
        if v.dims == (STIMULUS,) and c != STIMULUS
    }
    for j, (layer, index) in enumerate(units):
        column = columns[:, j]
        order = np.argsort(-column, kind="stable")
        picks = np.concatenate([order[:k], order[::-1][:k]])
        rendered = render_run(space.take(picks), config, run_canvas(config, model))
        # 8-bit images, compressed: a card's file stays small (mostly background)
        images = np.round(rendered["image"].values[..., 0] * 255).astype(np.uint8)
        # at most STRIP_PX pixels a side: the card shows them about an inch wide
        step = max(1, int(np.ceil(max(images.shape[1:]) / STRIP_PX)))
        images = images[:, ::step, ::step]
        ranks = [f"most {i + 1}" for i in range(k)] + [f"least {i + 1}" for i in range(k)]
        factors = {c: ("strip", values[picks]) for c, values in coords.items()}
        strip = xr.Dataset(
            {"image": (("strip", "row", "col"), images), "activation": ("strip", column[picks])},
            coords={"rank": ("strip", ranks), **factors},
            attrs={"layer": layer, "index": index, "units": "activation", "image_scale": 255},
        )
        if saliency:
            from factorprobe.interventions import saliency as gradients

            sal = gradients(
                model, rendered.isel({STIMULUS: [0]}), layer=layer, unit=index,
                activation=cast(Literal["post", "pre"], config.model.activation),
                device=config.model.device,
            )  # fmt: skip
            strip["saliency"] = (("pixel_row", "pixel_col"), sal.values[0, 0].astype(np.float32))
            strip["saliency"].attrs["units"] = "activation per unit pixel intensity"
        path = results / card_file(layer, index)
        with atomic_output(path) as tmp:
            encoding = {"image": {"zlib": True, "complevel": 4}}
            strip.to_netcdf(tmp, engine="h5netcdf", encoding=encoding)
        written.append(path)
    return written


def _position(acts: xr.DataArray, layer: str, index: int) -> int:
    """The position along ``unit`` of a unit of the activations."""
    layers = acts[LAYER].values.astype(str)
    hits = np.flatnonzero((layers == layer) & (acts[INDEX].values == index))
    if not hits.size:
        sizes = {n: int((layers == n).sum()) for n in dict.fromkeys(layers)}
        valid = ", ".join(f"{n}:0..{m - 1}" for n, m in sizes.items())
        raise KeyError(f"Unknown unit {layer}:{index}; the activations have {valid}.")
    return int(hits[0])


def write_card(results: str | os.PathLike[str], layer: str, index: int) -> Path:
    """Draw a unit's card to ``cards/<layer>_<index>.png`` and its table row to ``.csv``.

    Returns
    -------
    Path
        The PNG (its row of the unit table, with the data dictionary's words, beside it).
    """
    from factorprobe.report.cards import unit_card, unit_row
    from factorprobe.report.plots import save_figure

    results = Path(results)
    png = (results / card_file(layer, index)).with_suffix(".png")
    save_figure(unit_card(results, layer, index), png, dpi=100)
    with atomic_output(png.with_suffix(".csv")) as tmp:
        unit_row(results, layer, index).to_csv(tmp)
    return png
