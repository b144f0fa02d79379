"""Information, selectivity, tuning and layer-level measures of units for stimulus factors.

Every measure takes activations ``DataArray[stimulus, unit]`` with the factors as coordinates on
``stimulus`` and returns labelled results in bits; :func:`unit_table` gathers them all. Only
measures are exported here; nothing in this subpackage imports torch. Building blocks live in
their modules (:func:`~factorprobe.analysis.design.factor_codes`,
:func:`~factorprobe.analysis.significance.benjamini_hochberg`), synthetic data in
:mod:`factorprobe.analysis.planted`, and the measures that run a network again (ablation,
saliency) in :mod:`factorprobe.interventions`.
"""

from __future__ import annotations

from factorprobe._deprecated import ANALYSIS_MOVED, RENAMED, moved_name, renamed_name
from factorprobe.analysis.anova import two_way_anova
from factorprobe.analysis.basis import basis_comparison
from factorprobe.analysis.between_layers import layer_predictivity
from factorprobe.analysis.design import DesignDependenceWarning, design_dependence
from factorprobe.analysis.directions import directions, principal_components, random_directions
from factorprobe.analysis.disentanglement import disentanglement
from factorprobe.analysis.information import (
    co_information,
    conditional_mutual_information,
    entropy,
    mutual_information,
)
from factorprobe.analysis.linearity import linearity
from factorprobe.analysis.pid import partial_information
from factorprobe.analysis.population import cka, decoding
from factorprobe.analysis.quantize import quantize
from factorprobe.analysis.roles import role_correlations, role_table
from factorprobe.analysis.selectivity import (
    kl_selectivity,
    mean_response_selectivity,
    modularity,
    omega_squared,
    selectivity_index,
    shares,
)
from factorprobe.analysis.table import unit_table
from factorprobe.analysis.tuning import response_map, separability, tolerance, tuning_curves


def __getattr__(name: str) -> object:
    if name in ANALYSIS_MOVED:  # moved in 0.2: interventions, building blocks, synthetic data
        return moved_name("factorprobe.analysis", name, ANALYSIS_MOVED[name])
    if name in RENAMED[__name__]:  # one name per meaning, 0.2
        return renamed_name(__name__, name)
    raise AttributeError(f"module 'factorprobe.analysis' has no attribute {name!r}")


__all__ = [
    "DesignDependenceWarning",
    "basis_comparison",
    "cka",
    "co_information",
    "conditional_mutual_information",
    "decoding",
    "design_dependence",
    "directions",
    "disentanglement",
    "entropy",
    "kl_selectivity",
    "layer_predictivity",
    "linearity",
    "mean_response_selectivity",
    "modularity",
    "mutual_information",
    "omega_squared",
    "partial_information",
    "principal_components",
    "quantize",
    "random_directions",
    "response_map",
    "role_correlations",
    "role_table",
    "selectivity_index",
    "separability",
    "shares",
    "tolerance",
    "tuning_curves",
    "two_way_anova",
    "unit_table",
]
