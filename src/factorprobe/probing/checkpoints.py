"""Checkpoints that never run code: safetensors, or ``torch.load(weights_only=True)``."""

from __future__ import annotations

import hashlib
import pickle
import re
from pathlib import Path

import torch
from torch import nn


def read_state_dict(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a checkpoint without running code: safetensors, or ``torch.load(weights_only=True)``.

    Parameters
    ----------
    path : Path
        A ``.safetensors`` file, or a file written by ``torch.save`` holding a state dict
        (optionally under a ``"state_dict"`` or ``"model"`` key).

    Returns
    -------
    (dict, dict)
        The tensors by name, and the safetensors metadata (empty for ``torch.save`` files).

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is not a plain state dict (for example a pickle that would run code).
    """
    if not path.is_file():
        raise FileNotFoundError(f"No weights file at {str(path)!r}; give an existing file.")
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                metadata = dict(f.metadata() or {})
                return {k: f.get_tensor(k) for k in f.keys()}, metadata  # noqa: SIM118
        except Exception as err:
            raise ValueError(
                f"Cannot read {str(path)!r} as safetensors ({first_line(err)})."
            ) from err
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
        # torch's message is paragraphs long; the global it refused is what matters
        refused = re.search(r"(unsupported|Unsupported global:) GLOBAL [\w.]+", str(err))
        raise ValueError(
            f"Refusing to load {str(path)!r}: it is not a plain state dict that "
            f"torch.load(weights_only=True) accepts (it may run code: "
            f"{refused.group(0) if refused else first_line(err)}); save model.state_dict() or "
            f"convert it to .safetensors."
        ) from err
    for key in ("state_dict", "model"):
        if isinstance(loaded, dict) and isinstance(loaded.get(key), dict):
            loaded = loaded[key]
    if not isinstance(loaded, dict) or not all(
        isinstance(v, torch.Tensor) for v in loaded.values()
    ):
        raise ValueError(
            f"{str(path)!r} does not hold a state dict (a mapping of names to tensors); got "
            f"{type(loaded).__name__}."
        )
    return loaded, {}


def load_into(network: nn.Module, state: dict[str, torch.Tensor], path: Path, name: str) -> None:
    """Load ``state`` into ``network``; every missing or unexpected key is a ValueError."""
    try:
        result = network.load_state_dict(state, strict=False)
    except RuntimeError as err:  # torch lists every mismatched shape over many lines
        raise ValueError(
            f"Weights {str(path)!r} do not fit model {name!r}: {first_line(err)}"
        ) from err
    problems = []
    if result.missing_keys:
        problems.append(f"{len(result.missing_keys)} missing ({result.missing_keys[0]!r}, ...)")
    if result.unexpected_keys:
        problems.append(
            f"{len(result.unexpected_keys)} unexpected ({result.unexpected_keys[0]!r}, ...)"
        )
    if problems:
        raise ValueError(
            f"Weights {str(path)!r} do not fit model {name!r}: keys {'; '.join(problems)}."
        )


def file_digest(path: Path) -> str:
    """The first 12 hex digits of a file's SHA-256 (names the weights in attrs)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


def first_line(err: BaseException) -> str:
    """An exception's message on one line, at most 200 characters."""
    return " ".join(str(err).split())[:200]
