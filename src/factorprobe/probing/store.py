"""Deprecated: moved to :mod:`factorprobe.io.store`; this path works until the next release."""

from factorprobe._deprecated import moved_module

moved_module("factorprobe.probing.store", globals())
