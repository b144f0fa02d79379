"""Interventions: measures that run the network again, so they need torch and a model.

- :func:`ablated`: a context in which chosen units are set to fixed values;
- :func:`cumulative_ablation`: units removed one after another in the order of a ranking,
  against random orders; :func:`double_dissociation` contrasts two rankings' damage;
- :func:`saliency`: input gradients of a unit or a direction, per stimulus;
- :func:`jacobian_measures`: each unit's gain, input participation and Jacobian variability
  with respect to its layer's input; :func:`weight_spectrum` and :func:`weight_spread`: the
  layers' singular values and how each unit's incoming weights spread over them.

Everything else in factorprobe's analysis reads saved activations and never imports torch
(:mod:`factorprobe.analysis`); this subpackage sits above it and above
:mod:`factorprobe.probing`, whose public forward pass and hooks it uses.
"""

from __future__ import annotations

from factorprobe.interventions.ablation import ablated, cumulative_ablation, double_dissociation
from factorprobe.interventions.jacobian import jacobian_measures
from factorprobe.interventions.saliency import saliency
from factorprobe.interventions.weights import weight_spectrum, weight_spread

__all__ = [
    "ablated",
    "cumulative_ablation",
    "double_dissociation",
    "jacobian_measures",
    "saliency",
    "weight_spectrum",
    "weight_spread",
]
