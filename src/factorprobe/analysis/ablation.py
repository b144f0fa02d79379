"""Deprecated: moved to :mod:`factorprobe.interventions.ablation`; this path works until the next
release."""

from factorprobe._deprecated import moved_module

moved_module("factorprobe.analysis.ablation", globals())
