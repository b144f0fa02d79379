"""Argument checks shared by the public functions, with messages in the house style.

Every message says what was wrong, what was expected and what was received, in one sentence,
e.g. ``The 'n_bins' parameter of entropy must be an int >= 2; got 1.``
"""

from __future__ import annotations

from collections.abc import Iterable
from numbers import Integral, Real

import numpy as np


def check_choice(value: object, choices: Iterable[object], *, name: str, where: str) -> None:
    """Raise ValueError unless ``value`` is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ValueError(
            f"The {name!r} parameter of {where} must be one of {valid}; got {value!r}."
        )


def check_int(
    value: object,
    *,
    name: str,
    where: str,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    """Return ``value`` as an int, or raise TypeError/ValueError naming the bounds."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(
            f"The {name!r} parameter of {where} must be an int; got {value!r} "
            f"of type {type(value).__name__}."
        )
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(
            f"The {name!r} parameter of {where} must be an int "
            f"{_range_text(minimum, maximum)}; got {value}."
        )
    return value


def check_real(
    value: object,
    *,
    name: str,
    where: str,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    """Return ``value`` as a finite float, or raise TypeError/ValueError naming the bounds."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(
            f"The {name!r} parameter of {where} must be a real number; got {value!r} "
            f"of type {type(value).__name__}."
        )
    value = float(value)
    if (
        not np.isfinite(value)
        or (minimum is not None and value < minimum)
        or (maximum is not None and value > maximum)
    ):
        raise ValueError(
            f"The {name!r} parameter of {where} must be a finite number "
            f"{_range_text(minimum, maximum)}; got {value}."
        )
    return value


def as_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """Return a Generator from a seed, an existing Generator (used as is) or None (fresh)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, Integral)):
        raise TypeError(
            f"'seed' must be an int, a numpy Generator or None; got {seed!r} "
            f"of type {type(seed).__name__}."
        )
    return np.random.default_rng(seed)


def _range_text(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f"in [{minimum}, {maximum}]"
    if minimum is not None:
        return f">= {minimum}"
    if maximum is not None:
        return f"<= {maximum}"
    return ""
