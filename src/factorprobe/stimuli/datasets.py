"""Loaders of existing stimulus sets into the stimuli Dataset form (DESIGN.md section 4)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Final

import numpy as np
import xarray as xr

from factorprobe.dims import CHANNEL, COL, ROW, STIMULUS

# dSprites' latent columns, in file order, and the names they get here.
_DSPRITES_LATENTS: Final[tuple[str, ...]] = (
    "color",
    "shape",
    "scale",
    "orientation",
    "posX",
    "posY",
)
_DSPRITES_SHAPES: Final[dict[int, str]] = {1: "square", 2: "ellipse", 3: "heart"}
_DSPRITES_KEYS: Final[tuple[str, ...]] = ("imgs", "latents_values", "latents_classes")


def load_dsprites(
    path: str | os.PathLike[str],
    *,
    indices: Sequence[int] | np.ndarray | slice | None = None,
) -> xr.Dataset:
    """Load a local dSprites-format ``.npz`` into the stimuli Dataset form.

    The file holds ``imgs`` (``(n, h, w)``, 0/1), ``latents_values`` and ``latents_classes``
    (``(n, 6)``: color, shape, scale, orientation, posX, posY). Nothing is downloaded.

    Parameters
    ----------
    path : path-like
        The ``.npz`` file.
    indices : sequence of int, slice or None, default=None
        The images to load (the full dSprites set is 737,280 images, 12 GiB as float32);
        None loads all.

    Returns
    -------
    xarray.Dataset
        ``image`` float32 in [0, 1] with dims ``(stimulus, row, col, channel)`` (one channel);
        the ``stimulus`` coordinate is the index in the file; factor coordinates along
        ``stimulus``: ``shape`` (``"square"``, ``"ellipse"``, ``"heart"``), ``size`` (dSprites
        scale, relative, 0.5..1), ``rotation`` (degrees, converted from the file's radians),
        ``x`` and ``y`` (dSprites posX, posY, fractions 0..1 of the canvas); each coordinate's
        ``units`` attribute says which. The constant ``color`` latent is left out.

    Raises
    ------
    KeyError
        When the file lacks one of ``imgs``, ``latents_values``, ``latents_classes``.
    ValueError
        When the arrays' shapes disagree.

    References
    ----------
    Matthey, L., Higgins, I., Hassabis, D., Lerchner, A. (2017). dSprites: Disentanglement
    testing Sprites dataset. https://github.com/deepmind/dsprites-dataset
    """
    with np.load(os.fspath(path), allow_pickle=False) as archive:
        missing = [k for k in _DSPRITES_KEYS if k not in archive.files]
        if missing:
            raise KeyError(
                f"{os.fspath(path)!r} is not a dSprites file: it lacks {missing[0]!r} "
                f"(needs {', '.join(_DSPRITES_KEYS)}; has {', '.join(archive.files)})."
            )
        imgs, values, classes = (archive[k] for k in _DSPRITES_KEYS)
    if imgs.ndim != 3 or values.shape != (imgs.shape[0], 6) or classes.shape != values.shape:
        raise ValueError(
            f"dSprites arrays must be imgs (n, h, w) and latents (n, 6); got imgs {imgs.shape}, "
            f"latents_values {values.shape}, latents_classes {classes.shape}."
        )
    index = np.arange(imgs.shape[0])
    if indices is not None:
        index = index[indices]
    images = imgs[index].astype(np.float32)
    if images.size and images.max() > 1:
        images /= 255.0
    values, classes = values[index], classes[index]
    col = {name: k for k, name in enumerate(_DSPRITES_LATENTS)}
    shape_ids = classes[:, col["shape"]] + 1  # classes count from 0, values from 1
    shapes = np.array([_DSPRITES_SHAPES.get(int(s), f"shape{int(s)}") for s in shape_ids])
    coords = {
        STIMULUS: index,
        "shape": (STIMULUS, shapes, {"units": "dSprites shape"}),
        "size": (STIMULUS, values[:, col["scale"]], {"units": "dSprites scale (relative)"}),
        "rotation": (
            STIMULUS,
            np.rad2deg(values[:, col["orientation"]]),
            {"units": "degrees (dSprites orientation)"},
        ),
        "x": (STIMULUS, values[:, col["posX"]], {"units": "fraction of canvas (dSprites posX)"}),
        "y": (STIMULUS, values[:, col["posY"]], {"units": "fraction of canvas (dSprites posY)"}),
    }
    return xr.Dataset(
        {"image": ((STIMULUS, ROW, COL, CHANNEL), images[..., None])},
        coords=coords,
        attrs={
            "source": "dsprites",
            "path": os.fspath(path),
            "canvas": int(imgs.shape[1])
            if imgs.shape[1] == imgs.shape[2]
            else "x".join(str(s) for s in imgs.shape[1:]),
            "canvas_height": int(imgs.shape[1]),
            "canvas_width": int(imgs.shape[2]),
            "background": 0.0,
            "foreground": 1.0,
            "units": "dsprites",
            "seed": "none",
        },
    )
