"""Deprecated: moved to :mod:`factorprobe.io.tables`; this path works until the next release."""

from factorprobe._deprecated import moved_module

moved_module("factorprobe.tables", globals())
