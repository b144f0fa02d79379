"""Figure plumbing and labels shared by the report's plots: Agg figures, unit and level labels.

Figures are built directly on their own Agg canvas (no ``pyplot``, no global state);
:func:`save_figure` writes one to PNG atomically. :mod:`factorprobe.report.plots` re-exports
these names, and the other plot modules import them from there.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from numbers import Integral

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from factorprobe._validation import check_int
from factorprobe.dims import FACTOR_GROUPS, INDEX, LAYER, UNIT
from factorprobe.io.files import atomic_output

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
    root = ax.get_figure(root=True)
    if root is None:
        raise ValueError("'ax' must belong to a figure; got an Axes without one.")
    return root, ax


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
    wanted = [units] if isinstance(units, str | int | Integral) else list(units)
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


def response_label(obj: xr.DataArray | xr.Dataset) -> str:
    """The axis label of a response: ``activation (a.u.)`` or the ``units`` attribute."""
    units = str(obj.attrs.get("units", "activation"))
    return RESPONSE_LABEL if units == "activation" else units
