"""Checks of configuration values, with one-line messages naming the table, key, value and choices.

Used by :mod:`factorprobe.pipeline.config` only, e.g. ``The 'n_bins' key of [analysis] must be an
integer
>= 2; got 1.`` or ``Unknown key 'n_bin' in [analysis]; did you mean 'n_bins'? ...``
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from factorprobe.scheduler import ADDRESS_PREFIXES, LOCAL_SCHEDULERS


class KeyValueError(ValueError):
    """A bad value of one key of a table (``key`` names it, so the other keys can still be
    checked and every problem reported at once)."""

    def __init__(self, message: str, key: str) -> None:
        super().__init__(message)
        self.key = key


class KeyTypeError(TypeError):
    """A value of the wrong type for one key of a table (see :class:`KeyValueError`)."""

    def __init__(self, message: str, key: str) -> None:
        super().__init__(message)
        self.key = key


class GridDefault(tuple):
    """A default list of factors that a run narrows to the factors its grid varies.

    A tuple like any other; only its type says that the user did not choose it.
    """

    __slots__ = ()


class GridCount(int):
    """A default number that a run lowers to what its grid allows (e.g. ``n_bins``)."""

    __slots__ = ()


def fail(table: str, key: str, expected: str, value: object, kind: type = ValueError) -> NoReturn:
    message = f"The {key!r} key of [{table}] must be {expected}; got {value!r}."
    raise (KeyTypeError if issubclass(kind, TypeError) else KeyValueError)(message, key)


def choice(table: str, key: str, value: object, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        fail(table, key, "one of " + ", ".join(repr(c) for c in choices), value)
    return value  # type: ignore[return-value]


def boolean(table: str, key: str, value: object) -> bool:
    if not isinstance(value, bool):
        fail(table, key, "true or false", value, TypeError)
    return value  # type: ignore[return-value]


def integer(
    table: str,
    key: str,
    value: object,
    minimum: int,
    maximum: int | None = None,
    *,
    low_why: str = "",
    high_why: str = "",
) -> int:
    """An int in ``[minimum, maximum]``; ``low_why``/``high_why`` say why a bound is there."""
    if isinstance(value, bool) or not isinstance(value, int):
        fail(table, key, f"an integer >= {minimum}", value, TypeError)
    if value < minimum:
        fail(table, key, f"an integer >= {minimum}" + (f" ({low_why})" if low_why else ""), value)
    if maximum is not None and value > maximum:
        fail(table, key, f"an integer <= {maximum}" + (f" ({high_why})" if high_why else ""), value)
    return int(value)


def seed(table: str, key: str, value: object) -> int:
    """A seed: saved files store it as a 64-bit integer."""
    why = "saved files store it as a 64-bit integer"
    return integer(table, key, value, 0, 2**63 - 1, high_why=why)


def batch_size(table: str, key: str, value: object) -> int:
    """Stimuli per forward pass, bounded by the memory one batch of images takes."""
    why = "a batch's images are held in memory at once: 65536 at 224 px take 13 GB"
    return integer(table, key, value, 1, 65536, high_why=why)


def permutations(table: str, key: str, value: object) -> int:
    """Permutations of a null distribution, bounded by what a p-value can resolve."""
    why = "p-values resolve 1e-5 at 100000; more only cost time and memory"
    return integer(table, key, value, 1, 100_000, high_why=why)


def resamples(table: str, key: str, value: object) -> int:
    """Bootstrap resamples: enough for a percentile interval, and no more than it can use."""
    low = "a percentile interval needs them: with 1 resample its width is 0"
    high = "more only cost time and memory"
    return integer(table, key, value, 10, 100_000, low_why=low, high_why=high)


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
    return value if isinstance(value, GridDefault) else tuple(items)


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
    problems = unknown_keys(table, valid, where)
    if problems:
        raise problems[0]


def unknown_keys(table: Mapping[str, Any], valid: Sequence[str], where: str) -> list[ValueError]:
    """One error per key of ``table`` that is not in ``valid``, naming the closest valid one."""
    problems: list[ValueError] = []
    for key in table:
        if key not in valid:
            close = difflib.get_close_matches(str(key), valid, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append(
                KeyValueError(
                    f"Unknown key {key!r} in {where}; {hint}valid keys: "
                    f"{', '.join(repr(v) for v in valid)}.",
                    str(key),
                )
            )
    return problems


def checked_table(cls: type, table: Mapping[str, Any], problems: list[Exception]) -> Any:
    """``cls(**table)``, checking every key: each bad key is recorded in ``problems`` and left
    at its default so that the others are still checked. None when a problem names no key (a
    rule between keys), after recording it."""
    kwargs = dict(table)
    while True:
        try:
            return cls(**kwargs)
        except (ValueError, TypeError) as err:
            problems.append(err)
            key = getattr(err, "key", None)
            if key not in kwargs:
                return None
            del kwargs[key]


def raise_all(problems: Sequence[Exception], prefix: str = "") -> None:
    """Raise nothing, the one problem, or one error listing every problem, numbered, on one line.

    The combined error is a TypeError when every problem is one, else a ValueError.
    """
    if not problems:
        return
    if len(problems) == 1:
        err = problems[0]
        if not prefix:
            raise err
        raise prefixed(err, prefix) from err
    kind = TypeError if all(isinstance(p, TypeError) for p in problems) else ValueError
    listed = " ".join(f"({i}) {prefix}{p}" for i, p in enumerate(problems, start=1))
    raise kind(f"The configuration has {len(problems)} problems: {listed}")


def prefixed(err: Exception, prefix: str) -> Exception:
    """``err``'s message after ``prefix``, as a plain TypeError or ValueError."""
    return (TypeError if isinstance(err, TypeError) else ValueError)(f"{prefix}{err}")
