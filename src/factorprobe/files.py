"""Deprecated: moved to :mod:`factorprobe.io.files`; this path works until the next release."""

from factorprobe._deprecated import moved_module

moved_module("factorprobe.files", globals())
