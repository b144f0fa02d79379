"""Cumulative ablation of a layer's units ranked by a coding measure, against random orders.

Amjad et al. (2018) and Morcos et al. (2018): units are set to zero or to their mean one after
another in the order of a ranking (mutual information with a factor, selectivity, a direction),
and what the network still does is measured at each step. See docs/ablation.md.
"""

from __future__ import annotations

from factorprobe.interventions.ablation._cumulative import (
    METHODS,
    ablated,
    cumulative_ablation,
    double_dissociation,
)
from factorprobe.interventions.ablation._dissociation import dissociation_frame

__all__ = ["METHODS", "ablated", "cumulative_ablation", "dissociation_frame", "double_dissociation"]
