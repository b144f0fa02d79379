"""factorprobe: which units of a network code which stimulus factor, and how exclusively.

The package has four stages, each a subpackage imported on first use so that
``import factorprobe`` stays cheap (torch is only imported by :mod:`factorprobe.probing`):

- :mod:`factorprobe.stimuli`: factor spaces, designs and rendering;
- :mod:`factorprobe.probing`: models, layer discovery and capture of unit activations;
- :mod:`factorprobe.analysis`: information, significance and selectivity per unit;
- :mod:`factorprobe.report`: plots and reports.

Examples
--------
>>> import factorprobe as fp
>>> space = fp.stimuli.grid(size=[16, 32], x=[60, 112], y=[112])
>>> len(space)
4
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["__version__", "analysis", "probing", "report", "stimuli"]

_SUBPACKAGES = frozenset({"analysis", "probing", "report", "stimuli"})

if TYPE_CHECKING:  # pragma: no cover
    from factorprobe import analysis, probing, report, stimuli


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        module = importlib.import_module(f"factorprobe.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'factorprobe' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBPACKAGES)
