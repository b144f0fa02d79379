"""Linearity of a response in the factor values: linear R² over factorial R² (DESIGN §5.11)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from factorprobe.analysis import _kernels
from factorprobe.analysis.quantize import check_responses
from factorprobe.dims import FACTOR_GROUPS, STIMULUS, UNIT

__all__ = ["linearity"]

# explained variance below this fraction of the total is rounding error
RELATIVE_ZERO = 1e-10


def linearity_kernel(
    values: np.ndarray, basis: np.ndarray, cell_codes: np.ndarray, n_cells: int
) -> np.ndarray:
    """``(..., S) -> (..., 3)``: linearity, linear R², factorial R².

    ``basis (S, k)`` is an orthonormal basis of the centred factor values; ``cell_codes (S,)``
    numbers the combinations of all factors' levels.
    """
    centred = values - values.mean(axis=-1, keepdims=True)
    ss_total = (centred**2).sum(axis=-1)
    ss_linear = ((centred @ basis) ** 2).sum(axis=-1)
    count, total, _ = _kernels.level_moments(centred, cell_codes, n_cells)
    ss_cells = (total**2 / count).sum(axis=-1)
    zero = RELATIVE_ZERO * ss_total
    flat = ss_total <= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        r2_linear = np.where(flat, np.nan, np.where(ss_linear > zero, ss_linear, 0.0) / ss_total)
        r2_full = np.where(flat, np.nan, np.where(ss_cells > zero, ss_cells, 0.0) / ss_total)
        # the linear model is nested in the factorial one, so the ratio is at most 1
        ratio = np.where(r2_full > 0, np.minimum(r2_linear / r2_full, 1.0), np.nan)
    return np.stack([ratio, r2_linear, r2_full], axis=-1)


def linearity(acts: xr.DataArray, factors: Sequence[str] = ("size", "position")) -> xr.Dataset:
    """How linear each unit's response is in the factor values.

    ``linearity = R²_linear / R²_factorial``. ``R²_linear`` is the fraction of the response's
    variance explained by ordinary least squares on the factor *values* plus an intercept
    (``r ≈ β₀ + β_size·size + β_x·x + β_y·y``); ``R²_factorial`` is η² of the full factorial
    model, the variance explained by the means of the cells defined by every combination of the
    factors' levels. The linear model is nested in the factorial one, so linearity lies in
    [0, 1]: 1 means the unit's tuning is linear in the factors (all the variance the factors
    explain is linear), 0 that none of it is. With one stimulus per cell (a deterministic
    network on a plain grid) ``R²_factorial = 1`` and linearity equals ``R²_linear``; factors not
    named (shape, repeats) are the within-cell variation. Both R² are invariant to affine
    rescaling of a factor (pixels or degrees) but not to a non-linear relabelling of its levels.

    Parameters
    ----------
    acts : DataArray
        Responses with dims ``("stimulus", "unit")`` and numeric factors on ``stimulus``.
    factors : sequence of str, default=("size", "position")
        Numeric factors, or groups expanded into their members (``position`` → ``x``, ``y``).
        Continuous factors (random designs) are fine: every distinct value is a level.

    Returns
    -------
    Dataset
        Variables ``linearity``, ``r2_linear`` and ``r2_factorial`` with dims ``("unit",)``,
        dimensionless fractions; NaN for a constant unit (and ``linearity`` NaN where the
        factors explain nothing).

    Raises
    ------
    KeyError
        If a factor is not a coordinate on ``stimulus``.
    TypeError
        If a factor is not numeric (e.g. ``shape``: it has no values to be linear in).
    ValueError
        If a factor has missing values, a single value, or the factors are collinear.

    References
    ----------
    Cohen, J., Cohen, P., West, S. G. & Aiken, L. S. (2003). Applied Multiple Regression /
    Correlation Analysis for the Behavioral Sciences, 3rd ed., ch. 6 (R² of a linear model and
    of the categorical model of its levels; the gap is the nonlinear part).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> s = np.repeat([-1.0, 0.0, 1.0], 2)
    >>> a = xr.DataArray(np.stack([2 * s + 1, s + s**2], 1), dims=("stimulus", "unit"),
    ...                  coords={"size": ("stimulus", s)})
    >>> linearity(a, ["size"])["linearity"].round(6).values.tolist()
    [1.0, 0.75]
    """
    where = "linearity"
    acts = check_responses(acts, where=where)
    names = [factors] if isinstance(factors, str) else list(factors)
    if not names:
        raise ValueError(f"{where} needs at least one factor; got {factors!r}.")
    members = list(dict.fromkeys(m for f in names for m in FACTOR_GROUPS.get(f, (f,))))
    columns = [_numeric_factor(acts, m, where=where) for m in members]
    matrix = np.stack(columns, axis=1)
    centred = matrix - matrix.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    rank = int((s > s[0] * max(centred.shape) * np.finfo(float).eps).sum())
    if rank < len(members):
        raise ValueError(
            f"{where} needs factors that vary independently; {', '.join(map(repr, members))} "
            f"are collinear in this design (rank {rank} of {len(members)})."
        )
    _, cell_codes = np.unique(matrix, axis=0, return_inverse=True)
    cell_codes = cell_codes.reshape(-1).astype(np.int64)
    n_cells = int(cell_codes.max()) + 1
    out = xr.apply_ufunc(
        linearity_kernel,
        acts,
        input_core_dims=[[STIMULUS]],
        output_core_dims=[["_measure"]],
        kwargs={"basis": u[:, :rank], "cell_codes": cell_codes, "n_cells": n_cells},
        dask="parallelized",
        output_dtypes=[np.float64],
        dask_gufunc_kwargs={"output_sizes": {"_measure": 3}},
    )
    ds = xr.Dataset(
        {
            name: out.isel(_measure=i, drop=True)
            for i, name in enumerate(("linearity", "r2_linear", "r2_factorial"))
        }
    )
    for name in ds.data_vars:
        ds[name].attrs = {"units": "fraction"}
    ds.attrs = {
        "factors": ",".join(members),
        "n_cells": n_cells,
        "method": "OLS R² on the factor values over the factorial model's R² (eta² of all cells)",
    }
    return ds.transpose(UNIT)


def _numeric_factor(acts: xr.DataArray, name: str, *, where: str) -> np.ndarray:
    available = [str(k) for k, c in acts.coords.items() if c.dims == (STIMULUS,) and k != STIMULUS]
    if name not in available:
        raise KeyError(
            f"Factor {name!r} of {where} is not a coordinate on 'stimulus'; available factors: "
            f"{', '.join(map(repr, available)) or 'none'}."
        )
    values = np.asarray(acts[name].values)
    if values.dtype.kind not in "biuf":
        raise TypeError(
            f"Factor {name!r} of {where} must be numeric to fit a linear model; got dtype "
            f"{values.dtype} (leave categorical factors such as shape out)."
        )
    values = values.astype(np.float64)
    if np.isnan(values).any():
        raise ValueError(f"Factor {name!r} of {where} has missing (NaN) values.")
    if np.ptp(values) == 0:
        raise ValueError(
            f"Factor {name!r} of {where} must take at least 2 values; got {values[0]!r} for "
            "every stimulus."
        )
    return values
