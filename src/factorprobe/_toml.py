"""Read a TOML file with one-line errors; write the TOML subset the run configuration uses."""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed TOML file at ``path``; a missing, unreadable or invalid file in one line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f"No such file: {str(path)!r}; give the path of a TOML configuration "
            f"(examples/default.toml documents every key)."
        ) from err
    except IsADirectoryError as err:
        raise IsADirectoryError(
            f"{str(path)!r} is a folder; give the path of a TOML configuration file."
        ) from err
    except UnicodeDecodeError as err:
        raise ValueError(f"{str(path)!r} is not a text (UTF-8) TOML file: {err}.") from err
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{str(path)!r} is not valid TOML: {err}.") from err


def dumps_tables(top: Mapping[str, Any], tables: Mapping[str, Mapping[str, Any]]) -> str:
    """TOML of top-level keys, then one ``[table]`` each (keys whose value is None left out)."""
    lines = [f"{_key(k)} = {toml_value(v)}" for k, v in top.items() if v is not None]
    for name, table in tables.items():
        lines += ["", f"[{name}]"]
        lines += [f"{_key(k)} = {toml_value(v)}" for k, v in table.items() if v is not None]
    return "\n".join(lines) + "\n"


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("nan" if value != value else "inf")
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"Cannot write {value!r} of type {type(value).__name__} to TOML.")


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_value(key)
