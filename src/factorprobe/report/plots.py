"""Plots of unit responses: tuning curves with CI, 2-D response maps, saliency overlays.

Every function returns a :class:`matplotlib.figure.Figure` built directly (no ``pyplot``, no global
state, the Agg canvas), so plots are thread-safe, work headless and can be embedded by the HTML
report; :func:`save_figure` writes one to PNG atomically. Plots of unit tables (selectivity
scatter, histograms, basis units against random directions) are in
:mod:`factorprobe.report.table_plots`.

Units are named ``layer[index]`` (e.g. ``fc1[3]``) from the ``layer`` and ``index`` coordinates
on ``unit``; functions that take ``units`` accept these labels or positions along ``unit``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from numbers import Integral

import numpy as np
import xarray as xr
from matplotlib import colors
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure

from factorprobe._validation import check_int
from factorprobe.dims import COL, FACTOR_GROUPS, INDEX, LAYER, LEVEL, ROW, STIMULUS, UNIT
from factorprobe.io.files import atomic_output

__all__ = ["plot_response_map", "plot_saliency", "plot_tuning_curves", "save_figure"]

UnitSpec = int | str | Sequence[int | str] | None

RESPONSE_LABEL = "activation (a.u.)"
# physical units of the factors the renderer knows (DESIGN section 4)
FACTOR_UNITS = {"size": "px", "x": "px", "y": "px", "rotation": "deg", "contrast": "fraction"}
MAX_TICKS = 12
MAX_LISTED = 12


# ------------------------------------------------------------------------------ figure plumbing


def new_figure(width: float, height: float) -> Figure:
    """A constrained-layout Figure on its own Agg canvas (never registered with pyplot)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: int = 150) -> None:
    """Write a figure to a PNG file atomically (temporary name, then rename).

    The image is ``figsize × dpi`` pixels exactly (no tight bounding box: constrained layout
    already keeps labels inside the figure).

    Parameters
    ----------
    fig : Figure
        The figure, e.g. from :func:`plot_tuning_curves`.
    path : path-like
        Output file; its parent directory is created if missing.
    dpi : int, default=150
        Resolution in pixels per inch (>= 10).

    Raises
    ------
    TypeError
        If ``fig`` is not a matplotlib Figure.
    ValueError
        If ``dpi`` is out of range.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> fig = new_figure(2, 1)
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "empty.png"
    >>> save_figure(fig, out, dpi=50)
    >>> out.read_bytes()[:4]
    b'\\x89PNG'
    """
    if not isinstance(fig, Figure):
        raise TypeError(
            f"save_figure needs a matplotlib Figure; got {fig!r} of type {type(fig).__name__}."
        )
    dpi = check_int(dpi, name="dpi", where="save_figure", minimum=10)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)


def axes_or_new(ax: Axes | None, width: float, height: float) -> tuple[Figure, Axes]:
    """The root figure of ``ax``, or a new figure with one axes."""
    if ax is None:
        fig = new_figure(width, height)
        return fig, fig.add_subplot()
    if not isinstance(ax, Axes):
        raise TypeError(f"'ax' must be a matplotlib Axes or None; got {type(ax).__name__}.")
    return ax.get_figure(root=True), ax


# ------------------------------------------------------------------------------ labels


def unit_labels(obj: xr.DataArray | xr.Dataset) -> list[str]:
    """``layer[index]`` for every unit, or ``unit N`` when the layer labels are missing."""
    n = obj.sizes[UNIT]
    if LAYER in obj.coords and INDEX in obj.coords and obj[LAYER].dims == (UNIT,):
        return [f"{la}[{ix}]" for la, ix in zip(obj[LAYER].values, obj[INDEX].values, strict=True)]
    names = obj[UNIT].values if UNIT in obj.coords else np.arange(n)
    return [f"unit {v}" for v in names]


def select_units(obj: xr.DataArray | xr.Dataset, units: UnitSpec, *, where: str, default: int):
    """Positions along ``unit`` of the units named by labels (``fc1[3]``) or positions."""
    if UNIT not in obj.dims:
        raise ValueError(f"{where} needs a 'unit' dimension; got dims {tuple(obj.dims)}.")
    n = obj.sizes[UNIT]
    labels = unit_labels(obj)
    if units is None:
        return list(range(min(n, default)))
    wanted = [units] if isinstance(units, str | Integral) else list(units)
    if not wanted:
        raise ValueError(f"The 'units' parameter of {where} must name at least one unit; got [].")
    lookup = {label: i for i, label in enumerate(labels)}
    positions = []
    for u in wanted:
        if isinstance(u, Integral) and not isinstance(u, bool) and -n <= int(u) < n:
            positions.append(int(u) % n)
        elif isinstance(u, str) and u in lookup:
            positions.append(lookup[u])
        else:
            raise KeyError(
                f"Unknown unit {int(u) if isinstance(u, Integral) else u!r} for {where}; "
                f"valid units: {describe_units(labels)} (or positions 0..{n - 1})."
            )
    return positions


def describe_units(labels: list[str]) -> str:
    """The valid unit labels, listed when few, else as one index range per layer."""
    if len(labels) <= MAX_LISTED:
        return ", ".join(repr(label) for label in labels)
    ranges: dict[str, list[str]] = {}
    for label in labels:
        layer, _, rest = label.rpartition("[")
        ranges.setdefault(layer, []).append(rest.rstrip("]"))
    return ", ".join(f"'{layer}[{ix[0]}]'..'{layer}[{ix[-1]}]'" for layer, ix in ranges.items())


def factor_label(factor: str) -> str:
    """Axis label of a factor with its units: ``size (px)``, ``position (x, y in px)``."""
    if factor in FACTOR_GROUPS:
        members = FACTOR_GROUPS[factor]
        unit = FACTOR_UNITS.get(members[0])
        return f"{factor} ({', '.join(members)}{f' in {unit}' if unit else ''})"
    unit = FACTOR_UNITS.get(factor)
    return f"{factor} ({unit})" if unit else factor


def fmt(value: object) -> str:
    """A level value as short text: integers without a decimal point, 3 significant digits."""
    if isinstance(value, float | np.floating):
        return str(int(value)) if float(value).is_integer() else f"{value:.3g}"
    return str(value)


def level_axis(
    obj: xr.DataArray | xr.Dataset, dim: str, factor: str | None = None
) -> tuple[np.ndarray, list[str], bool]:
    """Positions, tick labels and whether positions are the level values themselves.

    A numeric factor is drawn at its values; a group (``position``: one coordinate per member
    on the level dimension) or a categorical factor at ``0..L-1`` with the values as labels.
    """
    coord = obj[dim]
    group = FACTOR_GROUPS.get(factor or dim, ())
    members = [m for m in group if m in obj.coords and obj[m].dims == (dim,)]
    if members:
        cols = [obj[m].values for m in members]
        labels = ["(" + ", ".join(fmt(c[i]) for c in cols) + ")" for i in range(coord.size)]
        return np.arange(coord.size), labels, False
    values = coord.values
    if np.issubdtype(values.dtype, np.number):
        return values.astype(float), [fmt(v) for v in values], True
    return np.arange(values.size), [str(v) for v in values], False


def thin_ticks(ax: Axes, axis: str, positions: np.ndarray, labels: list[str]) -> None:
    """Put at most MAX_TICKS labelled ticks on an axis, rotated when they are long."""
    step = max(1, int(np.ceil(len(labels) / MAX_TICKS)))
    pos, lab = positions[::step], labels[::step]
    long = max((len(s) for s in lab), default=0) > 4
    if axis == "x":
        ax.set_xticks(pos, lab, rotation=45 if long else 0, ha="right" if long else "center")
    else:
        ax.set_yticks(pos, lab)


# ------------------------------------------------------------------------------ tuning curves


def plot_tuning_curves(
    curves: xr.Dataset, units: UnitSpec = None, *, ax: Axes | None = None
) -> Figure:
    """Tuning curves: mean response per level with its bootstrap confidence band, per unit.

    Parameters
    ----------
    curves : Dataset
        From :func:`factorprobe.analysis.tuning_curves`: ``mean``, ``ci_low``, ``ci_high`` over
        ``("unit", "level")`` and the factor name in ``attrs["factor"]``.
    units : int, str or sequence of them, optional
        Units to draw, as labels ``"layer[index]"`` or positions along ``unit``; default the
        first 6.
    ax : Axes, optional
        Draw into this axes (of a larger figure) instead of a new figure.

    Returns
    -------
    Figure
        The figure holding the axes. A numeric factor is drawn at its level values (pixels for
        size, x, y); ``position`` (the joint ``(x, y)`` level) and categorical factors at equally
        spaced ticks labelled with the level values.

    Raises
    ------
    KeyError
        If a unit is unknown (the message lists the valid ones) or a variable is missing.

    Examples
    --------
    >>> from factorprobe.analysis import planted_units, tuning_curves
    >>> acts = planted_units(kinds=("size",), n_units=2, noise=(0.3,), n_sizes=5, n_x=3, n_y=3)
    >>> fig = plot_tuning_curves(tuning_curves(acts, "size", n_boot=100), ["planted[0]", 1])
    >>> fig.axes[0].get_xlabel()
    'size (px)'
    """
    where = "plot_tuning_curves"
    _require(curves, ("mean", "ci_low", "ci_high"), where=where)
    chosen = select_units(curves, units, where=where, default=6)
    factor = str(curves.attrs.get("factor", LEVEL))
    fig, ax = axes_or_new(ax, 6.4, 3.8)
    positions, labels, numeric = level_axis(curves, LEVEL, factor)
    names = unit_labels(curves)
    cmap = _qualitative(len(chosen))
    for k, i in enumerate(chosen):
        row = curves.isel({UNIT: i})
        colour = cmap[k]
        ax.fill_between(
            positions, row["ci_low"].values, row["ci_high"].values, color=colour, alpha=0.2, lw=0
        )
        ax.plot(positions, row["mean"].values, "o-", color=colour, ms=3, lw=1.5, label=names[i])
    if not numeric or len(positions) > MAX_TICKS:
        thin_ticks(ax, "x", positions, labels)
    ax.set_xlabel(factor_label(factor))
    ax.set_ylabel(f"mean {_response_label(curves)}")
    ci = curves.attrs.get("ci")
    band = f"{float(ci):.0%} bootstrap CI" if ci is not None else "CI"
    ax.set_title(f"Tuning to {factor}: mean ± {band}")
    ax.legend(title="unit", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    ax.grid(alpha=0.3)
    return fig


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
    cmap = _colormap(cmap, where=where)
    a, b = (d for d in maps.dims if d != UNIT)
    vertical, horizontal = (b, a) if (a == "x" or b == "y") else (a, b)
    grid = maps.isel({UNIT: i}).transpose(vertical, horizontal)
    fig, ax = axes_or_new(ax, 5.4, 4.2)
    image = ax.imshow(
        np.ma.masked_invalid(grid.values),
        cmap=cmap,
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
    fig.colorbar(image, ax=ax, label=f"mean {_response_label(maps)}")
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
    cmap = _colormap(cmap, where=where)
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
        ax.imshow(values[k], cmap=cmap, norm=norm, interpolation="nearest")
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
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=list(axes), label=label, shrink=0.9)
    who = _scalar_unit_label(sal)
    title = "Saliency" if who is None else f"Saliency of unit {who}"
    fig.suptitle(title + " (object: grey, outlined)")
    return fig


# ------------------------------------------------------------------------------ helpers


def _require(ds: xr.Dataset, names: Sequence[str], *, where: str) -> None:
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"{where} needs a Dataset; got {type(ds).__name__}.")
    missing = [v for v in names if v not in ds]
    if missing:
        raise KeyError(
            f"{where} needs variables {', '.join(repr(v) for v in names)}; "
            f"{missing[0]!r} is missing (got {', '.join(repr(str(v)) for v in ds.data_vars)})."
        )


def _response_label(obj: xr.DataArray | xr.Dataset) -> str:
    units = str(obj.attrs.get("units", "activation"))
    return RESPONSE_LABEL if units == "activation" else units


def _qualitative(k: int) -> list:
    from matplotlib import colormaps

    name = "tab10" if k <= 10 else "tab20"
    base = colormaps[name]
    return [base(i % base.N) for i in range(k)]


def _colormap(name: str, *, where: str):
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
    source = sal if any(c in sal.coords for c in FACTOR_UNITS) else None
    if source is None:
        source = (
            stim.sel({STIMULUS: sal[STIMULUS].values})
            if STIMULUS in sal.coords and STIMULUS in stim.coords
            else stim.isel({STIMULUS: slice(0, sal.sizes[STIMULUS])})
        )
    names = [
        c for c in source.coords if c != STIMULUS and source[c].dims == (STIMULUS,) and c != UNIT
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
