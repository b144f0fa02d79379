"""Checks of configuration values, with one-line messages naming the table, key, value and choices.

Used by :mod:`factorprobe.config` only, e.g. ``The 'n_bins' key of [analysis] must be an integer
>= 2; got 1.`` or ``Unknown key 'n_bin' in [analysis]; did you mean 'n_bins'? ...``
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from factorprobe.cluster import ADDRESS_PREFIXES, LOCAL_SCHEDULERS


def fail(table: str, key: str, expected: str, value: object, kind: type = ValueError) -> NoReturn:
    raise kind(f"The {key!r} key of [{table}] must be {expected}; got {value!r}.")


def choice(table: str, key: str, value: object, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        fail(table, key, "one of " + ", ".join(repr(c) for c in choices), value)
    return value  # type: ignore[return-value]


def boolean(table: str, key: str, value: object) -> bool:
    if not isinstance(value, bool):
        fail(table, key, "true or false", value, TypeError)
    return value  # type: ignore[return-value]


def integer(table: str, key: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        fail(table, key, f"an integer >= {minimum}", value, TypeError)
    if value < minimum:  # type: ignore[operator]
        fail(table, key, f"an integer >= {minimum}", value)
    return int(value)  # type: ignore[arg-type]


def real(
    table: str, key: str, value: object, low: float | None = None, high: float | None = None
) -> float:
    bounds = (
        f" in [{low}, {high}]"
        if low is not None and high is not None
        else (f" >= {low}" if low is not None else "")
    )
    if isinstance(value, bool) or not isinstance(value, int | float):
        fail(table, key, f"a number{bounds}", value, TypeError)
    value = float(value)  # type: ignore[arg-type]
    if not math.isfinite(value) or (low is not None and value < low):
        fail(table, key, f"a finite number{bounds}", value)
    if high is not None and value > high:
        fail(table, key, f"a finite number{bounds}", value)
    return value


def text(table: str, key: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        fail(table, key, "a non-empty string", value, TypeError)
    return value  # type: ignore[return-value]


def as_list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def reals(table: str, key: str, value: object, low: float | None = None) -> tuple[float, ...]:
    items = as_list(value)
    if not items:
        fail(table, key, "a number or a non-empty list of numbers", value)
    out = tuple(real(table, key, v, low) for v in items)
    if len(set(out)) != len(out):
        fail(table, key, "a list of distinct numbers", value)
    return out


def names(table: str, key: str, value: object, *, empty: bool = False) -> tuple[str, ...]:
    items = as_list(value)
    if not all(isinstance(v, str) and v for v in items) or (not items and not empty):
        what = "a list of names" if empty else "a name or a non-empty list of names"
        fail(table, key, what, value, TypeError)
    if len(set(items)) != len(items):
        fail(table, key, "a list of distinct names", value)
    return tuple(items)


def scheduler(table: str, key: str, value: object) -> str:
    """A local dask scheduler's name, or a ``dask.distributed`` address (``tcp://host:8786``)."""
    return checked_scheduler(value, f"The {key!r} key of [{table}]")


def checked_scheduler(value: object, subject: str) -> str:
    """``value`` if it names a local dask scheduler or an address; else '<subject> must be ...'."""
    expected = (
        f"one of {', '.join(repr(s) for s in LOCAL_SCHEDULERS)}, or the address of a "
        f"dask.distributed scheduler such as 'tcp://host:8786' (starting with "
        f"{', '.join(repr(p) for p in ADDRESS_PREFIXES)})"
    )
    if not isinstance(value, str):
        raise TypeError(f"{subject} must be {expected}; got {value!r}.")
    prefix = next((p for p in ADDRESS_PREFIXES if value.startswith(p)), "")
    address = bool(prefix) and len(value) > len(prefix) and not any(c.isspace() for c in value)
    if value not in LOCAL_SCHEDULERS and not address:
        raise ValueError(f"{subject} must be {expected}; got {value!r}.")
    return value


def keys(table: Mapping[str, Any], valid: Sequence[str], where: str) -> None:
    """Refuse a key that is not in ``valid``, naming the closest valid one."""
    for key in table:
        if key not in valid:
            close = difflib.get_close_matches(str(key), valid, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(
                f"Unknown key {key!r} in {where}; {hint}valid keys: "
                f"{', '.join(repr(v) for v in valid)}."
            )
