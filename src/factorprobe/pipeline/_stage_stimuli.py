"""The stimuli of a run configuration: its factor grid, canvas, rendering and contact sheet."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import xarray as xr

from factorprobe.io.files import atomic_output
from factorprobe.pipeline.config import RunConfig


def run_stimuli(config: RunConfig, model: Any) -> tuple[Any, Any]:
    """The run's FactorSpace, and what capture takes: the space itself (rendered batch by batch,
    overlapping inference) for plain stimuli at the model's size, else the rendered Dataset."""
    from factorprobe import stimuli

    levels = {k: list(v) for k, v in config.stimuli.levels().items()}
    # StimuliConfig checked on_misfit against MISFIT, the choices of this literal
    on_misfit = cast(Literal["raise", "drop"], config.stimuli.on_misfit)
    space = stimuli.grid(canvas=run_canvas(config, model), on_misfit=on_misfit, **levels)
    height, width = model.input_size
    plain = (config.stimuli.background, config.stimuli.foreground) == (0.0, 1.0)
    if plain and config.stimuli.canvas in (None, height) and height == width:
        return space, space
    return space, render_run(space, config, run_canvas(config, model))


def run_canvas(config: RunConfig, model: Any) -> Any:
    """The configured canvas, else the model's input size."""
    height, width = model.input_size
    return config.stimuli.canvas or (height if height == width else (height, width))


def render_run(space: Any, config: RunConfig, canvas: Any) -> xr.Dataset:
    """Render ``space`` with the configuration's intensities (grayscale).

    Blank or repeated images are not warned about here: capture checks the run's stimuli
    (and refuses a set that is all blank or all one image).
    """
    from factorprobe import stimuli

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stimuli.StimulusWarning)
        return stimuli.render(
            space,
            canvas=canvas,
            background=config.stimuli.background,
            foreground=config.stimuli.foreground,
            mode="L",  # capture repeats grayscale to the model's channels
        )


def write_sheet(space: Any, config: RunConfig, canvas: Any, path: Path) -> None:
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
    subset = render_run(space.take(np.flatnonzero(keep)), config, canvas)
    # the varied factors held fixed, so the sheet's title states them (a constant is no news)
    held = {f: v for f, v in at.items() if len(levels[f]) > 1}
    image = stimuli.contact_sheet(subset, columns=columns, rows=rows, at=held)
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()  # the labels' font size, so a reader (and the report's test) can check it
    info.add_text("label_px", str(image.info["label_px"]))
    info.add_text("title", str(image.info["title"]))
    with atomic_output(path) as tmp:
        image.save(tmp, format="PNG", pnginfo=info)
