"""Stimuli: factor spaces, designs, shape geometry and exact-area rendering.

See :mod:`factorprobe.stimuli.shapes` for the coordinate convention and what ``size`` means for
each shape, :mod:`factorprobe.stimuli.factors` for the fit rule, and
:mod:`factorprobe.stimuli.render` for intensity and contrast.
"""

from __future__ import annotations

from factorprobe.stimuli.audit import StimulusWarning
from factorprobe.stimuli.datasets import load_dsprites
from factorprobe.stimuli.dependence import factor_dependence
from factorprobe.stimuli.factors import FACTORS, FactorSpace, grid, largest_size, random_design
from factorprobe.stimuli.render import RENDERER_VERSION, RenderOptions, iter_batches, render
from factorprobe.stimuli.shapes import SHAPES, sprite_alpha
from factorprobe.stimuli.sheet import contact_sheet, write_stimuli

__all__ = [
    "FACTORS",
    "RENDERER_VERSION",
    "SHAPES",
    "FactorSpace",
    "RenderOptions",
    "StimulusWarning",
    "contact_sheet",
    "factor_dependence",
    "grid",
    "iter_batches",
    "largest_size",
    "load_dsprites",
    "random_design",
    "render",
    "sprite_alpha",
    "write_stimuli",
]
