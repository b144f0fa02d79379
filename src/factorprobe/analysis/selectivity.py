"""How exclusively a unit codes one factor: selectivity indices, modularity, shares, KL selectivity.

The indices compare a non-negative measure across factors (the last axis of the kernels, the
``factor`` dimension of the wrappers): bias-corrected MI in bits by default, normalised MI or
variance explained (ω²) as variants. KL selectivity and the mean-response index are per factor.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from factorprobe.analysis import _kernels
from factorprobe.analysis.design import factor_codes
from factorprobe.analysis.quantize import (
    Quantizer,
    bins_kernel,
    check_quantizer,
    check_responses,
    effective_bins,
)
from factorprobe.dims import FACTOR, STIMULUS, UNIT

__all__ = [
    "kl_selectivity",
    "mean_response_selectivity",
    "modularity",
    "omega_squared",
    "selectivity_index",
    "shares",
]


# ---------------------------------------------------------------- kernels (last axis = factor)


def selectivity_kernel(measure: np.ndarray) -> np.ndarray:
    """(I₁ − I₂) / (I₁ + I₂) of the two largest values (clipped at 0); NaN when both are 0.

    Undefined, hence NaN, with fewer than two factors on the last axis.
    """
    m = np.clip(np.nan_to_num(measure, nan=0.0), 0.0, None)
    if m.shape[-1] < 2:
        return np.full(m.shape[:-1], np.nan)
    top = -np.sort(-m, axis=-1)[..., :2]
    total = top.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (top[..., 0] - top[..., 1]) / total, np.nan)


def modularity_kernel(measure: np.ndarray) -> np.ndarray:
    """Ridgeway & Mozer: 1 − Σ_{k≠k*} (I_k / I_k*)² / (K − 1); NaN when the largest is 0.

    Undefined, hence NaN, with fewer than two factors (K < 2) on the last axis.
    """
    m = np.clip(np.nan_to_num(measure, nan=0.0), 0.0, None)
    k = m.shape[-1]
    if k < 2:
        return np.full(m.shape[:-1], np.nan)
    top = m.max(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(top > 0, m / top, 0.0)
        out = 1.0 - ((ratio**2).sum(axis=-1) - 1.0) / (k - 1)
    return np.where(top[..., 0] > 0, out, np.nan)


def shares_kernel(measure: np.ndarray) -> np.ndarray:
    """I_k / Σ_j I_j (clipped at 0); NaN when the sum is 0."""
    m = np.clip(np.nan_to_num(measure, nan=0.0), 0.0, None)
    total = m.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, m / total, np.nan)


def mean_response_kernel(values: np.ndarray, codes: np.ndarray, n_levels: int) -> np.ndarray:
    """(μ_max − μ_rest) / (|μ_max| + |μ_rest|) over level means; in [0, 1]; 0 if both are 0."""
    return mean_response_from_moments(*_kernels.level_moments(values, codes, n_levels))


def mean_response_from_moments(count, total, squares) -> np.ndarray:
    """Mean-response selectivity from per-level moments ``(..., L)``."""
    n_levels = count.shape[-1]
    means = total / count
    best = means.argmax(axis=-1)
    mu_max = np.take_along_axis(means, best[..., None], axis=-1)[..., 0]
    mu_rest = (means.sum(axis=-1) - mu_max) / (n_levels - 1)
    denominator = np.abs(mu_max) + np.abs(mu_rest)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (mu_max - mu_rest) / denominator, 0.0)


def omega_squared_kernel(values: np.ndarray, codes: np.ndarray, n_levels: int) -> np.ndarray:
    """One-way ω² = (SS_b − (L−1) MS_w) / (SS_t + MS_w), clipped at 0; 0 for a constant unit."""
    return omega_from_moments(*_kernels.level_moments(values, codes, n_levels))


def _sums_of_squares(count, total, squares):
    """SS_total, SS_between the levels and whether the response is flat (SS_total at rounding
    level), from per-level moments ``(..., L)``."""
    n = count.sum(axis=-1)
    grand = total.sum(axis=-1)
    ss_total = squares.sum(axis=-1) - grand**2 / n
    ss_between = (total**2 / count).sum(axis=-1) - grand**2 / n
    scale = np.abs(squares.sum(axis=-1))
    flat = ss_total <= 1e-12 * np.maximum(scale, np.finfo(float).tiny)
    return ss_total, ss_between, flat


def omega_from_moments(count, total, squares) -> np.ndarray:
    """One-way ω² from per-level moments ``(..., L)``."""
    n_levels = count.shape[-1]
    n = count.sum(axis=-1)
    ss_total, ss_between, flat = _sums_of_squares(count, total, squares)
    ms_within = np.maximum(ss_total - ss_between, 0.0) / (n - n_levels)
    with np.errstate(invalid="ignore", divide="ignore"):
        omega = (ss_between - (n_levels - 1) * ms_within) / (ss_total + ms_within)
    return np.where(flat, 0.0, np.clip(omega, 0.0, 1.0))


def eta_from_moments(count, total, squares) -> np.ndarray:
    """One-way η² = SS_between / SS_total from per-level moments ``(..., L)``: the share of the
    response's variance the factor's level means explain (in a crossed design, the factor's
    main effect); 0 for a constant response."""
    ss_total, ss_between, flat = _sums_of_squares(count, total, squares)
    with np.errstate(invalid="ignore", divide="ignore"):
        eta = ss_between / ss_total
    return np.where(flat, 0.0, np.clip(eta, 0.0, 1.0))


# ---------------------------------------------------------------- wrappers


def selectivity_index(
    measure: xr.DataArray, *, factors: Sequence[str] | None = None
) -> xr.DataArray:
    """Selectivity index SI = (I₁ − I₂) / (I₁ + I₂) of the two largest values across factors.

    1 means the unit codes one factor only, 0 two factors equally. Feed it bias-corrected MI
    (the default of :func:`~factorprobe.analysis.unit_table`), MI normalised by H(F) or by
    min(H(R), H(F)), or ω² (variance explained): the variants differ when factors have different
    numbers of levels (docs/estimators.md shows how on planted units).

    Parameters
    ----------
    measure : DataArray
        Non-negative measure with dims ``("unit", "factor")`` (negative values count as 0).
    factors : sequence of str, optional
        The factors to compare (default: all along ``factor``).

    Returns
    -------
    DataArray
        Dims ``("unit",)``, dimensionless in [0, 1]; NaN where every compared value is 0.

    References
    ----------
    Ridgeway, K. & Mozer, M. C. (2018). Learning deep disentangled embeddings with the
    F-statistic loss. NeurIPS (modularity, the index's multi-factor analogue).

    Examples
    --------
    >>> import xarray as xr
    >>> mi = xr.DataArray([[0.6, 0.2]], dims=("unit", "factor"),
    ...                   coords={"factor": ["size", "position"]})
    >>> round(float(selectivity_index(mi)[0]), 6)
    0.5
    """
    return _across_factors(
        selectivity_kernel, measure, factors, where="selectivity_index", name="selectivity"
    )


def modularity(measure: xr.DataArray, *, factors: Sequence[str] | None = None) -> xr.DataArray:
    """Modularity 1 − Σ_{k≠k*} (I_k / I_k*)² / (K − 1) across factors (Ridgeway & Mozer 2018).

    Parameters
    ----------
    measure : DataArray
        Non-negative measure with dims ``("unit", "factor")``.
    factors : sequence of str, optional
        The factors to compare (default: all; at least 2).

    Returns
    -------
    DataArray
        Dims ``("unit",)``, in [0, 1]; NaN where every value is 0.

    References
    ----------
    Ridgeway, K. & Mozer, M. C. (2018). Learning deep disentangled embeddings with the
    F-statistic loss. NeurIPS.

    Examples
    --------
    >>> import xarray as xr
    >>> mi = xr.DataArray([[0.6, 0.3]], dims=("unit", "factor"),
    ...                   coords={"factor": ["size", "position"]})
    >>> float(modularity(mi)[0])
    0.75
    """
    return _across_factors(
        modularity_kernel, measure, factors, where="modularity", name="modularity"
    )


def shares(measure: xr.DataArray, *, factors: Sequence[str] | None = None) -> xr.DataArray:
    """Each factor's share I_k / Σ_j I_j of a unit's (clipped) measure.

    Parameters
    ----------
    measure : DataArray
        Non-negative measure with dims ``("unit", "factor")``.
    factors : sequence of str, optional
        The factors to compare (default: all).

    Returns
    -------
    DataArray
        Dims ``("unit", "factor")`` over the compared factors, summing to 1 per unit (NaN
        where every value is 0).

    Examples
    --------
    >>> import xarray as xr
    >>> mi = xr.DataArray([[0.6, 0.2]], dims=("unit", "factor"),
    ...                   coords={"factor": ["size", "position"]})
    >>> shares(mi).values.round(2).tolist()
    [[0.75, 0.25]]
    """
    return _across_factors(
        shares_kernel, measure, factors, where="shares", name="share", keep_factor=True
    )


def kl_selectivity(
    acts: xr.DataArray,
    factor: str = "size",
    *,
    n_bins: int = 8,
    quantizer: Quantizer = "quantile",
    threshold: float = 0.0,
) -> xr.DataArray:
    """KL selectivity max_f D_KL(p(R | F=f) ‖ p(R)), the largest specific information, in bits.

    Plug-in on the quantised response (not bias-corrected). It is at least the MI (a mean of the
    same divergences) and is large when one level drives the unit differently from the rest.

    Parameters
    ----------
    acts : DataArray
        Responses with dims ``("stimulus", "unit")`` and the factor on ``stimulus``.
    factor : str, default="size"
        Factor or group.
    n_bins, quantizer, threshold
        Quantisation, as in :func:`~factorprobe.analysis.quantize`.

    Returns
    -------
    DataArray
        Dims ``("unit",)``, in bits, named ``kl_selectivity``.

    References
    ----------
    Amjad, R. A., Liu, K. & Geiger, B. C. (2018). Understanding individual neuron importance
    using information theory. arXiv:1804.06679 (eq. 5).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> level = np.repeat(np.arange(4), 25)
    >>> a = xr.DataArray((level == 2).astype(float)[:, None], dims=("stimulus", "unit"),
    ...                  coords={"size": ("stimulus", level)})
    >>> round(float(kl_selectivity(a, "size", quantizer="threshold", threshold=0.5)[0]), 6)
    2.0
    """
    where = "kl_selectivity"
    acts = check_responses(acts, where=where)
    quantizer, n_bins, threshold = check_quantizer(
        acts, n_bins=n_bins, quantizer=quantizer, threshold=threshold, where=where
    )
    coded = factor_codes(acts, factor, where=where)
    bins = effective_bins(quantizer, n_bins)

    def kernel(values: np.ndarray) -> np.ndarray:
        b = bins_kernel(values, quantizer, n_bins, threshold)
        return _kernels.kl_selectivity(_kernels.joint_counts(b, bins, coded.codes, coded.n_levels))

    out = xr.apply_ufunc(
        kernel, acts, input_core_dims=[[STIMULUS]], dask="parallelized", output_dtypes=[np.float64]
    )
    out.name = "kl_selectivity"
    out.attrs = {
        "units": "bits",
        "estimator": "plugin",
        "quantizer": quantizer,
        "n_bins": bins,
        "factor": factor,
    }
    return out


def mean_response_selectivity(acts: xr.DataArray, factor: str = "size") -> xr.DataArray:
    """Mean-response selectivity (μ_max − μ_rest) / (|μ_max| + |μ_rest|) over level means.

    The analogue of Morcos et al.'s class selectivity, with absolute values in the denominator
    so that it stays in [0, 1] for units whose means can be negative (Swish, pre-activations).

    Parameters
    ----------
    acts : DataArray
        Responses with dims ``("stimulus", "unit")`` and the factor on ``stimulus``.
    factor : str, default="size"
        Factor or group.

    Returns
    -------
    DataArray
        Dims ``("unit",)``, dimensionless in [0, 1]; 0 for a constant unit.

    References
    ----------
    Morcos, A. S. et al. (2018). On the importance of single directions for generalization. ICLR.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> level = np.repeat(np.arange(4), 2)
    >>> a = xr.DataArray((level == 1).astype(float)[:, None], dims=("stimulus", "unit"),
    ...                  coords={"size": ("stimulus", level)})
    >>> float(mean_response_selectivity(a)[0])
    1.0
    """
    acts = check_responses(acts, where="mean_response_selectivity")
    coded = factor_codes(acts, factor, where="mean_response_selectivity")
    out = xr.apply_ufunc(
        mean_response_kernel,
        acts,
        input_core_dims=[[STIMULUS]],
        kwargs={"codes": coded.codes, "n_levels": coded.n_levels},
        dask="parallelized",
        output_dtypes=[np.float64],
    )
    out.name = "mean_response_selectivity"
    out.attrs = {"factor": factor}
    return out


def omega_squared(acts: xr.DataArray, factor: str = "size") -> xr.DataArray:
    """Variance of the response explained by a factor, one-way ω² (bias-corrected η²).

    Parameters
    ----------
    acts : DataArray
        Responses with dims ``("stimulus", "unit")`` and the factor on ``stimulus``.
    factor : str, default="size"
        Factor or group.

    Returns
    -------
    DataArray
        Dims ``("unit",)``, fraction of variance in [0, 1] (clipped at 0).

    References
    ----------
    Olejnik, S. & Algina, J. (2003). Generalized eta and omega squared statistics. Psychol.
    Methods 8, 434–447.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> level = np.repeat(np.arange(2), 3)
    >>> a = xr.DataArray(level.astype(float)[:, None], dims=("stimulus", "unit"),
    ...                  coords={"size": ("stimulus", level)})
    >>> float(omega_squared(a)[0])
    1.0
    """
    acts = check_responses(acts, where="omega_squared")
    coded = factor_codes(acts, factor, where="omega_squared")
    out = xr.apply_ufunc(
        omega_squared_kernel,
        acts,
        input_core_dims=[[STIMULUS]],
        kwargs={"codes": coded.codes, "n_levels": coded.n_levels},
        dask="parallelized",
        output_dtypes=[np.float64],
    )
    out.name = "omega_squared"
    out.attrs = {"factor": factor, "units": "fraction of variance"}
    return out


def _across_factors(
    kernel,
    measure: xr.DataArray,
    factors: Sequence[str] | None,
    *,
    where: str,
    name: str,
    keep_factor: bool = False,
) -> xr.DataArray:
    """Apply a kernel over the ``factor`` axis of the compared factors; label the result."""
    sub = _compared(measure, factors, where=where)
    out = xr.apply_ufunc(
        kernel,
        sub,
        input_core_dims=[[FACTOR]],
        output_core_dims=[[FACTOR]] if keep_factor else [[]],
        dask="parallelized",
        output_dtypes=[np.float64],
    )
    out.name = name
    out.attrs = {"measure": str(measure.name), "compared": ",".join(map(str, sub[FACTOR].values))}
    return out.transpose(*sub.dims) if keep_factor else out


def _compared(measure: xr.DataArray, factors: Sequence[str] | None, *, where: str) -> xr.DataArray:
    if not isinstance(measure, xr.DataArray) or set(measure.dims) != {UNIT, FACTOR}:
        raise TypeError(
            f"{where} expects a DataArray with dims ('unit', 'factor'); "
            f"got {getattr(measure, 'dims', type(measure).__name__)}."
        )
    available = [str(f) for f in measure[FACTOR].values]
    names = available if factors is None else list(factors)
    unknown = [f for f in names if f not in available]
    if unknown:
        raise KeyError(
            f"{where} cannot compare {unknown[0]!r}; the measure has factors "
            f"{', '.join(repr(f) for f in available)}."
        )
    if len(names) < 2:
        raise ValueError(f"{where} needs at least 2 factors to compare; got {names}.")
    return measure.sel({FACTOR: names}).transpose(UNIT, FACTOR)
