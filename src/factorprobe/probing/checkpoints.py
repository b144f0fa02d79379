"""Checkpoints that never run code: safetensors, or ``torch.load(weights_only=True)``."""

from __future__ import annotations

import hashlib
import json
import math
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

        _check_declared_sizes(path)
        try:
            with safe_open(str(path), framework="pt") as f:
                metadata = dict(f.metadata() or {})
                return {k: f.get_tensor(k) for k in f.keys()}, metadata  # noqa: SIM118
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as err:  # a damaged header can panic in Rust (a BaseException)
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


_ITEMSIZE = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "I16": 2}
_ITEMSIZE |= {"F16": 2, "BF16": 2, "U32": 4, "I32": 4, "F32": 4, "U64": 8, "I64": 8, "F64": 8}


def _check_declared_sizes(path: Path) -> None:
    """Refuse a safetensors file whose header declares more tensor data than the file holds.

    Checked from the header alone, before any tensor is allocated (a header can declare a
    4 TB tensor in a 1 kB file). A header that cannot be read is left to safetensors' error.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        length = int.from_bytes(f.read(8), "little")
        if not 0 < length <= size - 8:
            return
        try:
            header = json.loads(f.read(length))
        except ValueError:
            return
    held = size - 8 - length
    if not isinstance(header, dict):
        return
    for name, info in header.items():
        if name == "__metadata__" or not isinstance(info, dict):
            continue
        shape, dtype = info.get("shape"), info.get("dtype")
        if not isinstance(shape, list) or not all(isinstance(n, int) for n in shape):
            continue
        declared = math.prod(shape) * _ITEMSIZE.get(str(dtype), 1)
        if declared > held:
            raise ValueError(
                f"Cannot read {str(path)!r} as safetensors: its header declares tensor "
                f"{name!r} of shape {shape} ({_size_text(declared)}) but the file holds "
                f"{_size_text(held)} of tensor data; the file is damaged or not a checkpoint."
            )


def _size_text(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} bytes"  # pragma: no cover


def check_declared_network(
    declared: nn.Module, state: dict[str, torch.Tensor], path: Path, name: str
) -> None:
    """Refuse a network larger than the weights that come with it, before it is allocated.

    ``declared`` is built on the meta device (no memory) from a checkpoint's metadata; the
    weights in the file were read already, so a network no larger than them is safe to build.
    """
    wanted = sum(t.numel() * t.element_size() for t in declared.state_dict().values())
    held = sum(t.numel() * t.element_size() for t in state.values())
    if wanted > held:
        raise ValueError(
            f"Weights {str(path)!r} do not fit model {name!r}: the file's metadata declares a "
            f"network of {_size_text(wanted)} but the file holds {_size_text(held)} of "
            f"weights; the file is damaged or not a checkpoint of this model."
        )


def load_into(network: nn.Module, state: dict[str, torch.Tensor], path: Path, name: str) -> None:
    """Load ``state`` into ``network``; every missing or unexpected key is a ValueError."""
    try:
        result = network.load_state_dict(state, strict=False)
    except RuntimeError as err:  # torch lists every mismatched shape over many lines
        raise ValueError(
            f"Weights {str(path)!r} do not fit model {name!r}: {first_line(err)}"
        ) from err
    _refuse_keys(result.missing_keys, result.unexpected_keys, path, name)


def _refuse_keys(missing: list[str], unexpected: list[str], path: Path, name: str) -> None:
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing ({missing[0]!r}, ...)")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected ({unexpected[0]!r}, ...)")
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
