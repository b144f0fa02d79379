"""Choices and defaults of the ablation's options, defined once and importable without torch.

Also the activation (``"post"``/``"pre"``) that capture records, which the run configuration
validates without importing :mod:`factorprobe.probing`.

:func:`factorprobe.interventions.ablation.cumulative_ablation` takes its defaults and closed
sets from here, and so do the run configuration's ``[ablation]`` table and ``factorprobe
ablate``, which must not import torch to validate a file or build the parser. The analysis
measures keep their closed sets beside them (:mod:`factorprobe.analysis.information`,
:mod:`factorprobe.analysis.table`, :mod:`factorprobe.analysis.quantize`); the configuration and
the CLI import those.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

__all__ = [
    "ABLATION_DECODERS",
    "ABLATION_DIRECTIONS",
    "ABLATION_METHODS",
    "ACTIVATIONS",
    "DEFAULT_DECODER",
    "DEFAULT_DIRECTIONS",
    "DEFAULT_FACTORS",
    "DEFAULT_GRID",
    "DEFAULT_METHOD",
    "DEFAULT_N_RANDOM",
    "DEFAULT_N_SPLITS",
    "DEFAULT_SEED",
    "EMBEDDED_MODELS",
    "MIN_RANDOM",
    "AblationDecoder",
    "AblationDirection",
    "AblationMethod",
    "Activation",
]

#: the shipped embedded networks, by the names load_model and a run's [model] name take
#: (probing.embedded.catalogue holds their files; this list needs no torch to validate a file)
EMBEDDED_MODELS: Final[tuple[str, ...]] = ("embedded", "embedded:relu", "embedded:flat")

#: which output of a layer capture records: after its activation function, or before
Activation = Literal["post", "pre"]
ACTIVATIONS: Final[tuple[str, ...]] = get_args(Activation)

AblationMethod = Literal["zero", "mean"]
AblationDirection = Literal["highest", "lowest"]
AblationDecoder = Literal["logistic", "lda"]
#: what an ablated unit is set to
ABLATION_METHODS: Final[tuple[str, ...]] = get_args(AblationMethod)
#: ablate the units with the highest, or the lowest, ranking values first
ABLATION_DIRECTIONS: Final[tuple[str, ...]] = get_args(AblationDirection)
#: the read-out decoders of the ablation curves
ABLATION_DECODERS: Final[tuple[str, ...]] = get_args(AblationDecoder)

DEFAULT_FACTORS: Final[tuple[str, ...]] = ("size", "position")
DEFAULT_DIRECTIONS: Final[tuple[str, ...]] = ABLATION_DIRECTIONS
#: grid points from 0 units ablated to the layer's width
DEFAULT_GRID: Final = 9
#: random orders drawn as the baseline; fewer than MIN_RANDOM give no usable band
DEFAULT_N_RANDOM: Final = 5
MIN_RANDOM: Final = 5
DEFAULT_METHOD: Final = "zero"
DEFAULT_DECODER: Final = "logistic"
#: cross-validation folds of the read-out decoder
DEFAULT_N_SPLITS: Final = 5
DEFAULT_SEED: Final = 0
