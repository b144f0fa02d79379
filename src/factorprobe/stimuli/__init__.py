"""Stimuli: factor spaces, designs, shape geometry and exact-area rendering.

See :mod:`factorprobe.stimuli.shapes` for the coordinate convention and what ``size`` means for
each shape, :mod:`factorprobe.stimuli.factors` for the fit rule, and
:mod:`factorprobe.stimuli.render` for intensity and contrast.
"""

from __future__ import annotations

from factorprobe._deprecated import renamed_name
from factorprobe.stimuli.audit import StimulusWarning
from factorprobe.stimuli.datasets import load_dsprites
from factorprobe.stimuli.dependence import factor_mutual_information
from factorprobe.stimuli.factors import FACTORS, FactorSpace, grid, largest_size, random_design
from factorprobe.stimuli.render import RENDERER_VERSION, RenderOptions, iter_batches, render
from factorprobe.stimuli.shapes import SHAPES, sprite_alpha
from factorprobe.stimuli.sheet import contact_sheet, write_stimuli


def __getattr__(name: str) -> object:
    return renamed_name(__name__, name)  # factor_dependence, renamed in 0.2


__all__ = [
    "FACTORS",
    "RENDERER_VERSION",
    "SHAPES",
    "FactorSpace",
    "RenderOptions",
    "StimulusWarning",
    "contact_sheet",
    "factor_mutual_information",
    "grid",
    "iter_batches",
    "largest_size",
    "load_dsprites",
    "random_design",
    "render",
    "sprite_alpha",
    "write_stimuli",
]
