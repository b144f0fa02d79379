"""Factor spaces: full factorial grids and random designs, checked against the canvas.

A :class:`FactorSpace` is a table of stimuli: one 1-D array per factor, all of the same length.
Required factors are ``size``, ``x`` and ``y`` (pixels; ``x, y`` is the object's centre, see
:mod:`factorprobe.stimuli.shapes` for the coordinate convention and what ``size`` means per shape).
Optional factors:

- ``shape``: ``"disc"`` (default), ``"square"``, ``"triangle"``, ``"cross"``, or
  ``"sprite:NAME"`` for an image given to :func:`~factorprobe.stimuli.render`;
- ``rotation``: degrees, counterclockwise on screen (default 0);
- ``contrast``: in [0, 1], the fraction of the foreground-background difference drawn (default 1);
- ``foreground``, ``background``: intensities in [0, 1], per stimulus (override the render options);
- ``color``: a colour name or ``#rrggbb`` (Pillow's colour names), the foreground colour; a space
  with a colour factor renders as RGB.

**Fit rule.** An object fits when its axis-aligned bounding box, for its shape, size and rotation,
lies inside the canvas ``[0, width] x [0, height]``, so no pixel of it is clipped. The largest size
that fits at a point is therefore ``min(x, width - x) / hx`` and ``min(y, height - y) / hy``, where
``hx, hy`` are the shape's half extents at size 1 (0.5 for a disc or an unrotated square).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real
from typing import Any, Final, Literal, cast

import numpy as np
import pandas as pd

from factorprobe._validation import as_rng, check_choice, check_int
from factorprobe.stimuli.shapes import SHAPES, SPRITE_PREFIX, is_sprite, unit_half_extents

REQUIRED: Final[tuple[str, ...]] = ("size", "x", "y")
NUMERIC: Final[tuple[str, ...]] = (
    "size",
    "x",
    "y",
    "rotation",
    "contrast",
    "foreground",
    "background",
)
TEXT: Final[tuple[str, ...]] = ("shape", "color")
FACTORS: Final[tuple[str, ...]] = NUMERIC + TEXT
DEFAULTS: Final[dict[str, object]] = {"shape": "disc", "rotation": 0.0, "contrast": 1.0}
_UNIT_INTERVAL: Final[frozenset[str]] = frozenset({"contrast", "foreground", "background"})
_MISFIT: Final[tuple[str, ...]] = ("raise", "drop")
_MAX_RESAMPLING_ROUNDS: Final[int] = 100
#: Points of one grid at most: 10 million stimuli take 2 TB of images at 224 px.
MAX_GRID_POINTS: Final[int] = 10_000_000

Canvas = int | tuple[int, int]


@dataclass(frozen=True, eq=False)
class FactorSpace:
    """A design: the factor values of every stimulus, one 1-D array per factor.

    Build one with :func:`grid` or :func:`random_design`. Arrays are read-only.

    Attributes
    ----------
    data : Mapping[str, ndarray]
        Factor name -> values (float64 for numeric factors, str for ``shape`` and ``color``).
    design : str
        ``"grid"`` or ``"random"``.
    seed : int, str or None
        The seed a random design was drawn with (a str when it was a Generator or fresh
        entropy); None for a grid.
    levels : Mapping[str, tuple] or None
        The levels of each factor of a grid, in the order given; None for a random design.
    dropped : FactorSpace or None
        Points that did not fit on the canvas and were dropped (``on_misfit="drop"``).
    """

    data: Mapping[str, np.ndarray]
    design: str = "grid"
    seed: int | str | None = None
    levels: Mapping[str, tuple] | None = None
    dropped: FactorSpace | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        lengths = {name: np.shape(v) for name, v in self.data.items()}
        if len({s for s in lengths.values()}) > 1 or any(len(s) != 1 for s in lengths.values()):
            raise ValueError(
                f"Factor values must be 1-D arrays of one length; got shapes {lengths}."
            )
        frozen = {}
        for name, values in self.data.items():
            arr = np.array(values, dtype=float if name in NUMERIC else str)
            arr.flags.writeable = False
            frozen[name] = arr
        object.__setattr__(self, "data", frozen)

    @property
    def factors(self) -> tuple[str, ...]:
        """The factor names, in order."""
        return tuple(self.data)

    def __len__(self) -> int:
        return len(next(iter(self.data.values())))

    def __getitem__(self, name: str) -> np.ndarray:
        """The values of factor ``name`` (1-D, read-only)."""
        try:
            return self.data[name]
        except KeyError:
            valid = ", ".join(repr(f) for f in self.factors)
            raise KeyError(f"Unknown factor {name!r}; this space has {valid}.") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}: {np.unique(v).size} values" for k, v in self.data.items())
        return f"FactorSpace({len(self)} stimuli, design={self.design!r}; {parts})"

    @property
    def values(self) -> Mapping[str, np.ndarray]:
        """Factor name -> values (1-D, read-only), for the factors of this space."""
        return dict(self.data)

    def get(self, name: str) -> np.ndarray:
        """Values of ``name``, or its default (``shape='disc'``, ``rotation=0``, ``contrast=1``)."""
        if name in self.data or name not in DEFAULTS:
            return self[name]
        return np.full(len(self), DEFAULTS[name], dtype=float if name in NUMERIC else object)

    def take(self, indices: Sequence[int] | np.ndarray | slice) -> FactorSpace:
        """A space of the stimuli at ``indices`` (same factors, design and seed)."""
        data = {name: values[indices] for name, values in self.data.items()}
        return FactorSpace(data, design=self.design, seed=self.seed, levels=self.levels)

    def to_dataframe(self) -> pd.DataFrame:
        """The design as a table, one row per stimulus and one column per factor."""
        return pd.DataFrame({name: np.asarray(v) for name, v in self.data.items()})


def _canvas_shape(canvas: Canvas, where: str) -> tuple[int, int]:
    """Return ``(height, width)`` from an int side or a ``(height, width)`` pair."""
    if isinstance(canvas, tuple | list) and len(canvas) == 2:
        h, w = (check_int(c, name="canvas", where=where, minimum=1) for c in canvas)
        return h, w
    side = check_int(canvas, name="canvas", where=where, minimum=1)
    return side, side


def canvas_text(shape: tuple[int, int]) -> str:
    """``'224 px'`` for a square canvas, ``'128x256 px'`` (height x width) otherwise."""
    h, w = shape
    return f"{h} px" if h == w else f"{h}x{w} px"


def largest_size(
    shape: str | np.ndarray,
    x: float | np.ndarray,
    y: float | np.ndarray,
    *,
    rotation: float | np.ndarray = 0.0,
    canvas: Canvas = 224,
) -> np.ndarray:
    """The largest size (pixels) of an object centred at ``(x, y)`` that fits on the canvas.

    Parameters
    ----------
    shape : str or array of str
        Shape name(s), see :mod:`factorprobe.stimuli.shapes`.
    x, y : float or ndarray
        Centre in pixels.
    rotation : float or ndarray, default=0.0
        Degrees, counterclockwise on screen.
    canvas : int or (int, int), default=224
        Side of a square canvas, or ``(height, width)``, in pixels.

    Returns
    -------
    ndarray
        Largest fitting size in pixels, broadcast over the inputs (0 where the centre is off the
        canvas).
    """
    h, w = _canvas_shape(canvas, "largest_size")
    shape, x, y, rotation = np.broadcast_arrays(
        np.asarray(shape, dtype=object), np.asarray(x, float), np.asarray(y, float),
        np.asarray(rotation, float),
    )  # fmt: skip
    out = np.zeros(x.shape)
    for name in np.unique(shape.astype(str)):
        sel = shape == name
        hx, hy = unit_half_extents(str(name), rotation[sel])
        room_x = np.minimum(x[sel], w - x[sel]) / hx
        room_y = np.minimum(y[sel], h - y[sel]) / hy
        out[sel] = np.maximum(np.minimum(room_x, room_y), 0.0)
    return out


def misfits(space: FactorSpace, canvas: tuple[int, int]) -> np.ndarray:
    """Boolean mask of the stimuli whose object does not fit on ``canvas`` (height, width)."""
    limit = largest_size(
        space.get("shape"), space["x"], space["y"], rotation=space.get("rotation"),
        canvas=canvas,
    )  # fmt: skip
    # A relative tolerance, so that an object touching the border exactly still fits.
    return space["size"] > limit * (1 + 1e-12)


def misfit_message(
    space: FactorSpace,
    canvas: tuple[int, int],
    bad: np.ndarray,
    advice: str = "pass on_misfit='drop' to drop them",
) -> str:
    """One-line error naming the first point that does not fit and the largest size there."""
    i = int(np.flatnonzero(bad)[0])
    shape, rotation = str(space.get("shape")[i]), float(space.get("rotation")[i])
    size, x, y = (float(space[k][i]) for k in ("size", "x", "y"))
    limit = float(largest_size(shape, x, y, rotation=rotation, canvas=canvas))
    what = shape if rotation == 0 else f"{shape} rotated {_num(rotation)} deg"
    return (
        f"Object of size {_num(size)} px at x={_num(x)}, y={_num(y)} ({what}, stimulus {i}) "
        f"does not fit on a {canvas_text(canvas)} canvas; largest size there is "
        f"{_num(np.floor(limit * 100) / 100)} px ({int(bad.sum())} of {bad.size} points do not "
        f"fit; {advice})."
    )


def _num(value: float) -> str:
    return f"{value:g}"


def _check_factor_names(names: Sequence[str], where: str) -> None:
    unknown = [n for n in names if n not in FACTORS]
    if unknown:
        valid = ", ".join(repr(f) for f in FACTORS)
        raise ValueError(f"Unknown factor {unknown[0]!r} for {where}; valid factors: {valid}.")
    missing = [n for n in REQUIRED if n not in names]
    if missing:
        raise ValueError(
            f"{where} needs the factors 'size', 'x' and 'y' (pixels); missing {missing[0]!r}."
        )


def _check_values(name: str, values: np.ndarray, where: str) -> np.ndarray:
    """Validate the values of one factor; return them as float64 or str arrays."""
    if name in TEXT:
        if not all(isinstance(v, str) and v for v in values):
            bad = next(v for v in values if not (isinstance(v, str) and v))
            raise TypeError(f"Factor {name!r} of {where} takes non-empty strings; got {bad!r}.")
        if name == "shape":
            for v in values:
                if v not in SHAPES and not (is_sprite(v) and len(v) > len(SPRITE_PREFIX)):
                    valid = ", ".join(repr(s) for s in SHAPES)
                    raise ValueError(
                        f"Unknown shape {v!r} for {where}; valid shapes: {valid}, or "
                        f"'{SPRITE_PREFIX}NAME' for a sprite."
                    )
        else:
            from PIL import ImageColor

            for v in values:
                try:
                    ImageColor.getrgb(v)
                except ValueError:
                    raise ValueError(
                        f"Unknown color {v!r} for {where}; use a colour name such as 'red' or "
                        f"'#rrggbb'."
                    ) from None
        return np.asarray(values, dtype=str)
    if not all(isinstance(v, Real) and not isinstance(v, bool) for v in values):
        bad = next(v for v in values if not isinstance(v, Real) or isinstance(v, bool))
        raise TypeError(f"Factor {name!r} of {where} takes numbers; got {bad!r}.")
    arr = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(arr)):
        raise ValueError(
            f"Factor {name!r} of {where} must be finite; got {arr[~np.isfinite(arr)][0]}."
        )
    if name == "size" and np.any(arr <= 0):
        raise ValueError(f"Factor 'size' of {where} must be > 0 px; got {arr[arr <= 0][0]:g}.")
    if name in _UNIT_INTERVAL and np.any((arr < 0) | (arr > 1)):
        bad = arr[(arr < 0) | (arr > 1)][0]
        raise ValueError(f"Factor {name!r} of {where} must be in [0, 1]; got {bad:g}.")
    return arr


def _as_levels(name: str, value: object) -> list:
    if isinstance(value, str | Real):
        return [value]
    if isinstance(value, np.ndarray) and value.ndim > 1:
        raise ValueError(
            f"Factor {name!r} of grid takes a value or a 1-D list; got shape {value.shape}."
        )
    try:
        # list() raises the TypeError below for a value that is not iterable
        iterable = cast(Iterable[Any], value)
        levels = (
            list(np.asarray(value).tolist()) if isinstance(value, np.ndarray) else list(iterable)
        )
    except TypeError:
        raise TypeError(
            f"Factor {name!r} of grid takes a value or a list of values; got {value!r}."
        ) from None
    if not levels:
        raise ValueError(f"Factor {name!r} of grid has no levels; give at least one value.")
    if len(set(levels)) != len(levels):
        raise ValueError(f"Factor {name!r} of grid repeats a level; got {levels!r}.")
    return levels


def _apply_fit(space: FactorSpace, canvas: Canvas, on_misfit: str, where: str) -> FactorSpace:
    check_choice(on_misfit, _MISFIT, name="on_misfit", where=where)
    shape = _canvas_shape(canvas, where)
    bad = misfits(space, shape)
    if not bad.any():
        return space
    if on_misfit == "raise":
        raise ValueError(misfit_message(space, shape, bad))
    if bad.all():
        raise ValueError(
            misfit_message(
                space,
                shape,
                bad,
                "on_misfit='drop' would leave no stimuli: use smaller sizes, "
                "positions further from the border or a larger canvas",
            )
        )
    kept = space.take(np.flatnonzero(~bad))
    dropped = space.take(np.flatnonzero(bad))
    warnings.warn(
        f"Dropped {int(bad.sum())} of {bad.size} points whose object does not fit on the "
        f"{canvas_text(shape)} canvas; they are in FactorSpace.dropped.",
        UserWarning,
        stacklevel=3,
    )
    return FactorSpace(
        kept.data, design=space.design, seed=space.seed, levels=space.levels, dropped=dropped
    )


def grid(
    *,
    canvas: Canvas = 224,
    on_misfit: Literal["raise", "drop"] = "raise",
    **factors: object,
) -> FactorSpace:
    """A full factorial design over the named factors.

    Parameters
    ----------
    canvas : int or (int, int), default=224
        Side of a square canvas, or ``(height, width)``, in pixels, to check the fit against.
    on_misfit : {"raise", "drop"}, default="raise"
        What to do with points whose object does not fit on the canvas (see the module's fit
        rule): raise a ValueError naming the first such point and the largest size that fits
        there, or drop them with a warning and keep them in ``space.dropped``.
    **factors
        Factor name -> one value or a list of levels. ``size``, ``x`` and ``y`` (pixels) are
        required; ``shape``, ``rotation`` (degrees), ``contrast``, ``foreground``, ``background``
        and ``color`` are optional.

    Returns
    -------
    FactorSpace
        One stimulus per combination of levels; the last factor varies fastest.

    Raises
    ------
    ValueError
        For an unknown or missing factor, a bad value, or (``on_misfit="raise"``) a point whose
        object does not fit.

    Examples
    --------
    >>> space = grid(size=[16, 32, 48], x=[60, 112, 164], y=[60, 112, 164], shape="disc")
    >>> len(space), space.factors
    (27, ('size', 'x', 'y', 'shape'))
    """
    _check_factor_names(list(factors), "grid")
    levels = {name: _as_levels(name, value) for name, value in factors.items()}
    points = math.prod(len(v) for v in levels.values())
    if points > MAX_GRID_POINTS:
        counts = ", ".join(f"{name} ({len(v)} levels)" for name, v in levels.items())
        raise ValueError(
            f"A grid over {counts} has {points:,} points, more than grid makes "
            f"({MAX_GRID_POINTS:,}, whose images alone take 2 TB at 224 px); use fewer levels, "
            f"or random_design(n, ...)."
        )
    checked = {name: tuple(_check_values(name, np.array(lv, dtype=object), "grid").tolist())
               for name, lv in levels.items()}  # fmt: skip
    combos = list(itertools.product(*checked.values()))
    # lists of levels: FactorSpace makes them read-only arrays of the factor's dtype
    data: dict[str, Any] = {name: [c[k] for c in combos] for k, name in enumerate(checked)}
    space = FactorSpace(data, design="grid", levels=checked)
    return _apply_fit(space, canvas, on_misfit, "grid")


def _sampler(name: str, spec: object, where: str):
    """A function ``(rng, n) -> values`` for one factor of a random design."""
    if isinstance(spec, str | Real):
        values = _check_values(name, np.array([spec], dtype=object), where)
        return lambda rng, n: np.repeat(values, n)
    if isinstance(spec, tuple):
        if name in TEXT or len(spec) != 2:
            raise ValueError(
                f"Factor {name!r} of {where} takes a (low, high) tuple for a uniform range, "
                f"a list of levels or one value; got {spec!r}."
            )
        low, high = _check_values(name, np.array(spec, dtype=object), where)
        if not low < high:
            raise ValueError(
                f"Range of factor {name!r} of {where} must have low < high; got {spec!r}."
            )
        return lambda rng, n: rng.uniform(low, high, n)
    if isinstance(spec, list | np.ndarray):
        values = _check_values(name, np.array(list(spec), dtype=object), where)
        if values.size == 0:
            raise ValueError(f"Factor {name!r} of {where} has no levels; give at least one value.")
        return lambda rng, n: values[rng.integers(0, values.size, n)]
    raise TypeError(
        f"Factor {name!r} of {where} takes a (low, high) tuple, a list of levels or one value; "
        f"got {spec!r} of type {type(spec).__name__}."
    )


def random_design(
    n: int,
    *,
    seed: int | np.random.Generator | None = None,
    canvas: Canvas = 224,
    on_misfit: Literal["resample", "raise", "drop"] = "resample",
    **factors: object,
) -> FactorSpace:
    """A random design: each factor drawn independently, uniformly.

    Parameters
    ----------
    n : int
        Number of stimuli.
    seed : int, Generator or None, default=None
        Seed for ``np.random.default_rng``; the same seed gives the same design. None draws
        fresh entropy and records it in ``space.seed``, so the design can still be reproduced.
    canvas : int or (int, int), default=224
        Side of a square canvas, or ``(height, width)``, in pixels.
    on_misfit : {"resample", "raise", "drop"}, default="resample"
        Points whose object does not fit on the canvas are drawn again (all factors jointly)
        until they fit, which samples the joint uniform distribution restricted to fitting
        points; note this makes size, rotation and position slightly dependent near the borders
        (see :func:`factor_dependence`). ``"raise"`` and ``"drop"`` behave as in :func:`grid`.
    **factors
        Factor name -> ``(low, high)`` (a tuple: uniform on [low, high)), a list of levels
        (uniform choice) or one value. ``size``, ``x``, ``y`` (pixels) are required.

    Returns
    -------
    FactorSpace
        ``n`` stimuli (fewer with ``on_misfit="drop"``).

    Examples
    --------
    >>> space = random_design(100, size=(16, 64), x=(40, 184), y=(40, 184), seed=0,
    ...                       shape=["disc", "square"], rotation=(0, 360))
    >>> len(space), space.design, space.seed
    (100, 'random', 0)
    """
    where = "random_design"
    n = check_int(n, name="n", where=where, minimum=1)
    check_choice(on_misfit, ("resample", *_MISFIT), name="on_misfit", where=where)
    _check_factor_names(list(factors), where)
    shape = _canvas_shape(canvas, where)
    if seed is None:
        entropy = np.random.SeedSequence().entropy
        assert isinstance(entropy, int)  # fresh entropy is one int, never a sequence or None
        seed = entropy
    recorded: int | str = seed if isinstance(seed, int) and abs(seed) < 2**63 else str(seed)
    if isinstance(seed, np.random.Generator):
        recorded = "generator"
    rng = as_rng(seed)
    samplers = {name: _sampler(name, spec, where) for name, spec in factors.items()}
    data = {name: draw(rng, n) for name, draw in samplers.items()}
    space = FactorSpace(data, design="random", seed=recorded)
    if on_misfit != "resample":
        return _apply_fit(space, shape, on_misfit, where)
    for _ in range(_MAX_RESAMPLING_ROUNDS):
        bad = misfits(space, shape)
        if not bad.any():
            return space
        k = int(bad.sum())
        fresh = {name: draw(rng, k) for name, draw in samplers.items()}
        data = {name: np.array(values) for name, values in space.data.items()}
        for name in data:
            data[name][bad] = fresh[name]
        space = FactorSpace(data, design="random", seed=recorded)
    bad = misfits(space, shape)
    if not bad.any():
        return space
    advice = f"still after {_MAX_RESAMPLING_ROUNDS} rounds of resampling: narrow the ranges"
    raise ValueError(misfit_message(space, shape, bad, advice))
