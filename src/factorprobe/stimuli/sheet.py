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

_EMPTY = 48  # gray level of a cell with no stimulus
#: the width (CSS px) at which the HTML report shows a contact sheet; labels are sized for it
DISPLAY_WIDTH = 720
#: the smallest label height (px on screen) at :data:`DISPLAY_WIDTH`
MIN_LABEL_PX = 12
# physical units of the renderer's factors, for the sheet's axis titles
_UNITS = {"size": "px", "x": "px", "y": "px", "rotation": "deg"}


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


def _named(factor: str, value: object | None = None) -> str:
    """``size (px)``, or ``y = 112 px`` with a value."""
    unit = _UNITS.get(factor)
    if value is None:
        return f"{factor} ({unit})" if unit else factor
    return f"{factor} = {_label(value)}{f' {unit}' if unit else ''}"


def contact_sheet(
    stim: xr.Dataset,
    *,
    columns: str = "size",
    rows: str = "x",
    at: Mapping[str, object] | None = None,
    zoom: int = 1,
    label_px: int | None = None,
) -> Image.Image:
    """Tile stimuli into one image: ``columns`` factor across, ``rows`` factor down.

    Every other factor is held at one value: the one given in ``at``, else its middle level
    (the median of its sorted distinct values). Each cell shows the first stimulus with those
    values, or stays dark gray if there is none (meant for grids; a random design leaves most
    cells empty). A title line names the two factors with their units and the fixed values of
    the others; the column and row labels give the levels.

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
    label_px : int, optional
        Height of the label font in the image's pixels; default so that the labels are at least
        :data:`MIN_LABEL_PX` px tall when the sheet is shown :data:`DISPLAY_WIDTH` px wide (as
        the HTML report shows it), and at least 11 px in the image itself.

    Returns
    -------
    PIL.Image.Image
        The sheet, mode ``"L"`` or ``"RGB"`` (8-bit; intensity ``round(255 * value)``); its
        ``info`` holds the ``title`` drawn on it and the labels' font size ``label_px`` (pixels).

    Raises
    ------
    ValueError
        For an unknown factor or a value in ``at`` that no stimulus has.
    """
    from PIL import Image, ImageDraw, ImageFont

    zoom = check_int(zoom, name="zoom", where="contact_sheet", minimum=1)
    if label_px is not None:
        label_px = check_int(label_px, name="label_px", where="contact_sheet", minimum=6)
    col_values = _factor_values(stim, columns, "columns")
    row_values = _factor_values(stim, rows, "rows")
    keep = np.ones(stim.sizes[STIMULUS], dtype=bool)
    fixed = dict(at or {})
    named = set(fixed)
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
    row_labels = [_label(v) for v in row_levels]
    cells_w = col_levels.size * (width + gap)
    size = label_px or 11
    while True:  # the smallest font whose labels are >= MIN_LABEL_PX on screen at DISPLAY_WIDTH
        font = ImageFont.load_default(size=size)
        pad = max(2, size // 4)
        label_w = int(np.ceil(max(font.getlength(t) for t in [*row_labels, "0000"]))) + 2 * pad
        title_w = int(np.ceil(font.getlength("x" * 36)))  # a narrow sheet still holds a title
        sheet_w = max(label_w + cells_w, title_w)
        if label_px is not None or size * DISPLAY_WIDTH / max(sheet_w, DISPLAY_WIDTH) >= (
            MIN_LABEL_PX
        ):
            break
        size += 1
    label_w = sheet_w - cells_w
    band = size + 2 * pad
    sheet_h = 2 * band + row_levels.size * (height + gap)
    sheet = np.full((sheet_h, sheet_w, channels), 255, dtype=np.uint8)
    for i, rv in enumerate(row_levels):
        for j, cv in enumerate(col_levels):
            top, left = 2 * band + i * (height + gap), label_w + j * (width + gap)
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
    held = [_named(str(n), v) for n, v in _held(stim, keep, (columns, rows), named)]
    title = f"across: {_named(columns)}; down: {_named(rows)}"
    title += f"; fixed: {', '.join(held)}" if held else ""
    draw.text((pad, pad), title, fill=ink, font=font)
    for j, cv in enumerate(col_levels):
        draw.text((label_w + j * (width + gap) + pad, band + pad), _label(cv), fill=ink, font=font)
    for i, text in enumerate(row_labels):
        draw.text((pad, 2 * band + i * (height + gap) + pad), text, fill=ink, font=font)
    img.info.update(title=title, label_px=size)
    return img


def _held(
    stim: xr.Dataset, keep: np.ndarray, shown: tuple[str, str], named: set[str]
) -> list[tuple[str, object]]:
    """The factors held fixed on the sheet (varied by the stimuli or named in ``at``), with
    their held value."""
    held = []
    for name, coord in stim.coords.items():
        if coord.dims != (STIMULUS,) or name in (STIMULUS, *shown):
            continue
        values = np.asarray(coord.values)
        if (name in named or np.unique(values).size > 1) and keep.any():
            held.append((str(name), values[np.flatnonzero(keep)[0]]))
    return held


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
