"""Rasterisation of a factor space into the stimuli Dataset, whole or in batches.

Intensity is linear in coverage (no gamma): a pixel is
``background + coverage * (foreground - background)``, coverage being the exact fraction of the
pixel the object covers, so summed ``image - background`` measures the object's area.

Contrast: with a ``contrast`` factor ``c`` in [0, 1] the foreground drawn is
``background + c * (foreground - background)``: ``c = 1`` draws the full foreground, ``c = 0``
nothing. ``foreground`` and ``background`` factors override the render options per stimulus; a
``color`` factor sets the foreground colour (RGB) of each stimulus, on a gray background.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, cast

import numpy as np
import xarray as xr

from factorprobe._validation import check_choice, check_int, check_real
from factorprobe._version import __version__
from factorprobe.dims import CHANNEL, COL, ROW, STIMULUS
from factorprobe.stimuli.audit import BLANK_INK, ImageAudit, StimulusWarning, _ink, _text
from factorprobe.stimuli.factors import (
    Canvas,
    FactorSpace,
    _canvas_shape,
    misfit_message,
    misfits,
)
from factorprobe.stimuli.shapes import (
    SHAPES,
    SPRITE_PREFIX,
    disc_coverage,
    is_sprite,
    polygon,
    polygon_coverage,
    sprite_alpha,
    sprite_coverage,
    unit_half_extents,
)

#: Bumped whenever the same space and options would give different pixels.
RENDERER_VERSION: Final[int] = 1
_MODES: Final[tuple[str, ...]] = ("L", "RGB")
_DEFAULT_MAX_BYTES: Final[int] = 2 * 1024**3
_ROUNDOFF: Final[float] = 1e-9


@dataclass(frozen=True)
class RenderOptions:
    """How a factor space is drawn.

    Parameters
    ----------
    canvas : int or (int, int), default=224
        Side of a square canvas, or ``(height, width)``, in pixels.
    background, foreground : float, default=0.0, 1.0
        Intensities in [0, 1] (gray levels; in RGB mode the same level in every channel).
    mode : {"L", "RGB"} or None, default=None
        Grayscale (1 channel) or RGB (3 channels); None picks RGB when the space has a ``color``
        factor, grayscale otherwise.
    sprites : Mapping[str, path or array], default={}
        Sprite images by name, drawn where ``shape`` is ``"sprite:NAME"`` (see
        :func:`~factorprobe.stimuli.shapes.sprite_alpha`).
    """

    canvas: Canvas = 224
    background: float = 0.0
    foreground: float = 1.0
    mode: Literal["L", "RGB"] | None = None
    sprites: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = "render"
        object.__setattr__(self, "canvas", _canvas_shape(self.canvas, where))
        for name in ("background", "foreground"):
            value = check_real(getattr(self, name), name=name, where=where, minimum=0, maximum=1)
            object.__setattr__(self, name, value)
        if self.mode is not None:
            check_choice(self.mode, _MODES, name="mode", where=where)
        if not isinstance(self.sprites, Mapping):
            raise TypeError(
                f"The 'sprites' parameter of render must be a mapping of name -> image; got "
                f"{type(self.sprites).__name__}."
            )
        alphas = {}
        for name, source in self.sprites.items():
            key = name.removeprefix(SPRITE_PREFIX) if isinstance(name, str) else name
            if not isinstance(key, str) or not key:
                raise TypeError(f"Sprite names must be non-empty strings; got {name!r}.")
            alphas[key] = sprite_alpha(source)
        object.__setattr__(self, "sprites", alphas)

    @property
    def _shape(self) -> tuple[int, int]:
        """``(height, width)``: what ``__post_init__`` made of ``canvas``."""
        return cast(tuple[int, int], self.canvas)

    @property
    def _alphas(self) -> Mapping[str, np.ndarray]:
        """Sprite name -> alpha array: what ``__post_init__`` made of ``sprites``."""
        return cast(Mapping[str, np.ndarray], self.sprites)


def _check_space(space: FactorSpace, options: RenderOptions) -> str:
    """Validate ``space`` against the options; return the channel mode."""
    if not isinstance(space, FactorSpace):
        raise TypeError(
            f"render takes a FactorSpace (from grid or random_design); got {type(space).__name__}."
        )
    mode = options.mode or ("RGB" if "color" in space.factors else "L")
    if mode == "L" and "color" in space.factors:
        raise ValueError("A space with a 'color' factor needs mode='RGB' (or mode=None); got 'L'.")
    if "shape" in space.factors:
        for shape in np.unique(space["shape"]):
            name = str(shape).removeprefix(SPRITE_PREFIX)
            if is_sprite(str(shape)) and name not in options.sprites:
                given = ", ".join(repr(s) for s in options.sprites) or "none"
                raise ValueError(
                    f"Shape {str(shape)!r} needs a sprite named {name!r} in render's 'sprites' "
                    f"(sprites given: {given}); built-in shapes: {', '.join(SHAPES)}."
                )
    bad = misfits(space, options._shape)
    if bad.any():
        advice = "render on a larger canvas or build the space with on_misfit='drop'"
        raise ValueError(misfit_message(space, options._shape, bad, advice))
    return mode


def _colours(space: FactorSpace, options: RenderOptions, mode: str) -> tuple[np.ndarray, ...]:
    """Per-stimulus background and foreground, each ``(n, channels)``."""
    n = len(space)
    channels = 3 if mode == "RGB" else 1
    bg = np.broadcast_to(space.data.get("background", np.full(n, options.background)), (n,))
    if "color" in space.factors:
        from PIL import ImageColor

        table = {c: np.array(ImageColor.getrgb(c)[:3]) / 255.0 for c in np.unique(space["color"])}
        fg = np.stack([table[c] for c in space["color"]])
    else:
        fg = np.broadcast_to(space.data.get("foreground", np.full(n, options.foreground)), (n,))
        fg = np.repeat(fg[:, None], channels, axis=1)
    bg = np.repeat(bg[:, None], channels, axis=1)
    contrast = space.get("contrast")[:, None]
    return bg, bg + contrast * (fg - bg)


def _render_block(
    space: FactorSpace, options: RenderOptions, mode: str, start: int, stop: int
) -> np.ndarray:
    """Images of stimuli ``start:stop`` as ``(n, height, width, channels)`` float32."""
    height, width = options._shape
    part = space.take(slice(start, stop))
    bg, fg = _colours(part, options, mode)
    n, channels = bg.shape
    images = np.empty((n, height, width, channels), dtype=np.float32)
    if np.all(bg == bg[0]):
        images[...] = bg[0]
    else:
        images[...] = bg[:, None, None, :]
    shapes = part.get("shape")
    rotation = part.get("rotation")
    size, xc, yc = part["size"], part["x"], part["y"]
    hx, hy = np.empty(n), np.empty(n)
    for name in np.unique(shapes.astype(str)):
        sel = shapes == name
        hx[sel], hy[sel] = unit_half_extents(str(name), rotation[sel])
    hx, hy = hx * size, hy * size
    col0 = np.maximum(np.floor(xc - hx), 0).astype(int)
    col1 = np.minimum(np.ceil(xc + hx), width).astype(int)
    row0 = np.maximum(np.floor(yc - hy), 0).astype(int)
    row1 = np.minimum(np.ceil(yc + hy), height).astype(int)
    delta = fg - bg
    for k in range(n):
        # Corner coordinates relative to the object's centre keep the closed forms accurate.
        xs = np.arange(col0[k], col1[k] + 1, dtype=float) - xc[k]
        ys = np.arange(row0[k], row1[k] + 1, dtype=float) - yc[k]
        shape = str(shapes[k])
        if shape == "disc":
            cover = disc_coverage(0.0, 0.0, size[k] / 2, xs, ys)
        elif is_sprite(shape):
            alpha = options._alphas[shape.removeprefix(SPRITE_PREFIX)]
            cover = sprite_coverage(alpha, 0.0, 0.0, size[k], rotation[k], xs, ys)
        else:
            cover = polygon_coverage(polygon(shape, size[k], 0.0, 0.0, rotation[k]), xs, ys)
        # Round-off of the closed forms (~1e-13) must not leave the background off its value.
        cover[cover < _ROUNDOFF] = 0.0
        cover[cover > 1.0 - _ROUNDOFF] = 1.0
        window = images[k, row0[k] : row1[k], col0[k] : col1[k], :]
        window += (cover[:, :, None] * delta[k]).astype(np.float32)
        np.clip(window, 0.0, 1.0, out=window)  # float32 rounding of bg + delta can pass 1
    return images


def _dataset(
    space: FactorSpace, options: RenderOptions, mode: str, start: int, stop: int
) -> xr.Dataset:
    images = _render_block(space, options, mode, start, stop)
    coords: dict[str, object] = {STIMULUS: np.arange(start, stop)}
    for name in space.factors:
        coords[name] = (STIMULUS, np.asarray(space[name][start:stop]))
    height, width = options._shape
    attrs = {
        "canvas": height if height == width else f"{height}x{width}",
        "canvas_height": height,
        "canvas_width": width,
        "background": options.background,
        "foreground": options.foreground,
        "mode": mode,
        "units": "pixels",
        "coordinates": "x along columns, y down rows, origin at the top-left corner; pixel "
        "(row, col) spans [col, col + 1) x [row, row + 1)",
        "intensity": "background + coverage * (foreground - background), linear, no gamma",
        "contrast_rule": "foreground drawn = background + contrast * (foreground - background)",
        "rotation_units": "degrees, counterclockwise on screen",
        "renderer": "factorprobe.stimuli exact-area coverage",
        "renderer_version": RENDERER_VERSION,
        "factorprobe_version": __version__,
        "design": space.design,
        "seed": "none" if space.seed is None else space.seed,
        "n_stimuli_in_space": len(space),
    }
    if options.sprites:
        attrs["sprites"] = ", ".join(sorted(options.sprites))
    image = xr.Variable((STIMULUS, ROW, COL, CHANNEL), images, attrs={"units": "intensity 0..1"})
    return xr.Dataset({"image": image}, coords=coords, attrs=attrs)


def render(
    space: FactorSpace,
    *,
    canvas: Canvas = 224,
    background: float = 0.0,
    foreground: float = 1.0,
    mode: Literal["L", "RGB"] | None = None,
    sprites: Mapping[str, object] | None = None,
    max_bytes: int = _DEFAULT_MAX_BYTES,
) -> xr.Dataset:
    """Render every stimulus of a factor space.

    Parameters
    ----------
    space : FactorSpace
        From :func:`grid` or :func:`random_design`.
    canvas : int or (int, int), default=224
        Side of a square canvas, or ``(height, width)``, in pixels.
    background, foreground : float, default=0.0, 1.0
        Intensities in [0, 1]; see the module docstring for contrast, colour and per-stimulus
        overrides.
    mode : {"L", "RGB"} or None, default=None
        Grayscale or RGB; None picks RGB when the space has a ``color`` factor.
    sprites : Mapping[str, path or array] or None, default=None
        Images for the ``"sprite:NAME"`` shapes of the space.
    max_bytes : int, default=2 GiB
        Refuse to allocate more than this for the images; larger designs go through
        :func:`iter_batches`.

    Returns
    -------
    xarray.Dataset
        Variable ``image`` (float32 in [0, 1], dims ``(stimulus, row, col, channel)``), an integer
        ``stimulus`` coordinate, one coordinate per factor along ``stimulus``, and attrs
        recording the canvas, intensities, units, renderer version and seed. The same space and
        options give byte-identical images.

    Raises
    ------
    ValueError
        When an object does not fit on the canvas, a sprite is missing, an option is out of
        range, or the images would exceed ``max_bytes``.

    Warns
    -----
    StimulusWarning
        When some stimuli are blank (contrast 0, foreground equal to background, objects under
        half a pixel) or have the same image as stimuli with other factor values (capture
        refuses a set that is all blank or all one image).

    Examples
    --------
    >>> from factorprobe.stimuli import grid
    >>> stim = render(grid(size=[16, 32], x=[60, 112], y=[112]), canvas=128)
    >>> stim["image"].shape
    (4, 128, 128, 1)
    """
    options = RenderOptions(canvas, background, foreground, mode, sprites or {})
    chosen = _check_space(space, options)
    max_bytes = check_int(max_bytes, name="max_bytes", where="render", minimum=1)
    height, width = options._shape
    needed = len(space) * height * width * (3 if chosen == "RGB" else 1) * 4
    if needed > max_bytes:
        raise ValueError(
            f"Rendering {len(space)} stimuli at {height}x{width} px needs "
            f"{needed / 2**30:.2f} GiB, "
            f"over max_bytes={max_bytes}; use iter_batches(space, batch_size=...) instead."
        )
    stim = _dataset(space, options, chosen, 0, len(space))
    audit = ImageAudit("render")
    audit.add(stim["image"].values, 0, {str(k): v.values for k, v in stim.coords.items()})
    audit.finish(refuse=False)
    return stim


def iter_batches(
    space: FactorSpace,
    *,
    batch_size: int = 256,
    canvas: Canvas = 224,
    background: float = 0.0,
    foreground: float = 1.0,
    mode: Literal["L", "RGB"] | None = None,
    sprites: Mapping[str, object] | None = None,
) -> Iterator[xr.Dataset]:
    """Render a factor space batch by batch, so that no design is ever held in memory at once.

    Parameters
    ----------
    space : FactorSpace
        The design.
    batch_size : int, default=256
        Stimuli per batch (the last batch may be smaller).
    canvas, background, foreground, mode, sprites
        As in :func:`render`.

    Yields
    ------
    xarray.Dataset
        Like :func:`render`'s, for consecutive slices of the space; the ``stimulus`` coordinate
        is the global index, so concatenating all batches along ``stimulus`` equals ``render``.

    Raises
    ------
    ValueError
        As :func:`render`, at the call (before the first batch).

    Examples
    --------
    >>> from factorprobe.stimuli import grid
    >>> space = grid(size=[16, 32], x=[60, 112], y=[60, 112])
    >>> [b.sizes["stimulus"] for b in iter_batches(space, batch_size=3, canvas=128)]
    [3, 3, 2]
    """
    options = RenderOptions(canvas, background, foreground, mode, sprites or {})
    chosen = _check_space(space, options)
    batch_size = check_int(batch_size, name="batch_size", where="iter_batches", minimum=1)
    return _batches(space, options, chosen, batch_size)


def _batches(
    space: FactorSpace, options: RenderOptions, mode: str, batch_size: int
) -> Iterator[xr.Dataset]:
    for start in range(0, len(space), batch_size):
        yield _dataset(space, options, mode, start, min(start + batch_size, len(space)))


def refuse_blank_space(
    space: object, *, canvas: Canvas, mode: Literal["L", "RGB"] | None, where: str
) -> None:
    """Refuse, before anything is rendered in full, a space whose objects all draw nothing.

    An object's ink (its coverage summed over pixels, times its contrast) does not depend on
    where it is drawn, so one rendering per distinct object at the canvas centre tells which
    stimuli would be blank. Spaces with more than 2000 distinct objects are left to the check
    of the rendered images.

    Raises
    ------
    ValueError
        Every stimulus (of two or more) would be blank.
    """
    assert isinstance(space, FactorSpace)
    n = len(space)
    drawn = [f for f in space.factors if f not in ("x", "y")]
    if n < 2:
        return
    table = space.to_dataframe()[drawn].drop_duplicates()
    if len(table) > 2000:
        return
    height, width = _canvas_shape(canvas, where)
    data = {f: table[f].to_numpy() for f in drawn}
    data |= {"x": np.full(len(table), width / 2), "y": np.full(len(table), height / 2)}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StimulusWarning)
            rendered = render(FactorSpace(data), canvas=canvas, mode=mode)
    except (ValueError, TypeError):  # e.g. sprites: the sweep's own rendering says why
        return
    images = rendered["image"].values
    ink = _ink(images.reshape(len(table), -1)) / images.shape[-1]
    if (ink < BLANK_INK).all():
        values = table.iloc[0].tolist()
        first = ", ".join(f"{f}={_text(v)}" for f, v in zip(drawn, values, strict=True))
        raise ValueError(
            f"All {n} stimuli for {where} would be blank (less than {BLANK_INK:g} px of ink, "
            f"e.g. {first}): any information measured would be rounding noise; check "
            f"contrast, foreground, background and sizes."
        )
