"""Plots of unit responses over the image: 2-D response maps and saliency overlays.

Built like every report figure (no ``pyplot``, the Agg canvas; see
:mod:`factorprobe.report.plots`, which re-exports :func:`plot_response_map` and
:func:`plot_saliency`).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib import colors
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Colormap
from matplotlib.figure import Figure

from factorprobe._validation import check_int
from factorprobe.dims import COL, INDEX, LAYER, ROW, STIMULUS, UNIT
from factorprobe.report._plot_parts import (
    FACTOR_UNITS,
    axes_or_new,
    describe_units,
    factor_label,
    fmt,
    level_axis,
    new_figure,
    response_label,
    select_units,
    thin_ticks,
    unit_labels,
)

__all__ = ["plot_response_map", "plot_saliency"]


# ------------------------------------------------------------------------------ response maps


def plot_response_map(
    maps: xr.DataArray, unit: int | str = 0, *, ax: Axes | None = None, cmap: str = "viridis"
) -> Figure:
    """A unit's 2-D response map as a heat map with a colour bar, ticks labelled in pixels.

    Orientation follows the canvas: ``x`` runs horizontally and ``y`` vertically, downwards as
    in the image; for other pairs the first factor runs up the vertical axis and the second
    along the horizontal. Cells no stimulus has are drawn grey.

    Parameters
    ----------
    maps : DataArray
        From :func:`factorprobe.analysis.response_map`: dims ``("unit", a, b)``.
    unit : int or str, default=0
        The unit, as a label ``"layer[index]"`` or a position along ``unit``.
    ax : Axes, optional
        Draw into this axes instead of a new figure (the colour bar is added beside it).
    cmap : str, default="viridis"
        A matplotlib colormap name.

    Returns
    -------
    Figure

    Raises
    ------
    KeyError
        If the unit is unknown (the message lists the valid ones).
    ValueError
        If ``maps`` is not 3-D with a ``unit`` dimension, or ``cmap`` is not a colormap.

    Examples
    --------
    >>> from factorprobe.analysis import planted_units, response_map
    >>> acts = planted_units(kinds=("conjunctive",), n_units=1, noise=(0.1,), n_sizes=4)
    >>> fig = plot_response_map(response_map(acts, ("size", "x")), "planted[0]")
    >>> fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()
    ('x (px)', 'size (px)')
    """
    where = "plot_response_map"
    if not isinstance(maps, xr.DataArray) or maps.ndim != 3 or UNIT not in maps.dims:
        dims = tuple(maps.dims) if hasattr(maps, "dims") else type(maps).__name__
        raise ValueError(
            f"{where} needs a DataArray with dims ('unit', factor_a, factor_b) from "
            f"response_map; got {dims}."
        )
    (i,) = select_units(maps, unit if isinstance(unit, str) else [unit], where=where, default=1)
    colormap = _colormap(cmap, where=where)
    a, b = (str(d) for d in maps.dims if d != UNIT)
    vertical, horizontal = (b, a) if (a == "x" or b == "y") else (a, b)
    grid = maps.isel({UNIT: i}).transpose(vertical, horizontal)
    fig, ax = axes_or_new(ax, 5.4, 4.2)
    image = ax.imshow(
        np.ma.masked_invalid(grid.values),
        cmap=colormap,
        origin="upper" if vertical == "y" else "lower",
        aspect="auto",
        interpolation="nearest",
    )
    for axis, dim in (("x", horizontal), ("y", vertical)):
        pos, labels, _ = level_axis(maps, dim)
        thin_ticks(ax, axis, np.arange(len(pos)), labels)
    ax.set_xlabel(factor_label(horizontal))
    ax.set_ylabel(factor_label(vertical))
    ax.set_title(f"{unit_labels(maps)[i]}: mean response over {a} × {b}")
    fig.colorbar(image, ax=ax, label=f"mean {response_label(maps)}")
    return fig


# ------------------------------------------------------------------------------ saliency


def plot_saliency(
    stim: xr.Dataset,
    sal: xr.DataArray,
    *,
    unit: int | str | None = None,
    n: int = 6,
    ncols: int = 6,
    cmap: str = "RdBu_r",
) -> Figure:
    """Stimulus images with a saliency map overlaid, on a diverging colour scale centred at 0.

    Every panel shares one symmetric colour scale ``[-m, m]`` (``m`` the largest absolute
    saliency shown; white is 0), so panels compare. The stimulus is drawn on top as a faint grey
    fill over the object (its contrast with the background) with a black outline (half
    contrast), so the object's place shows without hiding the map.

    Parameters
    ----------
    stim : Dataset
        Stimuli from :func:`factorprobe.stimuli.render` (``image`` over
        ``(stimulus, row, col, channel)``, factor coordinates on ``stimulus``).
    sal : DataArray
        Saliency with dims ``(stimulus, row, col)``, or ``(unit, stimulus, row, col)`` as
        :func:`factorprobe.analysis.saliency` returns it; aligned with ``stim`` by the
        ``stimulus`` coordinate when both have it, else by position.
    unit : int or str, optional
        The unit (label ``"layer[index]"`` or position) when ``sal`` has several; a single
        unit is taken as it is.
    n : int, default=6
        Number of stimuli shown (the first ``n`` of ``sal``).
    ncols : int, default=6
        Panels per row.
    cmap : str, default="RdBu_r"
        A diverging matplotlib colormap.

    Returns
    -------
    Figure

    Raises
    ------
    ValueError
        If the dims or the image sizes of ``stim`` and ``sal`` do not match, or ``n`` or
        ``ncols`` < 1.
    KeyError
        If a stimulus of ``sal`` is not in ``stim``.

    References
    ----------
    Simonyan, K., Vedaldi, A. & Zisserman, A. (2014). Deep inside convolutional networks:
    visualising image classification models and saliency maps. ICLR workshop.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from factorprobe.stimuli import grid, render
    >>> stim = render(grid(size=[16, 24], x=[32], y=[32]), canvas=64)
    >>> sal = xr.DataArray(np.random.default_rng(0).normal(size=(2, 64, 64)),
    ...                    dims=("stimulus", "row", "col"))
    >>> fig = plot_saliency(stim, sal, n=2)
    >>> fig.axes[-1].get_ylabel()
    '∂activation/∂pixel'
    """
    where = "plot_saliency"
    n = check_int(n, name="n", where=where, minimum=1)
    ncols = check_int(ncols, name="ncols", where=where, minimum=1)
    colormap = _colormap(cmap, where=where)
    if not isinstance(stim, xr.Dataset) or "image" not in stim:
        raise ValueError(f"{where} needs stimuli from render (a Dataset with 'image').")
    if not isinstance(sal, xr.DataArray) or set(sal.dims) - {UNIT} != {STIMULUS, ROW, COL}:
        dims = tuple(sal.dims) if hasattr(sal, "dims") else type(sal).__name__
        raise ValueError(
            f"{where} needs 'sal' with dims ('stimulus', 'row', 'col'), optionally 'unit' "
            f"first; got {dims}."
        )
    if UNIT in sal.dims:
        if unit is None and sal.sizes[UNIT] > 1:
            raise ValueError(
                f"{where} got saliency maps of {sal.sizes[UNIT]} units; pick one with 'unit': "
                f"{describe_units(unit_labels(sal))} (or positions 0..{sal.sizes[UNIT] - 1})."
            )
        (i,) = select_units(sal, [0 if unit is None else unit], where=where, default=1)
        sal = sal.isel({UNIT: i})
    sal = sal.transpose(STIMULUS, ROW, COL).isel({STIMULUS: slice(0, n)})
    images = _aligned_images(stim, sal, where=where)
    if images.shape[1:3] != sal.shape[1:]:
        raise ValueError(
            f"{where} needs saliency maps of the images' size {images.shape[1:3]} (rows, cols); "
            f"got {sal.shape[1:]}."
        )
    values = np.asarray(sal.values, dtype=float)
    limit = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 0.0
    norm = colors.Normalize(-limit, limit) if limit > 0 else colors.Normalize(-1.0, 1.0)
    count = values.shape[0]
    ncols = min(ncols, count)
    nrows = int(np.ceil(count / ncols))
    fig = new_figure(1.9 * ncols + 1.2, 2.25 * nrows + 0.5)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    factors = _stimulus_factors(stim, sal)
    for k, ax in enumerate(axes):
        if k >= count:
            ax.set_axis_off()
            continue
        ax.imshow(values[k], cmap=colormap, norm=norm, interpolation="nearest")
        # the object on top, as a faint grey fill with an outline: its contrast with the
        # background (the median pixel: an object covers less than half the canvas)
        contrast = np.abs(images[k] - np.median(images[k]))
        if contrast.max() > 0:
            contrast = contrast / contrast.max()
            shade = np.zeros((*contrast.shape, 4))
            shade[..., 3] = 0.15 * contrast
            ax.imshow(shade, interpolation="nearest")
            ax.contour(contrast, levels=[0.5], colors="k", linewidths=0.7)
        ax.set_title(factors[k], fontsize="small")
        ax.tick_params(labelsize="x-small")
        if k % ncols == 0:
            ax.set_ylabel("row (px)", fontsize="small")
        if k >= count - ncols:
            ax.set_xlabel("col (px)", fontsize="small")
    label = (
        "gradient × input (activation)"
        if sal.attrs.get("method") == "gradient_x_input"
        else "∂activation/∂pixel"
    )
    fig.colorbar(ScalarMappable(norm=norm, cmap=colormap), ax=list(axes), label=label, shrink=0.9)
    who = _scalar_unit_label(sal)
    title = "Saliency" if who is None else f"Saliency of unit {who}"
    fig.suptitle(title + " (object: grey, outlined)")
    return fig


def _colormap(name: str, *, where: str) -> Colormap:
    from matplotlib import colormaps

    if name not in colormaps:
        raise ValueError(
            f"The 'cmap' parameter of {where} must be a matplotlib colormap name such as "
            f"'viridis' or 'RdBu_r'; got {name!r}."
        )
    return colormaps[name]


def _aligned_images(stim: xr.Dataset, sal: xr.DataArray, *, where: str) -> np.ndarray:
    """Grayscale images (mean over channels) of the stimuli in ``sal``, in its order."""
    image = stim["image"]
    if STIMULUS in sal.coords and STIMULUS in stim.coords:
        missing = np.setdiff1d(sal[STIMULUS].values, stim[STIMULUS].values)
        if missing.size:
            raise KeyError(
                f"{where}: stimulus {missing[0].item()!r} of the saliency is not in the stimuli "
                f"(they have {stim.sizes[STIMULUS]} stimuli)."
            )
        image = image.sel({STIMULUS: sal[STIMULUS].values})
    elif stim.sizes[STIMULUS] < sal.sizes[STIMULUS]:
        raise ValueError(
            f"{where} aligns by position without a 'stimulus' coordinate and needs at least "
            f"{sal.sizes[STIMULUS]} stimuli; got {stim.sizes[STIMULUS]}."
        )
    else:
        image = image.isel({STIMULUS: slice(0, sal.sizes[STIMULUS])})
    values = image.transpose(STIMULUS, ROW, COL, ...).values
    return values.mean(axis=-1) if values.ndim == 4 else values


def _stimulus_factors(stim: xr.Dataset, sal: xr.DataArray) -> list[str]:
    """Panel titles: the factor values of each shown stimulus, two per line."""
    source: xr.DataArray | xr.Dataset
    if any(c in sal.coords for c in FACTOR_UNITS):
        source = sal
    elif STIMULUS in sal.coords and STIMULUS in stim.coords:
        source = stim.sel({STIMULUS: sal[STIMULUS].values})
    else:
        source = stim.isel({STIMULUS: slice(0, sal.sizes[STIMULUS])})
    names = [
        str(c)
        for c in source.coords
        if c != STIMULUS and source[c].dims == (STIMULUS,) and c != UNIT
    ]
    titles = []
    for k in range(sal.sizes[STIMULUS]):
        parts = [
            f"{c} {fmt(source[c].values[k])}"
            + (f" {FACTOR_UNITS[c]}" if FACTOR_UNITS.get(c) == "px" else "")
            for c in names
        ]
        titles.append("\n".join(", ".join(parts[j : j + 2]) for j in range(0, len(parts), 2)))
    return titles


def _scalar_unit_label(sal: xr.DataArray) -> str | None:
    if LAYER in sal.coords and INDEX in sal.coords and sal[LAYER].ndim == 0:
        return f"{sal[LAYER].item()}[{sal[INDEX].item()}]"
    return str(sal[UNIT].item()) if UNIT in sal.coords and sal[UNIT].ndim == 0 else None
