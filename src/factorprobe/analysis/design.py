"""Factors of a stimulus design: integer level codes, factor groups and their mutual dependence.

A factor is a 1-D coordinate on ``stimulus`` (``size``, ``x``, ``shape``, ...); a factor *group*
(``position`` = ``(x, y)``, :data:`factorprobe.dims.FACTOR_GROUPS`) is analysed with the joint
label of its members. Every estimator sees only the integer codes made here.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from factorprobe._deprecated import renamed_name
from factorprobe._validation import check_real
from factorprobe.analysis import _kernels
from factorprobe.dims import FACTOR, FACTOR_GROUPS, STIMULUS

__all__ = ["DesignDependenceWarning", "FactorCodes", "design_dependence", "factor_codes"]

OTHER_FACTOR = "other_factor"


class DesignDependenceWarning(UserWarning):
    """The design does not cross two analysed factors independently (marginal MI confounds them)."""


@dataclass(frozen=True)
class FactorCodes:
    """Integer level codes of one factor (or factor group) over the stimuli.

    Attributes
    ----------
    name : str
        The factor's name (``"position"`` for the x-y group).
    codes : numpy.ndarray
        ``int64`` array of shape ``(n_stimuli,)`` with values in ``[0, n_levels)``.
    n_levels : int
        Number of distinct levels.
    levels : tuple
        The level labels in code order (tuples for a group).
    members : tuple of str
        The coordinates the factor is made of (one name for a plain factor).
    """

    name: str
    codes: np.ndarray
    n_levels: int
    levels: tuple
    members: tuple[str, ...]

    @property
    def counts(self) -> np.ndarray:
        """Number of stimuli per level, shape ``(n_levels,)``."""
        return np.bincount(self.codes, minlength=self.n_levels)


def factor_codes(
    obj: xr.DataArray | xr.Dataset, factor: str, *, where: str = "factor_codes"
) -> FactorCodes:
    """Return the integer level codes of a factor or factor group of a stimulus design.

    Parameters
    ----------
    obj : DataArray or Dataset
        Anything with a ``stimulus`` dimension carrying the factors as 1-D coordinates.
    factor : str
        A coordinate on ``stimulus`` or a group of :data:`factorprobe.dims.FACTOR_GROUPS`.
    where : str, default="factor_codes"
        The public function named in error messages.

    Returns
    -------
    FactorCodes

    Raises
    ------
    KeyError
        If the factor is not a coordinate on ``stimulus`` (the message lists the factors).
    ValueError
        If the factor has a single level, missing values, or a level with fewer than 2 stimuli.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> x, y = [1, 1, 2, 2] * 2, [5, 6, 5, 6] * 2
    >>> a = xr.DataArray(np.zeros((8, 1)), dims=("stimulus", "unit"),
    ...                  coords={"x": ("stimulus", x), "y": ("stimulus", y)})
    >>> factor_codes(a, "position").n_levels
    4
    """
    if not isinstance(factor, str):
        raise TypeError(f"The 'factor' parameter of {where} must be a str; got {factor!r}.")
    members = FACTOR_GROUPS.get(factor, (factor,))
    available = _stimulus_factors(obj)
    missing = [m for m in members if m not in available]
    if missing:
        valid = ", ".join(repr(f) for f in [*available, *_groups_available(available)])
        raise KeyError(
            f"Factor {factor!r} of {where} needs the stimulus coordinate(s) "
            f"{', '.join(repr(m) for m in missing)}; available factors: {valid or 'none'}."
        )
    columns = []
    firsts = []
    for member in members:
        values = np.asarray(obj[member].values)
        if values.dtype.kind == "f" and np.isnan(values).any():
            nan_at = np.flatnonzero(np.isnan(values))
            raise ValueError(
                f"Factor {member!r} of {where} has missing (NaN) values at {nan_at.size} "
                f"stimulus/stimuli (first: {int(nan_at[0])}); every stimulus needs a level: "
                f"drop those stimuli or fill in their levels."
            )
        unique, first, inverse = np.unique(values, return_index=True, return_inverse=True)
        columns.append((inverse.reshape(-1).astype(np.int64), len(unique)))
        firsts.append(first)
    if len(columns) == 1:
        codes, n_levels = columns[0]
        first = firsts[0]
    else:
        # one integer per combination of member codes, in the lexicographic order of the members
        key = np.zeros(len(columns[0][0]), dtype=np.int64)
        for member_codes, n in columns:
            key = key * n + member_codes
        combinations, first, codes = np.unique(key, return_index=True, return_inverse=True)
        codes = codes.reshape(-1).astype(np.int64)
        n_levels = len(combinations)
    if n_levels < 2:
        raise ValueError(
            f"Factor {factor!r} of {where} must have at least 2 levels; got 1 "
            f"(value {_level_label(obj, members, 0)!r} for every stimulus)."
        )
    counts = np.bincount(codes, minlength=n_levels)
    if counts.min() < 2:
        raise ValueError(
            f"Factor {factor!r} of {where} needs at least 2 stimuli per level; "
            f"{int((counts < 2).sum())} of its {n_levels} levels have 1 "
            "(a continuous factor must be binned into levels first)."
        )
    columns_values = [np.asarray(obj[m].values)[first].tolist() for m in members]
    levels = (
        tuple(columns_values[0]) if len(members) == 1 else tuple(zip(*columns_values, strict=True))
    )
    return FactorCodes(factor, codes, n_levels, levels, tuple(members))


def design_dependence(
    obj: xr.DataArray | xr.Dataset,
    factors: Sequence[str] = ("size", "position"),
    *,
    tolerance: float = 0.01,
) -> xr.DataArray:
    """Measure how much a design confounds its factors, and warn where it does.

    The dependence of two factors is their plug-in mutual information normalised by the smaller
    of their entropies, ``I(F_a; F_b) / min(H(F_a), H(F_b))``: 0 for a fully crossed grid, 1 when
    one factor determines the other. Where it exceeds ``tolerance``, the marginal MI of a unit with
    one factor also carries information about the other, so a
    :class:`DesignDependenceWarning` is issued that points to
    :func:`~factorprobe.analysis.conditional_mutual_information`. A factor and the group it
    belongs to (``x`` and ``position``) are not compared.

    Parameters
    ----------
    obj : DataArray or Dataset
        Anything with the factors as coordinates on ``stimulus``.
    factors : sequence of str, default=("size", "position")
        The factors (or groups) to compare pairwise.
    tolerance : float, default=0.01
        Largest normalised dependence accepted silently.

    Returns
    -------
    DataArray
        Dims ``("factor", "other_factor")``, symmetric, NaN on the diagonal and between a factor
        and its own group; dimensionless (fraction of the smaller entropy).

    References
    ----------
    Cover, T. M. & Thomas, J. A. (2006). Elements of Information Theory, ch. 2.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> a = xr.DataArray(np.zeros((4, 1)), dims=("stimulus", "unit"),
    ...                  coords={"size": ("stimulus", [1, 1, 2, 2]),
    ...                          "x": ("stimulus", [1, 2, 1, 2])})
    >>> float(design_dependence(a, ["size", "x"]).sel(factor="size", other_factor="x"))
    0.0
    """
    tolerance = check_real(tolerance, name="tolerance", where="design_dependence", minimum=0.0)
    names = list(factors)
    coded = [factor_codes(obj, f, where="design_dependence") for f in names]
    out = check_dependence(coded, tolerance=tolerance, stacklevel=3)
    return xr.DataArray(
        out,
        dims=(FACTOR, OTHER_FACTOR),
        coords={FACTOR: names, OTHER_FACTOR: names},
        name="design_dependence",
        attrs={"units": "fraction of min(H(F_a), H(F_b))", "estimator": "plugin"},
    )


def check_dependence(
    coded: Sequence[FactorCodes], *, tolerance: float = 0.01, stacklevel: int = 2
) -> np.ndarray:
    """The dependence matrix of :func:`design_dependence` from factor codes, with its warning.

    A pair whose joint level counts are the outer product of its level counts over the stimuli
    (a fully crossed design, balanced or not) is independent: its MI is exactly 0, so only the
    other pairs need the plug-in sums. ``stacklevel`` is the warning's, counted from here.
    """
    k = len(coded)
    out = np.full((k, k), np.nan)
    for i in range(k):
        for j in range(i + 1, k):
            a, b = coded[i], coded[j]
            if set(a.members) & set(b.members):
                continue
            if crossed(a, b):
                out[i, j] = out[j, i] = 0.0
                continue
            mi = float(_kernels.plugin_mi(joint_counts(a, b)))
            h = min(_kernels.plugin_entropy(a.counts), _kernels.plugin_entropy(b.counts))
            out[i, j] = out[j, i] = mi / h
    bad = [
        (coded[i].name, coded[j].name, out[i, j])
        for i in range(k)
        for j in range(i + 1, k)
        if out[i, j] > tolerance
    ]
    if bad:
        pairs = "; ".join(f"{a!r} and {b!r}: {v:.3f}" for a, b, v in bad)
        warnings.warn(
            f"The design confounds factors ({pairs} of the smaller entropy is shared), so a unit's "
            "marginal MI with one also reflects the other; unit_table's default (restricted) "
            "null tests each factor within the levels of the others, and "
            "conditional_mutual_information (e.g. I(R; size | position), with replicates) "
            "separates them.",
            DesignDependenceWarning,
            stacklevel=stacklevel,
        )
    return out


def joint_counts(a: FactorCodes, b: FactorCodes) -> np.ndarray:
    """Stimuli per pair of levels of two factors, ``(a.n_levels, b.n_levels)``."""
    joint = np.bincount(a.codes * b.n_levels + b.codes, minlength=a.n_levels * b.n_levels)
    return joint.reshape(a.n_levels, b.n_levels)


def crossed(a: FactorCodes, b: FactorCodes) -> bool:
    """Whether the design crosses two factors: their joint counts are the outer product of
    their level counts over the stimuli (every level of one holds the other's in proportion,
    balanced or not; their MI is exactly 0)."""
    return bool(np.array_equal(joint_counts(a, b) * len(a.codes), np.outer(a.counts, b.counts)))


def _stimulus_factors(obj: xr.DataArray | xr.Dataset) -> list[str]:
    # the coordinates' variables, not DataArrays built for each
    return [
        str(name)
        for name, variable in obj.coords.variables.items()
        if variable.dims == (STIMULUS,) and name != STIMULUS
    ]


def _groups_available(available: list[str]) -> list[str]:
    return [g for g, members in FACTOR_GROUPS.items() if all(m in available for m in members)]


def _level_label(obj, members, stimulus_index):
    values = tuple(np.asarray(obj[m].values)[stimulus_index].item() for m in members)
    return values[0] if len(values) == 1 else values


def joint_factor(a: FactorCodes, b: FactorCodes, *, where: str) -> FactorCodes:
    """The joint factor (a, b): one level per observed combination; each needs 2 stimuli."""
    pairs, codes = np.unique(np.stack([a.codes, b.codes], axis=1), axis=0, return_inverse=True)
    codes = codes.reshape(-1).astype(np.int64)
    counts = np.bincount(codes, minlength=len(pairs))
    if counts.min() < 2:
        raise ValueError(
            f"{where} needs at least 2 stimuli per combination of {a.name!r} and {b.name!r}; "
            f"{int((counts < 2).sum())} of {len(pairs)} combinations have 1, where "
            f"I(R; {a.name} | {b.name}) is degenerate (every cell is one value); on such a grid "
            "use unit_table, whose p_value and eta_squared_within test each factor within the "
            "levels of the others, or repeat stimuli (shapes, seeds) or use coarser levels."
        )
    levels = tuple((a.levels[i], b.levels[j]) for i, j in pairs)
    return FactorCodes(f"{a.name}*{b.name}", codes, len(pairs), levels, (*a.members, *b.members))


def __getattr__(name: str) -> object:
    return renamed_name(__name__, name)  # factor_dependence, renamed in 0.2
