"""Information, selectivity, tuning and layer-level measures of units for stimulus factors.

Every measure takes activations ``DataArray[stimulus, unit]`` with the factors as coordinates on
``stimulus`` and returns labelled results in bits; :func:`unit_table` gathers them all.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from factorprobe.analysis.anova import two_way_anova
from factorprobe.analysis.basis import basis_comparison
from factorprobe.analysis.design import DesignDependenceWarning, factor_codes, factor_dependence
from factorprobe.analysis.directions import directions, principal_components, random_directions
from factorprobe.analysis.disentanglement import disentanglement
from factorprobe.analysis.information import (
    co_information,
    conditional_mutual_information,
    entropy,
    mutual_information,
)
from factorprobe.analysis.linearity import linearity
from factorprobe.analysis.planted import planted_units
from factorprobe.analysis.population import cka, decoding
from factorprobe.analysis.quantize import quantize
from factorprobe.analysis.selectivity import (
    kl_selectivity,
    mean_response_selectivity,
    modularity,
    omega_squared,
    selectivity_index,
    shares,
)
from factorprobe.analysis.significance import benjamini_hochberg
from factorprobe.analysis.table import unit_table
from factorprobe.analysis.tuning import response_map, separability, tolerance, tuning_curves

# Functions whose modules import torch are loaded on first use, so that analysing saved
# activations never pays for importing torch.
_TORCH_BACKED = {
    "ablated": "factorprobe.analysis.ablation",
    "cumulative_ablation": "factorprobe.analysis.ablation",
    "double_dissociation": "factorprobe.analysis.ablation",
    "saliency": "factorprobe.analysis.input_gradients",
    "write_ablation": "factorprobe.analysis.ablation",
}

if TYPE_CHECKING:  # pragma: no cover
    from factorprobe.analysis.ablation import (
        ablated,
        cumulative_ablation,
        double_dissociation,
        write_ablation,
    )
    from factorprobe.analysis.input_gradients import saliency


def __getattr__(name: str):
    if name in _TORCH_BACKED:
        value = getattr(importlib.import_module(_TORCH_BACKED[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'factorprobe.analysis' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_TORCH_BACKED))


__all__ = [
    "DesignDependenceWarning",
    "ablated",
    "basis_comparison",
    "benjamini_hochberg",
    "cka",
    "co_information",
    "conditional_mutual_information",
    "cumulative_ablation",
    "decoding",
    "directions",
    "disentanglement",
    "double_dissociation",
    "entropy",
    "factor_codes",
    "factor_dependence",
    "kl_selectivity",
    "linearity",
    "mean_response_selectivity",
    "modularity",
    "mutual_information",
    "omega_squared",
    "planted_units",
    "principal_components",
    "quantize",
    "random_directions",
    "response_map",
    "saliency",
    "selectivity_index",
    "separability",
    "shares",
    "tolerance",
    "tuning_curves",
    "two_way_anova",
    "unit_table",
    "write_ablation",
]
