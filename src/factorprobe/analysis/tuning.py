"""How units are tuned to the factors: level means with uncertainty, maps, separability, tolerance.

Every measure here is built on *cell means*: the mean response over the stimuli that share a level
of one factor (a tuning curve) or a combination of levels of two factors (a response map). Stimuli
that differ only in factors not named (``y`` in a size × x map, ``shape``) are pooled into the
same cell, so a map of a full grid is the average over the other factors.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from factorprobe._validation import as_rng, check_int, check_real
from factorprobe.analysis import _kernels
from factorprobe.analysis._estimate import seed_int
from factorprobe.analysis.design import FactorCodes, factor_codes
from factorprobe.analysis.quantize import check_responses
from factorprobe.dims import LEVEL, STIMULUS, UNIT

#: Fewest bootstrap resamples of a tuning curve's interval.
MIN_BOOT = 10

__all__ = ["response_map", "separability", "tolerance", "tuning_curves"]

# ----------------------------------------------------------------------------------- kernels


def level_means_kernel(values: np.ndarray, codes: np.ndarray, n_levels: int) -> np.ndarray:
    """Mean response per level over the last axis: ``(..., S) -> (..., n_levels)``; NaN if empty."""
    count, total, _ = _kernels.level_moments(values, codes, n_levels)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def tuning_kernel(
    values: np.ndarray, codes: np.ndarray, n_levels: int, weights: np.ndarray, ci: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Level mean, SEM and percentile bootstrap interval: four arrays ``(..., n_levels)``.

    ``weights (B, S)`` counts how often each stimulus is drawn in each resample; resamples are
    stratified, so a level's weights sum to its count in every resample.
    """
    count, total, squares = _kernels.level_moments(values, codes, n_levels)
    mean = total / count
    var = np.maximum(squares - total * mean, 0.0) / (count - 1)
    sem = np.sqrt(var / count)
    lead = values.shape[:-1]
    flat = np.asarray(values, dtype=np.float64).reshape(-1, values.shape[-1])
    bounds = np.empty((2, flat.shape[0], n_levels))
    tail = (1.0 - ci) / 2.0
    # one matrix product per level: (rows, n_l) @ (n_l, B) gives every resample's level mean
    for level in range(n_levels):
        members = np.flatnonzero(codes == level)
        boot = flat[:, members] @ weights[:, members].T / members.size
        bounds[:, :, level] = np.quantile(boot, [tail, 1.0 - tail], axis=1)
    low, high = (b.reshape(*lead, n_levels) for b in bounds)
    return mean, sem, low, high


def cell_means_kernel(
    values: np.ndarray, codes_a: np.ndarray, n_a: int, codes_b: np.ndarray, n_b: int
) -> np.ndarray:
    """Mean response per (a, b) cell: ``(..., S) -> (..., n_a, n_b)``; NaN where a cell is empty."""
    means = level_means_kernel(values, codes_a * n_b + codes_b, n_a * n_b)
    return means.reshape(*means.shape[:-1], n_a, n_b)


def separability_kernel(
    values: np.ndarray, codes_a: np.ndarray, n_a: int, codes_b: np.ndarray, n_b: int
) -> np.ndarray:
    """σ₁² / Σσᵢ² of each row's (a × b) cell-mean matrix: ``(..., S) -> (...)``; NaN if all 0."""
    matrix = cell_means_kernel(values, codes_a, n_a, codes_b, n_b)
    power = np.linalg.svd(matrix, compute_uv=False) ** 2
    total = power.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, power[..., 0] / total, np.nan)


def tolerance_kernel(
    values: np.ndarray, codes_a: np.ndarray, n_a: int, codes_b: np.ndarray, n_b: int
) -> np.ndarray:
    """Mean Pearson correlation of the a-tuning curve between all pairs of b levels.

    ``(..., S) -> (...)``. Flat curves (no variance over a) have no correlation and leave their
    pairs out; NaN where fewer than two curves vary.
    """
    curves = np.swapaxes(cell_means_kernel(values, codes_a, n_a, codes_b, n_b), -1, -2)
    centred = curves - curves.mean(axis=-1, keepdims=True)
    norm = np.sqrt((centred**2).sum(axis=-1, keepdims=True))
    scale = np.abs(curves).max(axis=(-1, -2), keepdims=True)[..., 0]
    varies = norm[..., 0] > 1e-12 * np.maximum(scale, np.finfo(float).tiny)
    unit = np.where(varies[..., None], centred / np.where(norm > 0, norm, 1.0), 0.0)
    k = varies.sum(axis=-1)
    # Σ_{p<q} z_p·z_q = (|Σ z_p|² − Σ |z_p|²) / 2, with |z_p|² = 1 for every varying curve
    pair_sum = ((unit.sum(axis=-2) ** 2).sum(axis=-1) - k) / 2.0
    n_pairs = k * (k - 1) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(k >= 2, pair_sum / n_pairs, np.nan)


# ----------------------------------------------------------------------------------- wrappers


def tuning_curves(
    acts: xr.DataArray,
    factor: str = "size",
    *,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int | np.random.Generator | None = 0,
) -> xr.Dataset:
    """Tuning curves: each unit's mean response per level of a factor, with SEM and bootstrap CI.

    For level ``l`` with ``n_l`` stimuli the mean is ``r̄_l``, the SEM is ``s_l / sqrt(n_l)``
    (``s_l`` the sample standard deviation, ``ddof=1``), and the confidence interval is the
    percentile interval of ``r̄_l`` over ``n_boot`` stratified bootstrap resamples (stimuli drawn
    with replacement within each level, so every level keeps ``n_l`` stimuli). The same
    resamples are used for every unit, so results do not depend on how units are ordered or
    chunked.

    Parameters
    ----------
    acts : DataArray
        Responses with dims ``("stimulus", "unit")`` and the factor as a coordinate on
        ``stimulus``.
    factor : str, default="size"
        A factor or a group of :data:`factorprobe.dims.FACTOR_GROUPS` (``"position"`` uses the
        joint ``(x, y)`` label: one level per position).
    n_boot : int, default=1000
        Number of bootstrap resamples (>= 10; a warning below ``2 / (1 - ci)``, 40 for a 95 %
        interval, where a tail holds less than one resample).
    ci : float, default=0.95
        Coverage of the interval, in (0, 1).
    seed : int, Generator or None, default=0
        Seed of the resamples.

    Returns
    -------
    Dataset
        Variables ``mean``, ``sem``, ``ci_low``, ``ci_high`` with dims ``("unit", "level")`` in
        the units of ``acts``, and ``count`` (stimuli per level) over ``level``. For a plain
        factor the ``level`` coordinate holds its values; for a group it is ``0..L-1`` and each
        member (``x``, ``y``) is a coordinate on ``level``. ``unit`` keeps its coordinates.

    Raises
    ------
    KeyError
        If the factor is not a coordinate on ``stimulus``.
    ValueError
        If a level has fewer than 2 stimuli, or ``n_boot`` or ``ci`` is out of range.

    See Also
    --------
    response_map : mean response over two factors at once.

    References
    ----------
    Efron, B. & Tibshirani, R. J. (1993). An Introduction to the Bootstrap, ch. 13 (percentile
    interval).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> size = np.repeat([16, 32, 48], 4)
    >>> a = xr.DataArray((size / 16.0)[:, None], dims=("stimulus", "unit"),
    ...                  coords={"size": ("stimulus", size)})
    >>> tuning_curves(a, "size", n_boot=50)["mean"].values.tolist()
    [[1.0, 2.0, 3.0]]
    """
    where = "tuning_curves"
    acts = check_responses(acts, where=where)
    n_boot = check_int(n_boot, name="n_boot", where=where)
    if n_boot < MIN_BOOT:
        raise ValueError(
            f"The 'n_boot' parameter of {where} must be an int >= {MIN_BOOT} (a percentile "
            f"interval needs resamples to take its ends from: with 1 its width is 0); got "
            f"{n_boot}."
        )
    ci = check_real(ci, name="ci", where=where, minimum=0.0, maximum=1.0)
    if ci in (0.0, 1.0):
        raise ValueError(
            f"The 'ci' parameter of {where} must be strictly between 0 and 1; got {ci}."
        )
    enough = int(np.ceil(2 / (1 - ci) - 1e-9))
    if n_boot < enough:
        warnings.warn(
            f"n_boot={n_boot} resamples of {where} leave fewer than one in each tail of a "
            f"{ci:.0%} interval, whose ends are then the extreme resamples; use n_boot >= "
            f"{enough} (1000 or more for reported intervals).",
            UserWarning,
            stacklevel=2,
        )
    coded = factor_codes(acts, factor, where=where)
    seed = seed_int(seed)
    weights = _stratified_weights(coded, n_boot, as_rng(seed))
    outputs = xr.apply_ufunc(
        tuning_kernel,
        acts,
        input_core_dims=[[STIMULUS]],
        output_core_dims=[[LEVEL]] * 4,
        kwargs={
            "codes": coded.codes,
            "n_levels": coded.n_levels,
            "weights": weights,
            "ci": ci,
        },
        dask="parallelized",
        output_dtypes=[np.float64] * 4,
        dask_gufunc_kwargs={"output_sizes": {LEVEL: coded.n_levels}},
    )
    units = str(acts.attrs.get("units", "activation"))
    ds = xr.Dataset(
        dict(zip(("mean", "sem", "ci_low", "ci_high"), outputs, strict=True)),
        coords=_level_coords(coded, LEVEL),
    )
    ds["count"] = (LEVEL, coded.counts)
    for name in ("mean", "sem", "ci_low", "ci_high"):
        ds[name].attrs = {"units": units}
    ds.attrs = {
        "factor": factor,
        "units": units,
        "method": "level means; SEM with ddof=1; percentile bootstrap within levels",
        "n_boot": n_boot,
        "ci": ci,
        "seed": seed,
    }
    return ds.transpose(UNIT, LEVEL)


def response_map(acts: xr.DataArray, factors: tuple[str, str] = ("size", "x")) -> xr.DataArray:
    """2-D response map: each unit's mean response per combination of levels of two factors.

    Stimuli in a cell that differ in other factors (``y``, ``shape``) are averaged together.

    Parameters
    ----------
    acts : DataArray
        Responses with dims ``("stimulus", "unit")`` and the factors on ``stimulus``.
    factors : pair of str, default=("size", "x")
        The two factors (or groups), e.g. ``("size", "x")``, ``("x", "y")`` or
        ``("size", "position")``. They must not share a member.

    Returns
    -------
    DataArray
        Dims ``("unit", factors[0], factors[1])`` (each factor's dim named after it, with its
        level values as coordinate; a group's dim is coded ``0..L-1`` with its members as
        coordinates), in the units of ``acts``; NaN for a combination no stimulus has. The
        ``count`` coordinate gives the stimuli per cell.

    Raises
    ------
    KeyError
        If a factor is not a coordinate on ``stimulus``.
    ValueError
        If the factors are not two distinct factors without a shared member.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> x, y = np.repeat([0, 1], 4), np.tile(np.repeat([0, 1], 2), 2)
    >>> a = xr.DataArray((x + 10 * y)[:, None] * 1.0, dims=("stimulus", "unit"),
    ...                  coords={"x": ("stimulus", x), "y": ("stimulus", y)})
    >>> response_map(a, ("x", "y")).values[0].tolist()
    [[0.0, 10.0], [1.0, 11.0]]
    """
    where = "response_map"
    acts = check_responses(acts, where=where)
    a, b = factor_pair(acts, factors, where=where)
    out = xr.apply_ufunc(
        cell_means_kernel,
        acts,
        input_core_dims=[[STIMULUS]],
        output_core_dims=[[a.name, b.name]],
        kwargs={"codes_a": a.codes, "n_a": a.n_levels, "codes_b": b.codes, "n_b": b.n_levels},
        dask="parallelized",
        output_dtypes=[np.float64],
        dask_gufunc_kwargs={"output_sizes": {a.name: a.n_levels, b.name: b.n_levels}},
    )
    out = out.assign_coords({**_level_coords(a, a.name), **_level_coords(b, b.name)})
    count = np.bincount(a.codes * b.n_levels + b.codes, minlength=a.n_levels * b.n_levels)
    out = out.assign_coords(count=((a.name, b.name), count.reshape(a.n_levels, b.n_levels)))
    out.name = "response_map"
    out.attrs = {
        "units": str(acts.attrs.get("units", "activation")),
        "method": "cell means, pooled over the factors not named",
        "factors": f"{a.name},{b.name}",
    }
    return out.transpose(UNIT, a.name, b.name)


def separability(
    acts: xr.DataArray, factors: tuple[str, str] = ("size", "position")
) -> xr.DataArray:
    """Separability σ₁² / Σσᵢ² of each unit's (factor a × factor b) mean-response matrix.

    The matrix ``M[a, b]`` holds the cell means (see :func:`response_map`) as they are, not
    centred; ``σᵢ`` are its singular values. The index is 1 exactly when ``M`` has rank 1,
    ``M[a, b] = f(a) g(b)``: the unit's tuning to ``a`` has the same shape at every level of
    ``b`` and only its gain changes (multiplicative separability). An inseparable unit whose
    preferred size moves with position gets less, down to ``1 / min(L_a, L_b)`` for ``M``
    proportional to an identity. A constant offset counts as part of the response, so an
    additive unit ``f(a) + g(b)`` riding on a large mean scores near 1; subtract a baseline from
    ``acts`` first if that is not wanted.

    Parameters
    ----------
    acts : DataArray
        Responses with dims ``("stimulus", "unit")`` and the factors on ``stimulus``.
    factors : pair of str, default=("size", "position")
        The two factors; the default crosses size with the joint ``(x, y)`` position.

    Returns
    -------
    DataArray
        Dims ``("unit",)``, dimensionless in ``[1 / min(L_a, L_b), 1]``; NaN for a unit whose
        matrix is all zero.

    Raises
    ------
    ValueError
        If some combination of levels has no stimulus (the matrix must be complete).

    References
    ----------
    Peña, J. L. & Konishi, M. (2001). Auditory spatial receptive fields created by
    multiplication. Science 292, 249–252.
    Mazer, J. A., Vinje, W. E., McDermott, J., Schiller, P. H. & Gallant, J. L. (2002). Spatial
    frequency and orientation tuning dynamics in area V1. PNAS 99, 1645–1650.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> s, x = np.repeat([1.0, 2.0, 3.0], 2), np.tile([1.0, 5.0], 3)
    >>> a = xr.DataArray((s * x)[:, None], dims=("stimulus", "unit"),
    ...                  coords={"size": ("stimulus", s), "x": ("stimulus", x)})
    >>> round(float(separability(a, ("size", "x"))[0]), 12)
    1.0
    """
    return _matrix_measure(
        acts,
        factors,
        separability_kernel,
        where="separability",
        attrs={"units": "fraction of the matrix's power in its first singular value"},
    )


def tolerance(
    acts: xr.DataArray, factor: str = "size", *, across: str = "position"
) -> xr.DataArray:
    """Tolerance: mean correlation of a unit's tuning curve to ``factor`` across levels of another.

    For each level ``p`` of ``across`` the tuning curve is the vector of cell means over the
    levels of ``factor``; the tolerance is the mean Pearson correlation over all pairs
    ``p < q`` of curves. 1: the same tuning (up to gain and offset) at every position; 0: no
    consistent tuning; negative: tuning that reverses. A curve that is flat at some ``p`` has
    no correlation and its pairs are left out.

    Parameters
    ----------
    acts : DataArray
        Responses with dims ``("stimulus", "unit")`` and the factors on ``stimulus``.
    factor : str, default="size"
        The factor whose tuning curve is compared; needs at least 3 levels.
    across : str, default="position"
        The factor over whose levels it is compared (default: the joint ``(x, y)`` position).

    Returns
    -------
    DataArray
        Dims ``("unit",)``, dimensionless in [-1, 1]; NaN where fewer than two curves vary.

    Raises
    ------
    ValueError
        If ``factor`` has fewer than 3 levels (two-point curves correlate ±1 trivially) or a
        combination of levels has no stimulus.

    References
    ----------
    Zoccolan, D., Kouh, M., Poggio, T. & DiCarlo, J. J. (2007). Trade-off between object
    selectivity and tolerance in monkey inferotemporal cortex. J. Neurosci. 27, 12292–12307.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> s, x = np.repeat([1.0, 2.0, 3.0], 2), np.tile([1.0, 5.0], 3)
    >>> a = xr.DataArray((s**2 * x)[:, None], dims=("stimulus", "unit"),
    ...                  coords={"size": ("stimulus", s), "x": ("stimulus", x)})
    >>> round(float(tolerance(a, "size", across="x")[0]), 12)
    1.0
    """
    out = _matrix_measure(
        acts,
        (factor, across),
        tolerance_kernel,
        where="tolerance",
        attrs={"units": "Pearson correlation", "pairs": "all pairs of levels of 'across'"},
        min_levels_a=3,
    )
    return out


# ----------------------------------------------------------------------------------- helpers


def _matrix_measure(
    acts: xr.DataArray,
    factors: tuple[str, str],
    kernel,
    *,
    where: str,
    attrs: dict,
    min_levels_a: int = 2,
) -> xr.DataArray:
    acts = check_responses(acts, where=where)
    a, b = factor_pair(acts, factors, where=where)
    if a.n_levels < min_levels_a:
        raise ValueError(
            f"{where} needs at least {min_levels_a} levels of {a.name!r}; got {a.n_levels}."
        )
    count = np.bincount(a.codes * b.n_levels + b.codes, minlength=a.n_levels * b.n_levels)
    if count.min() == 0:
        raise ValueError(
            f"{where} needs every combination of {a.name!r} and {b.name!r} in the design; "
            f"{int((count == 0).sum())} of {count.size} have no stimulus (use a full grid)."
        )
    out = xr.apply_ufunc(
        kernel,
        acts,
        input_core_dims=[[STIMULUS]],
        kwargs={"codes_a": a.codes, "n_a": a.n_levels, "codes_b": b.codes, "n_b": b.n_levels},
        dask="parallelized",
        output_dtypes=[np.float64],
    )
    out.name = where
    out.attrs = {**attrs, "factors": f"{a.name},{b.name}"}
    return out


def factor_pair(
    acts: xr.DataArray, factors: object, *, where: str
) -> tuple[FactorCodes, FactorCodes]:
    """Codes of two factors that share no member (e.g. size and position), or raise."""
    names = (factors,) if isinstance(factors, str) else tuple(factors)  # type: ignore[arg-type]
    if len(names) != 2 or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{where} needs a pair of factor names; got {factors!r}.")
    a = factor_codes(acts, names[0], where=where)
    b = factor_codes(acts, names[1], where=where)
    shared = sorted(set(a.members) & set(b.members))
    if shared:
        raise ValueError(
            f"{where} needs two different factors; {names[0]!r} and {names[1]!r} share "
            f"{', '.join(repr(s) for s in shared)}."
        )
    return a, b


def _level_coords(coded: FactorCodes, dim: str) -> dict[str, tuple[str, np.ndarray]]:
    """Coordinates of a level dimension: the values of a plain factor, codes plus members else."""
    if len(coded.members) == 1:
        coords = {dim: (dim, np.asarray(coded.levels))}
        if coded.members[0] != dim:
            coords[coded.members[0]] = (dim, np.asarray(coded.levels))
        return coords
    coords = {dim: (dim, np.arange(coded.n_levels))}
    for i, member in enumerate(coded.members):
        coords[member] = (dim, np.asarray([level[i] for level in coded.levels]))
    return coords


def _stratified_weights(coded: FactorCodes, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Times each stimulus is drawn in each of ``n_boot`` within-level resamples: ``(B, S)``."""
    order = np.argsort(coded.codes, kind="stable")
    counts = coded.counts
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot_level = coded.codes[order]
    draws = rng.random((n_boot, order.size))
    within = np.floor(draws * counts[slot_level]).astype(np.int64)
    picks = order[starts[slot_level] + np.minimum(within, counts[slot_level] - 1)]
    flat = (picks + order.size * np.arange(n_boot)[:, None]).ravel()
    weights = np.bincount(flat, minlength=n_boot * order.size)
    return weights.reshape(n_boot, order.size).astype(np.float64)
