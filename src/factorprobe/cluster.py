"""Deprecated: moved to :mod:`factorprobe.scheduler`; this path works until the next release."""

from factorprobe._deprecated import moved_module

moved_module("factorprobe.cluster", globals())
