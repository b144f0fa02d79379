"""Read a TOML file with one-line errors; write the TOML subset the run configuration uses."""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

#: A configuration is a few kB; a larger file, or a device such as /dev/zero, is not one.
MAX_CONFIG_BYTES = 1 << 20
#: Tables and arrays nested deeper than this are not a configuration (and would exhaust the stack).
MAX_NESTING = 32


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed TOML file at ``path``; a missing, unreadable or invalid file in one line.

    Only a regular file of at most :data:`MAX_CONFIG_BYTES` whose tables nest at most
    :data:`MAX_NESTING` deep is read.
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f"No such file: {str(path)!r}; give the path of a TOML configuration "
            f"(examples/default.toml documents every key)."
        ) from err
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(
            f"{str(path)!r} is a folder; give the path of a TOML configuration file."
        )
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(
            f"{str(path)!r} is not a regular file (a device, pipe or socket); give the path of "
            f"a TOML configuration file."
        )
    with open(path, "rb") as f:
        data = f.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise ValueError(
            f"{str(path)!r} is larger than {MAX_CONFIG_BYTES // 1024} KiB, too large for a "
            f"configuration; give the path of a TOML configuration file."
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{str(path)!r} is not a text (UTF-8) TOML file: {err}.") from err
    if _bracket_depth(text) > MAX_NESTING:
        raise ValueError(_too_deep(path))
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{str(path)!r} is not valid TOML: {err}.") from err
    except RecursionError as err:
        raise ValueError(_too_deep(path)) from err
    if _depth(parsed) > MAX_NESTING:
        raise ValueError(_too_deep(path))
    return parsed


def _too_deep(path: Path) -> str:
    return (
        f"{str(path)!r} nests tables or arrays more than {MAX_NESTING} levels deep; a "
        f"configuration needs only a few (examples/default.toml documents every key)."
    )


def _bracket_depth(text: str) -> int:
    """The deepest nesting of ``[`` and ``{`` in ``text`` (strings and comments included: an
    upper bound, enough to refuse a document before the parser recurses into it)."""
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(depth - 1, 0)
    return deepest


def _depth(value: Any) -> int:
    """Nesting depth of parsed TOML (dotted keys nest tables without brackets)."""
    stack = [(value, 1)]
    deepest = 0
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_NESTING:
            break
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest


def dumps_tables(top: Mapping[str, Any], tables: Mapping[str, Mapping[str, Any]]) -> str:
    """TOML of top-level keys, then one ``[table]`` each (keys whose value is None left out).

    Written by tomli-w (the writer paired with the standard library's ``tomllib`` reader), so
    what is written reads back to the same values.
    """
    document: dict[str, Any] = {k: v for k, v in top.items() if v is not None}
    for name, table in tables.items():
        document[name] = {k: v for k, v in table.items() if v is not None}
    return tomli_w.dumps(document)
