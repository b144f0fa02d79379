"""The shipped embedded networks: their names, files and model cards.

``"embedded"`` is the Swish network with global pooling (``weights.safetensors`` and
``card.json`` beside this module). Its twins (docs/twins.md), trained by ``factorprobe train``
from the same seed, recipe and data, live in a folder each: ``relu/`` (``"embedded:relu"``,
ReLU instead of SiLU) and ``flat/`` (``"embedded:flat"``, the last feature map flattened into
``fc1`` instead of pooled).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

EMBEDDED_NAME = "embedded"
EMBEDDED_WEIGHTS = "weights.safetensors"
EMBEDDED_CARD = "card.json"
#: twin (the name after ``"embedded:"``, and its folder) -> the architecture fields that set
#: it apart from the default network (:class:`~factorprobe.probing.NetworkConfig`)
EMBEDDED_TWINS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "relu": MappingProxyType({"activation": "relu", "head": "pool"}),
        "flat": MappingProxyType({"activation": "silu", "head": "flat"}),
    }
)
TWIN_NOTES = MappingProxyType(
    {"relu": "ReLU instead of SiLU", "flat": "last map flattened into fc1, no pooling"}
)


def embedded_names() -> tuple[str, ...]:
    """Names of the shipped embedded networks: the default and its twins.

    Examples
    --------
    >>> embedded_names()
    ('embedded', 'embedded:relu', 'embedded:flat')
    """
    return (EMBEDDED_NAME, *(f"{EMBEDDED_NAME}:{twin}" for twin in EMBEDDED_TWINS))


def model_card(model: str = EMBEDDED_NAME) -> dict[str, Any]:
    """A shipped embedded network's card: architecture, training, held-out accuracy per shape.

    Parameters
    ----------
    model : str, default="embedded"
        ``"embedded"`` (the Swish network), ``"embedded:relu"`` or ``"embedded:flat"`` (its
        twins; their cards also hold the ``factorprobe train`` command that reproduces them).

    Returns
    -------
    dict
        The card as JSON data; accuracies are fractions in [0, 1], ``training_seconds`` in s.

    Raises
    ------
    ValueError
        ``model`` is not one of the shipped embedded networks.

    Examples
    --------
    >>> model_card("embedded:relu")["name"]
    'embedded:relu'
    """
    return json.loads(embedded_file(EMBEDDED_CARD, twin_of(model, "model_card")).read_text())


def twin_of(model: object, where: str) -> str:
    """The twin a name selects (``""`` for the default network); other names are refused.

    Raises
    ------
    ValueError
        ``model`` names no shipped embedded network; the message lists the valid names.
    """
    if isinstance(model, str):
        prefix, _, twin = model.partition(":")
        if prefix == EMBEDDED_NAME and (twin == "" or twin in EMBEDDED_TWINS):
            return twin
    valid = ", ".join(repr(n) for n in embedded_names())
    raise ValueError(f"Unknown model {model!r} for {where}; valid: {valid}.")


def check_twin(config: object, twin: str, path: Path) -> None:
    """Refuse weights whose declared architecture is not the twin they are loaded as."""
    expected = dict(EMBEDDED_TWINS[twin])
    declared = {k: getattr(config, k, None) for k in expected}
    if declared != expected:
        raise ValueError(
            f"Weights {str(path)!r} declare {declared}, not the 'embedded:{twin}' twin "
            f"({expected}); load them as 'embedded' instead."
        )


def embedded_file(name: str, twin: str = "") -> Path:
    """A shipped file of an embedded network (``twin``: a twin's folder, e.g. ``"relu"``)."""
    folder = resources.files("factorprobe.probing.embedded")
    return Path(str(folder / twin / name if twin else folder / name))
