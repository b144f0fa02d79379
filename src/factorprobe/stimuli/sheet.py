"""Contact sheets: one factor across columns, another across rows, for people to look at."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import xarray as xr

from factorprobe._validation import check_int
from factorprobe.dims import STIMULUS
from factorprobe.io.files import atomic_output
from factorprobe.stimuli.factors import Canvas, FactorSpace
from factorprobe.stimuli.render import render

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

_LABEL_HEIGHT = 14
_LABEL_WIDTH = 72
_EMPTY = 48  # gray level of a cell with no stimulus


def _factor_values(stim: xr.Dataset, name: str, role: str) -> np.ndarray:
    if name not in stim.coords or stim.coords[name].dims != (STIMULUS,):
        valid = [str(k) for k, c in stim.coords.items() if c.dims == (STIMULUS,) and k != STIMULUS]
        raise ValueError(
            f"Unknown factor {name!r} for the contact sheet's {role}; valid factors: "
            f"{', '.join(repr(v) for v in valid)}."
        )
    return np.asarray(stim.coords[name].values)


def _label(value: object) -> str:
    return f"{value:g}" if isinstance(value, float | np.floating) else str(value)


def contact_sheet(
    stim: xr.Dataset,
    *,
    columns: str = "size",
    rows: str = "x",
    at: Mapping[str, object] | None = None,
    zoom: int = 1,
) -> Image.Image:
    """Tile stimuli into one image: ``columns`` factor across, ``rows`` factor down.

    Every other factor is held at one value: the one given in ``at``, else its middle level
    (the median of its sorted distinct values). Each cell shows the first stimulus with those
    values, or stays dark gray if there is none (meant for grids; a random design leaves most
    cells empty). Labels name the factor values.

    Parameters
    ----------
    stim : xarray.Dataset
        Stimuli from :func:`~factorprobe.stimuli.render` or a loader.
    columns, rows : str, default="size", "x"
        Factors across the columns and down the rows.
    at : Mapping[str, object] or None, default=None
        Values of the other factors, e.g. ``{"y": 112}``.
    zoom : int, default=1
        Integer magnification of each stimulus.

    Returns
    -------
    PIL.Image.Image
        The sheet, mode ``"L"`` or ``"RGB"`` (8-bit; intensity ``round(255 * value)``).

    Raises
    ------
    ValueError
        For an unknown factor or a value in ``at`` that no stimulus has.
    """
    from PIL import Image, ImageDraw

    zoom = check_int(zoom, name="zoom", where="contact_sheet", minimum=1)
    col_values = _factor_values(stim, columns, "columns")
    row_values = _factor_values(stim, rows, "rows")
    keep = np.ones(stim.sizes[STIMULUS], dtype=bool)
    fixed = dict(at or {})
    for name, coord in stim.coords.items():
        if coord.dims != (STIMULUS,) or name in (STIMULUS, columns, rows):
            continue
        values = np.asarray(coord.values)
        levels = np.unique(values)
        value = fixed.pop(str(name), levels[(levels.size - 1) // 2])
        match = values == value
        if not match.any():
            raise ValueError(
                f"No stimulus has {name}={value!r} for the contact sheet; its values are "
                f"{', '.join(_label(v) for v in levels[:10])}{'...' if levels.size > 10 else ''}."
            )
        keep &= match
    if fixed:
        raise ValueError(
            f"Unknown factor {next(iter(fixed))!r} in the contact sheet's 'at'; it holds the "
            f"factors other than columns={columns!r} and rows={rows!r}."
        )
    col_levels, row_levels = np.unique(col_values), np.unique(row_values)
    image = stim["image"]
    channels = image.sizes[image.dims[-1]]
    height, width = image.shape[1] * zoom, image.shape[2] * zoom
    gap = 2
    sheet_h = _LABEL_HEIGHT + row_levels.size * (height + gap)
    sheet_w = _LABEL_WIDTH + col_levels.size * (width + gap)
    sheet = np.full((sheet_h, sheet_w, channels), 255, dtype=np.uint8)
    for i, rv in enumerate(row_levels):
        for j, cv in enumerate(col_levels):
            top, left = _LABEL_HEIGHT + i * (height + gap), _LABEL_WIDTH + j * (width + gap)
            hits = np.flatnonzero(keep & (row_values == rv) & (col_values == cv))
            if hits.size == 0:
                sheet[top : top + height, left : left + width] = _EMPTY
                continue
            pixels = np.asarray(image[int(hits[0])].values)
            pixels = np.repeat(np.repeat(pixels, zoom, axis=0), zoom, axis=1)
            sheet[top : top + height, left : left + width] = np.round(pixels * 255).astype(np.uint8)
    img = Image.fromarray(
        sheet[..., 0] if channels == 1 else sheet, "L" if channels == 1 else "RGB"
    )
    draw = ImageDraw.Draw(img)
    ink = 0 if channels == 1 else (0, 0, 0)
    for j, cv in enumerate(col_levels):
        draw.text((_LABEL_WIDTH + j * (width + gap) + 2, 1), f"{columns}={_label(cv)}", fill=ink)
    for i, rv in enumerate(row_levels):
        draw.text((2, _LABEL_HEIGHT + i * (height + gap) + 2), f"{rows}={_label(rv)}", fill=ink)
    return img


def write_stimuli(
    space: FactorSpace,
    out: str | os.PathLike[str],
    *,
    canvas: Canvas = 224,
    background: float = 0.0,
    foreground: float = 1.0,
    mode: Literal["L", "RGB"] | None = None,
    columns: str = "size",
    rows: str = "x",
    at: Mapping[str, object] | None = None,
) -> dict[str, Path]:
    """Render a space; write ``OUT/stimuli.nc`` (NetCDF) and ``OUT/contact_sheet.png``.

    Each file is written under a temporary name and renamed when complete.

    Parameters
    ----------
    space : FactorSpace
        The design.
    out : path-like
        Output directory (created if missing).
    canvas, background, foreground, mode
        As in :func:`~factorprobe.stimuli.render`.
    columns, rows, at
        As in :func:`contact_sheet`.

    Returns
    -------
    dict of str to Path
        ``{"dataset": OUT/stimuli.nc, "contact_sheet": OUT/contact_sheet.png}``.
    """
    stim = render(space, canvas=canvas, background=background, foreground=foreground, mode=mode)
    sheet = contact_sheet(stim, columns=columns, rows=rows, at=at)
    out = Path(out)
    paths = {"dataset": out / "stimuli.nc", "contact_sheet": out / "contact_sheet.png"}
    with atomic_output(paths["dataset"]) as tmp:
        stim.to_netcdf(tmp, engine="h5netcdf")
    with atomic_output(paths["contact_sheet"]) as tmp:
        sheet.save(tmp, format="PNG")
    return paths
