"""Shape geometry: what ``size`` means per shape, and exact pixel coverage of each shape.

Coordinates are continuous pixels with the origin at the top-left corner of the canvas, x along
the columns and y down the rows; pixel ``(row, col)`` is the unit square
``[col, col + 1) x [row, row + 1)``, so its centre is ``(col + 0.5, row + 0.5)`` and a 224 px
canvas has its centre at ``x = y = 112``. ``x, y`` of a stimulus is the object's centre.

What ``size`` (pixels) means for each shape:

- ``disc``: the diameter.
- ``square``: the side length.
- ``triangle``: an equilateral triangle; the diameter of its circumscribed circle (its side is
  ``size * sqrt(3) / 2``). Its centre is the circumcentre; at rotation 0 it points up.
- ``cross``: a plus sign made of five equal squares; the length of each bar, tip to tip (each bar
  is ``size / 3`` thick).
- ``sprite:NAME``: an image with alpha, scaled so that its longer side is ``size``.

Rotation is in degrees, counterclockwise as the image is displayed (y down), about the centre.

Coverage is exact: a pixel's value is the area of the pixel covered by the shape, computed in
closed form as the second difference of ``G(x, y)``, the area of the shape left of ``x`` and
above ``y``, evaluated at the pixel corners. Sprites are the exception: they are resampled by
4 x 4 supersampling of their alpha (nearest source pixel).
"""

from __future__ import annotations

from typing import Final

import numpy as np

#: The built-in shapes; other shapes are sprites, named ``"sprite:NAME"``.
SHAPES: Final[tuple[str, ...]] = ("disc", "square", "triangle", "cross")
SPRITE_PREFIX: Final[str] = "sprite:"
_SPRITE_SUPERSAMPLING: Final[int] = 4


def _cross_vertices() -> np.ndarray:
    a, b = 1 / 6, 1 / 2  # half thickness, half span
    return np.array(
        [
            (a, -b),
            (a, -a),
            (b, -a),
            (b, a),
            (a, a),
            (a, b),
            (-a, b),
            (-a, a),
            (-b, a),
            (-b, -a),
            (-a, -a),
            (-a, -b),
        ]
    )


def _triangle_vertices() -> np.ndarray:
    angles = np.deg2rad([90.0, 210.0, 330.0])
    # y points down the rows, so "up" on screen is negative y.
    return 0.5 * np.stack([np.cos(angles), -np.sin(angles)], axis=1)


# Vertices of each polygon at size 1, centred on the origin, before rotation.
_UNIT_POLYGONS: Final[dict[str, np.ndarray]] = {
    "square": np.array([(-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5)]),
    "triangle": _triangle_vertices(),
    "cross": _cross_vertices(),
}


def is_sprite(shape: str) -> bool:
    """Return whether ``shape`` names a sprite (``"sprite:NAME"``)."""
    return shape.startswith(SPRITE_PREFIX)


def _rotate(points: np.ndarray, rotation: float) -> np.ndarray:
    """Rotate ``(n, 2)`` points counterclockwise on screen (y down) by ``rotation`` degrees."""
    theta = np.deg2rad(rotation)
    c, s = np.cos(theta), np.sin(theta)
    x, y = points[:, 0], points[:, 1]
    return np.stack([c * x + s * y, -s * x + c * y], axis=1)


def unit_half_extents(shape: str, rotation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Half width and half height of a shape's bounding box at size 1, per rotation.

    Parameters
    ----------
    shape : str
        A built-in shape or ``"sprite:NAME"``; a sprite is bounded by its ``size x size`` square
        (its longer side is ``size``), whatever its aspect ratio.
    rotation : ndarray
        Rotations in degrees.

    Returns
    -------
    (ndarray, ndarray)
        Half extents along x and y, multiplied by ``size`` to get pixels.
    """
    rotation = np.asarray(rotation, dtype=float)
    if shape == "disc":
        half = np.full(rotation.shape, 0.5)
        return half, half
    vertices = _UNIT_POLYGONS["square" if is_sprite(shape) else shape]
    theta = np.deg2rad(rotation)[..., None]
    c, s = np.cos(theta), np.sin(theta)
    x, y = vertices[:, 0], vertices[:, 1]
    hx = np.abs(c * x + s * y).max(axis=-1)
    hy = np.abs(-s * x + c * y).max(axis=-1)
    return hx, hy


def polygon(shape: str, size: float, x: float, y: float, rotation: float) -> np.ndarray:
    """Vertices ``(n, 2)`` in pixels of a built-in polygon (square, triangle, cross)."""
    return _rotate(_UNIT_POLYGONS[shape] * size, rotation) + np.array([x, y])


def disc_coverage(
    cx: float, cy: float, radius: float, xs: np.ndarray, ys: np.ndarray
) -> np.ndarray:
    """Exact area of each pixel covered by a disc.

    Parameters
    ----------
    cx, cy : float
        Centre, in the pixel coordinates of ``xs`` and ``ys``.
    radius : float
        Radius in pixels.
    xs, ys : ndarray
        Pixel-corner coordinates along x (``nx + 1``) and y (``ny + 1``), increasing by 1.

    Returns
    -------
    ndarray
        ``(ny, nx)`` covered fractions in [0, 1].
    """
    r = radius
    u = np.clip(xs - cx, -r, r)
    v = np.clip(ys - cy, -r, r)
    au, av = np.abs(u), np.abs(v)
    # G(u, v) = sgn(u) sgn(v) f(|u|, |v|): f is the disc's area in the rectangle [0, u] x [0, v].
    # Terms of G that depend on u or v alone cancel in the second difference and are left out.
    x_edge = np.sqrt(np.maximum(r * r - av * av, 0.0))  # where the circle meets height v
    m = np.minimum(au[None, :], x_edge[:, None])
    ratio = np.clip(m / r, -1.0, 1.0)
    integral_m = 0.5 * (m * np.sqrt(np.maximum(r * r - m * m, 0.0)) + r * r * np.arcsin(ratio))
    integral_u = 0.5 * (au * np.sqrt(np.maximum(r * r - au * au, 0.0)) + r * r * np.arcsin(au / r))
    f = av[:, None] * m + integral_u[None, :] - integral_m
    g = f * (np.sign(v)[:, None] * np.sign(u)[None, :])
    return np.diff(np.diff(g, axis=0), axis=1)


def polygon_coverage(vertices: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Exact area of each pixel covered by a simple polygon.

    The area of the polygon left of ``x`` and above ``y`` is a sum over edges of
    ``±∫ min(edge(X), y) dX`` over the edge's x-range clipped at ``x``, in closed form.

    Parameters
    ----------
    vertices : ndarray
        ``(n, 2)`` vertices (x, y) in the pixel coordinates of ``xs`` and ``ys``, in order.
    xs, ys : ndarray
        Pixel-corner coordinates along x (``nx + 1``) and y (``ny + 1``).

    Returns
    -------
    ndarray
        ``(ny, nx)`` covered fractions in [0, 1].
    """
    start = vertices
    end = np.roll(vertices, -1, axis=0)
    orientation = np.sign(np.sum((end[:, 0] - start[:, 0]) * (end[:, 1] + start[:, 1])))
    g = np.zeros((ys.size, xs.size))
    separable = np.zeros(xs.size)  # sum of sign * (c - a): multiplies y, added once at the end
    for (x0, y0), (x1, y1) in zip(start, end, strict=True):
        if x0 == x1:
            continue  # vertical edges bound no area along x
        sign = 1.0 if x1 > x0 else -1.0
        (a, ya), (b, yb) = ((x0, y0), (x1, y1)) if x1 > x0 else ((x1, y1), (x0, y0))
        c = np.clip(xs, a, b)
        width = c - a
        slope = (yb - ya) / (b - a)
        if slope == 0.0:
            g += sign * width[None, :] * np.minimum(ya, ys)[:, None]
            continue
        separable += sign * width
        # X* where the edge crosses height y; the integrand is the edge on one side, y on the other.
        crossing = a + (ys - ya) / slope
        if slope > 0:
            # edge <= y on [a, X*]: integral = w (edge(a) - y + slope w / 2) + (c - a) y
            w = np.minimum(np.maximum(crossing - a, 0.0)[:, None], width[None, :])
            g += sign * w * ((ya - ys)[:, None] + 0.5 * slope * w)
        else:
            # edge <= y on [X*, c]: integral = v (edge(c) - y - slope v / 2) + (c - a) y
            v = np.maximum(c[None, :] - np.maximum(crossing, a)[:, None], 0.0)
            edge_c = ya + slope * width
            g += sign * v * ((edge_c[None, :] - ys[:, None]) - 0.5 * slope * v)
    g += ys[:, None] * separable[None, :]
    return orientation * np.diff(np.diff(g, axis=0), axis=1)


def sprite_coverage(
    alpha: np.ndarray,
    cx: float,
    cy: float,
    size: float,
    rotation: float,
    xs: np.ndarray,
    ys: np.ndarray,
) -> np.ndarray:
    """Coverage of a sprite (alpha in [0, 1]) scaled so its longer side is ``size`` pixels.

    Each pixel averages ``4 x 4`` samples of the sprite's alpha (nearest source pixel), taken at
    the sample points mapped back through the rotation and scaling.

    Parameters
    ----------
    alpha : ndarray
        ``(h, w)`` alpha of the sprite, in [0, 1].
    cx, cy : float
        Centre in the pixel coordinates of ``xs`` and ``ys``.
    size : float
        Longer side in pixels.
    rotation : float
        Degrees, counterclockwise on screen.
    xs, ys : ndarray
        Pixel-corner coordinates along x (``nx + 1``) and y (``ny + 1``).

    Returns
    -------
    ndarray
        ``(ny, nx)`` covered fractions in [0, 1].
    """
    h, w = alpha.shape
    k = _SPRITE_SUPERSAMPLING
    offsets = (np.arange(k) + 0.5) / k
    sx = (xs[:-1, None] + offsets[None, :]).ravel() - cx
    sy = (ys[:-1, None] + offsets[None, :]).ravel() - cy
    theta = np.deg2rad(rotation)
    c, s = np.cos(theta), np.sin(theta)
    scale = max(h, w) / size  # source pixels per canvas pixel
    # Inverse of the on-screen counterclockwise rotation, then into source pixel indices.
    u = (c * sx[None, :] - s * sy[:, None]) * scale + w / 2
    v = (s * sx[None, :] + c * sy[:, None]) * scale + h / 2
    col = np.floor(u).astype(np.intp)
    row = np.floor(v).astype(np.intp)
    inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    samples = np.where(inside, alpha[np.clip(row, 0, h - 1), np.clip(col, 0, w - 1)], 0.0)
    ny, nx = ys.size - 1, xs.size - 1
    return samples.reshape(ny, k, nx, k).mean(axis=(1, 3))


def sprite_alpha(source: object) -> np.ndarray:
    """The alpha (coverage) of a sprite, as a read-only ``(h, w)`` float64 array in [0, 1].

    A sprite is a silhouette: its alpha channel is the object's coverage, and its colours are not
    used (contrast and colour apply to sprites as to any shape).

    Parameters
    ----------
    source : path-like or array
        An image file (read with Pillow; its alpha channel, or its luminance when it has none),
        or an array: ``(h, w)`` gray values used as coverage, ``(h, w, 2)`` gray + alpha,
        ``(h, w, 3)`` RGB (luminance used as coverage) or ``(h, w, 4)`` RGBA. Integer arrays are
        read as 0..255, float arrays as 0..1.

    Returns
    -------
    ndarray
        Alpha in [0, 1].

    Raises
    ------
    ValueError
        For an array of another shape, values outside the range or a fully transparent sprite.
    """
    import os

    if isinstance(source, str | os.PathLike):
        from PIL import Image

        with Image.open(source) as img:
            has_alpha = "A" in img.getbands() or "transparency" in img.info
            arr = np.asarray(img.convert("RGBA" if has_alpha else "L"))
        alpha = arr[..., 3] if has_alpha else arr
        alpha = alpha.astype(float) / 255.0
    else:
        arr = np.asarray(source)
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (2, 3, 4)):
            raise ValueError(
                f"A sprite array must be (h, w), (h, w, 2), (h, w, 3) or (h, w, 4); got shape "
                f"{arr.shape}."
            )
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise ValueError(f"A sprite array must hold numbers; got dtype {arr.dtype}.")
        values = arr.astype(float) / (255.0 if np.issubdtype(arr.dtype, np.integer) else 1.0)
        if values.ndim == 2:
            alpha = values
        elif values.shape[2] in (2, 4):
            alpha = values[..., -1]
        else:
            alpha = values @ np.array([0.299, 0.587, 0.114])
        if not np.all(np.isfinite(alpha)) or alpha.min() < 0 or alpha.max() > 1:
            raise ValueError(
                "Sprite values must be in [0, 1] (floats) or 0..255 (integers); got a range of "
                f"[{alpha.min():g}, {alpha.max():g}]."
            )
    if not np.any(alpha > 0):
        raise ValueError("A sprite must have some opaque pixels; its alpha is 0 everywhere.")
    alpha = np.array(alpha, dtype=float)
    alpha.flags.writeable = False
    return alpha
