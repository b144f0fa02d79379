"""Deprecated: moved to :mod:`factorprobe.pipeline.config`; this path works until the next
release."""

from factorprobe._deprecated import moved_module

moved_module("factorprobe.config", globals())
