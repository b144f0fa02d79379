"""Where a results folder keeps what the analysis saves for the report to draw.

The analysis stage (:func:`factorprobe.pipeline.runner.analyze`) writes these files and the
report (:mod:`factorprobe.report`) only reads them, so both take the names from here. Paths are
relative to the results folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "ACTIVATIONS",
    "BASELINE",
    "BASIS_COMPARISON",
    "CARDS",
    "MAP_VARIABLE",
    "N_DIRECTIONS",
    "RESPONSE_MAPS",
    "TUNING",
    "card_file",
    "find_activations",
    "response_map_file",
    "tuning_file",
]

#: unit table of the random-direction pseudo-units of every layer (same dims as ``units.nc``)
BASELINE = "baseline/random_directions.nc"
#: ``basis_comparison`` of the units against those directions, over ``(comparison, layer)``
BASIS_COMPARISON = "baseline/basis_comparison.nc"
#: folder of the 2-D response maps, one file per factor of the unit table
RESPONSE_MAPS = "response_maps"
#: the variable of a response-map file (dims ``unit`` and the factor pair)
MAP_VARIABLE = "response_map"
#: folder of the tuning curves, one file per factor of ``[analysis] tuning``
TUNING = "tuning"
#: random directions per layer in :data:`BASELINE`
N_DIRECTIONS = 256
#: folder of the unit cards' inputs (strips of stimuli, saliency), one file per unit
CARDS = "cards"
#: the manifest key where ``analyze`` records the activations it read (absolute path)
ACTIVATIONS = "activations"
# the activations a results folder may hold itself (io.saved.STORES, without importing zarr)
_STORES = ("activations.zarr", "activations.nc")


def tuning_file(factor: str) -> str:
    """``tuning/<factor>.nc``: the tuning curves of one factor."""
    return f"{TUNING}/{factor}.nc"


def response_map_file(factor: str) -> str:
    """``response_maps/<factor>.nc``: the response maps drawn for one factor."""
    return f"{RESPONSE_MAPS}/{factor}.nc"


def find_activations(results: Path, manifest: dict[str, Any]) -> Path | None:
    """The activations a results folder was analysed from, or None.

    Its own ``activations.zarr`` / ``activations.nc``, else the store that ``analyze`` recorded
    in its ``manifest.json`` (``factorprobe analyze RES --out OTHER`` leaves them in ``RES``),
    when that still exists.

    Parameters
    ----------
    results : Path
        A results folder.
    manifest : dict
        Its ``manifest.json``, read (empty when it has none).

    Returns
    -------
    Path or None
    """
    for name in _STORES:
        if (results / name).exists():
            return results / name
    recorded = manifest.get(ACTIVATIONS)
    if isinstance(recorded, str) and recorded:
        path = Path(recorded)
        path = path if path.is_absolute() else results / path
        if path.exists():
            return path
    return None


def card_file(layer: str, index: int) -> str:
    """``cards/<layer>_<index>.nc``: what a unit's card draws beyond the tables (the stimuli
    that drive it most and least, saliency on its top stimulus); characters other than letters,
    digits, ``.``, ``-`` in the layer's name become ``_``."""
    safe = "".join(c if c.isalnum() or c in ".-" else "_" for c in str(layer))
    return f"{CARDS}/{safe}_{int(index)}.nc"
