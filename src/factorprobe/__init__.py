"""factorprobe: which units of a network code which stimulus factor, and how exclusively.

The package has four stages, each a subpackage imported on first use so that
``import factorprobe`` stays cheap (torch is only imported by :mod:`factorprobe.probing` and
:mod:`factorprobe.interventions`):

- :mod:`factorprobe.stimuli`: factor spaces, designs and rendering;
- :mod:`factorprobe.probing`: models, layer discovery and capture of unit activations;
- :mod:`factorprobe.analysis`: information, significance and selectivity per unit;
- :mod:`factorprobe.report`: plots and reports, drawn from saved files.

Around them: :mod:`factorprobe.io` (files, the activation store, tables),
:mod:`factorprobe.interventions` (ablation and saliency: they run the network again) and
:mod:`factorprobe.pipeline` (``factorprobe run``). docs/architecture.md draws the floors.

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

from factorprobe._version import __version__

_SUBPACKAGES = frozenset(
    {"analysis", "interventions", "io", "pipeline", "probing", "report", "stimuli"}
)
__all__ = ["__version__", *sorted(_SUBPACKAGES)]

if TYPE_CHECKING:  # pragma: no cover
    from factorprobe import (  # noqa: F401
        analysis,
        interventions,
        io,
        pipeline,
        probing,
        report,
        stimuli,
    )


def __getattr__(name: str) -> object:
    if name in _SUBPACKAGES:
        module = importlib.import_module(f"factorprobe.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'factorprobe' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBPACKAGES)
