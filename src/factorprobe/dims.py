"""Dimension and coordinate names shared by every stage (DESIGN.md section 4)."""

from __future__ import annotations

STIMULUS = "stimulus"
UNIT = "unit"
FACTOR = "factor"
PERMUTATION = "permutation"
BIN = "bin"
LEVEL = "level"

ROW = "row"
COL = "col"
CHANNEL = "channel"

LAYER = "layer"
INDEX = "index"

# Factor groups: a group is analysed with the joint label of its members.
FACTOR_GROUPS: dict[str, tuple[str, ...]] = {"position": ("x", "y")}

__all__ = [
    "BIN",
    "CHANNEL",
    "COL",
    "FACTOR",
    "FACTOR_GROUPS",
    "INDEX",
    "LAYER",
    "LEVEL",
    "PERMUTATION",
    "ROW",
    "STIMULUS",
    "UNIT",
]
