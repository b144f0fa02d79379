"""Information, significance and selectivity of units for stimulus factors (DESIGN.md §4–7).

Every measure takes activations ``DataArray[stimulus, unit]`` with the factors as coordinates on
``stimulus`` and returns labelled results in bits; :func:`unit_table` gathers them all.
"""

from __future__ import annotations

from factorprobe.analysis.design import DesignDependenceWarning, factor_codes, factor_dependence
from factorprobe.analysis.information import (
    co_information,
    conditional_mutual_information,
    entropy,
    mutual_information,
)
from factorprobe.analysis.planted import planted_units
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

__all__ = [
    "DesignDependenceWarning",
    "benjamini_hochberg",
    "co_information",
    "conditional_mutual_information",
    "entropy",
    "factor_codes",
    "factor_dependence",
    "kl_selectivity",
    "mean_response_selectivity",
    "modularity",
    "mutual_information",
    "omega_squared",
    "planted_units",
    "quantize",
    "selectivity_index",
    "shares",
    "unit_table",
]
