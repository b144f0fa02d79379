"""Quantisers that turn continuous responses into bin indices for the discrete estimators."""

from __future__ import annotations

from typing import Literal, cast, get_args

import numpy as np
import xarray as xr

from factorprobe._validation import check_choice, check_int, check_real
from factorprobe.dims import LAYER, STIMULUS, UNIT

__all__ = ["Quantizer", "check_responses", "quantize"]

Quantizer = Literal["quantile", "uniform", "threshold"]
QUANTIZERS: tuple[str, ...] = get_args(Quantizer)
#: above this many bins, quantile binning ranks by argsort instead of comparing with each edge
COMPARE_MAX_BINS = 24
#: values per block of rows in those comparisons (a block stays in the CPU cache)
COMPARE_BLOCK = 1 << 17


def quantile_bins(x: np.ndarray, n_bins: int, ordered: np.ndarray | None = None) -> np.ndarray:
    """Equal-population bins along the last axis; tied values share the bin of their first rank.

    The bin of a value is ``floor(c · n_bins / n)``, where ``c`` counts the values strictly
    below it (the rank of the first of its ties). A constant row falls entirely in bin 0.
    ``ordered``, the rows already sorted, may be passed when known. Returns ``int8``/``int16``
    indices in ``[0, n_bins)``.
    """
    n = x.shape[-1]
    flat = np.ascontiguousarray(x.reshape(-1, n))
    if n_bins > COMPARE_MAX_BINS:
        return _quantile_bins_by_rank(flat, n_bins).reshape(x.shape)
    ordered = np.sort(flat, axis=-1) if ordered is None else ordered.reshape(-1, n)
    return _count_above(flat, _edges(ordered, n_bins).T[:, :, None]).reshape(x.shape)


def quantile_bins_columns(columns: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`quantile_bins` of the units of stimuli-first ``columns (S, U)``: the bins stimuli
    first ``(S, U)`` and which units are constant ``(U,)``.

    Sorting and comparing run in float32, half the memory, wherever that is exact. Rounding to
    float32 keeps order, so the float32 row sorted holds the rounded order statistics, and
    fl(x) > fl(e) counts exactly the values above an edge e (an order statistic) provided the
    next order statistic rounds strictly above fl(e). Units where some edge fails that test
    (ties at an edge, values within float32 precision of it, float32 overflow, constant units)
    are binned in float64.
    """
    n, n_units = columns.shape
    if n_bins > COMPARE_MAX_BINS:
        ordered = np.sort(columns.T, axis=-1)
        bins = quantile_bins(columns.T, n_bins, ordered)
        return np.ascontiguousarray(bins.T), ordered[:, 0] == ordered[:, -1]
    positions = -(-np.arange(1, n_bins) * n // n_bins) - 1
    with np.errstate(over="ignore"):
        narrow = columns.astype(np.float32)
    # a copy even for one unit, where .T of an (S, 1) array is already contiguous and would
    # be sorted in place under the values still to be compared
    ordered = narrow.T.copy()
    ordered.sort(axis=-1)
    edges = ordered[:, positions]
    exact = (ordered[:, np.minimum(positions + 1, n - 1)] > edges).all(axis=1)
    out = _count_above(narrow, np.ascontiguousarray(edges.T)[:, None, :])
    constant = np.zeros(n_units, dtype=bool)
    if not exact.all():
        redo = np.flatnonzero(~exact)
        wide = np.ascontiguousarray(columns[:, redo])
        ordered = np.sort(wide.T, axis=-1)
        out[:, redo] = _count_above(wide, np.ascontiguousarray(_edges(ordered, n_bins).T)[:, None])
        constant[redo] = ordered[:, 0] == ordered[:, -1]
    return out, constant


def _edges(ordered: np.ndarray, n_bins: int) -> np.ndarray:
    """The bin edges ``(U, n_bins - 1)`` of sorted rows ``(U, n)``.

    c >= ceil(b n / B) exactly when the value exceeds the ceil(b n / B)-th smallest value, so
    the bin is the number of these B - 1 edges the value exceeds (one sort, no argsort).
    """
    n = ordered.shape[-1]
    positions = -(-np.arange(1, n_bins) * n // n_bins) - 1
    return np.ascontiguousarray(ordered[:, positions])


def _count_above(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """How many edges each value exceeds: ``values (R, C)``, ``edges (E, R, 1)`` per row or
    ``(E, 1, C)`` per column; ``int8``/``int16`` counts ``(R, C)``."""
    out: np.ndarray = np.zeros(values.shape, dtype=_bin_dtype(len(edges) + 1))
    # blocks of rows stay in cache across the comparisons with every edge
    step = max(1, COMPARE_BLOCK // max(values.shape[1], 1))
    above = np.empty((min(step, len(values)), values.shape[1]), dtype=bool)
    per_row = edges.shape[1] > 1
    for start in range(0, len(values), step):
        rows = slice(start, start + step)
        block, counted, mask = values[rows], out[rows], above[: len(values[rows])]
        for edge in edges:
            np.greater(block, edge[rows] if per_row else edge, out=mask)
            counted += mask
    return out


def _quantile_bins_by_rank(flat: np.ndarray, n_bins: int) -> np.ndarray:
    """The same bins through an argsort, cheaper than ``n_bins - 1`` comparisons for many bins."""
    n = flat.shape[-1]
    order = np.argsort(flat, axis=-1)
    ordered = np.take_along_axis(flat, order, axis=-1)
    start = np.zeros(ordered.shape, dtype=np.int64)
    new = np.ones(ordered.shape, dtype=bool)
    new[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    start[new] = np.nonzero(new)[1]
    np.maximum.accumulate(start, axis=-1, out=start)
    sorted_bins = (start * n_bins // n).astype(_bin_dtype(n_bins))
    out = np.empty_like(sorted_bins)
    np.put_along_axis(out, order, sorted_bins, axis=-1)
    return out


def uniform_bins(x: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-width bins between each row's minimum and maximum; a constant row is all bin 0."""
    lo = x.min(axis=-1, keepdims=True)
    width = x.max(axis=-1, keepdims=True) - lo
    scaled = np.where(width > 0, (x - lo) / np.where(width > 0, width, 1.0), 0.0)
    return np.minimum((scaled * n_bins).astype(np.int64), n_bins - 1).astype(_bin_dtype(n_bins))


def threshold_bins(x: np.ndarray, threshold: float) -> np.ndarray:
    """One bit per response: 1 where it exceeds ``threshold`` (Amjad et al. use 0 for ReLU)."""
    return (x > threshold).astype(np.int8)


def bins_kernel(
    x: np.ndarray,
    quantizer: str,
    n_bins: int,
    threshold: float,
    ordered: np.ndarray | None = None,
) -> np.ndarray:
    """Dispatch to a quantiser kernel (validated input); ``ordered``: the rows sorted, if known."""
    if quantizer == "quantile":
        return quantile_bins(x, n_bins, ordered)
    if quantizer == "uniform":
        return uniform_bins(x, n_bins)
    return threshold_bins(x, threshold)


def effective_bins(quantizer: str, n_bins: int) -> int:
    """Number of bin indices a quantiser can produce (2 for the threshold)."""
    return 2 if quantizer == "threshold" else n_bins


def check_quantizer(
    acts: xr.DataArray, *, n_bins: object, quantizer: object, threshold: object, where: str
) -> tuple[Quantizer, int, float]:
    """Validate quantiser options against the data; return (quantizer, n_bins, threshold)."""
    check_choice(quantizer, QUANTIZERS, name="quantizer", where=where)
    n_bins = check_int(n_bins, name="n_bins", where=where, minimum=2)
    # the threshold quantiser always makes 2 bins and ignores n_bins beyond its type
    n_stimuli = acts.sizes[STIMULUS]
    if quantizer != "threshold" and n_bins > max(2, n_stimuli // 2):
        raise ValueError(
            f"The 'n_bins' parameter of {where} must be at most {max(2, n_stimuli // 2)} for "
            f"{n_stimuli} stimuli (at least 2 stimuli per bin); got {n_bins}."
        )
    threshold = check_real(threshold, name="threshold", where=where)
    # checked against QUANTIZERS, the choices of Quantizer
    return cast(Quantizer, str(quantizer)), n_bins, threshold


def check_responses(acts: object, *, where: str) -> xr.DataArray:
    """Check the activations contract: a DataArray with dims (stimulus, unit), all finite."""
    if not isinstance(acts, xr.DataArray):
        raise TypeError(
            f"{where} expects an xarray.DataArray with dims ('stimulus', 'unit'); "
            f"got {type(acts).__name__}."
        )
    if set(acts.dims) != {STIMULUS, UNIT}:
        raise ValueError(
            f"{where} expects an xarray.DataArray with dims ('stimulus', 'unit'); got {acts.dims}."
        )
    acts = acts.transpose(UNIT, STIMULUS)
    if acts.dtype.kind not in "biuf":
        raise TypeError(f"{where} expects numeric responses; got dtype {acts.dtype}.")
    if acts.dtype.kind == "f" and isinstance(acts.data, np.ndarray):
        # a dask array is checked chunk by chunk when computed, so that nothing runs here
        kind, bad = non_finite(acts.data)
        if kind:
            raise ValueError(
                f"{where} got {kind} responses for {int(bad.sum())} unit(s): "
                f"{_unit_names(acts, np.nonzero(bad)[0][:5])}; drop or fill them first."
            )
    return acts


def non_finite(values: np.ndarray) -> tuple[str, np.ndarray]:
    """Name the non-finite values of ``(unit, stimulus)`` responses and flag their units.

    Returns ``("", flags)`` when every value is finite, else ``("NaN", flags)`` for units with
    NaN or ``("infinite", flags)`` for units with ±inf (NaN is reported first).
    """
    finite = np.isfinite(values)
    if finite.all():
        return "", np.zeros(values.shape[0], dtype=bool)
    nan = np.isnan(values).any(axis=1)
    if nan.any():
        return "NaN", nan
    return "infinite", ~finite.all(axis=1)


def quantize(
    acts: xr.DataArray,
    *,
    n_bins: int = 8,
    quantizer: Quantizer = "quantile",
    threshold: float = 0.0,
) -> xr.DataArray:
    """Quantise each unit's responses into bins over the stimuli.

    Parameters
    ----------
    acts : DataArray
        Responses with dims ``("stimulus", "unit")``.
    n_bins : int, default=8
        Number of bins (ignored by ``"threshold"``, which makes 2); at most half the stimuli.
    quantizer : {"quantile", "uniform", "threshold"}, default="quantile"
        ``"quantile"``: equal-population bins by rank (ties stay together, so a unit with many
        zeros gets one large bin); ``"uniform"``: equal-width bins between the unit's minimum
        and maximum; ``"threshold"``: 1 bit, response > ``threshold``.
    threshold : float, default=0.0
        The threshold of the ``"threshold"`` quantiser (0 suits ReLU-like units).

    Returns
    -------
    DataArray
        Integer bin indices with dims ``("unit", "stimulus")`` and the input's coordinates.

    References
    ----------
    Amjad, R. A., Liu, K. & Geiger, B. C. (2018). Understanding individual neuron importance
    using information theory. arXiv:1804.06679.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> a = xr.DataArray(np.arange(8.0)[:, None], dims=("stimulus", "unit"))
    >>> quantize(a, n_bins=4).values.ravel().tolist()
    [0, 0, 1, 1, 2, 2, 3, 3]
    """
    acts = check_responses(acts, where="quantize")
    quantizer, n_bins, threshold = check_quantizer(
        acts, n_bins=n_bins, quantizer=quantizer, threshold=threshold, where="quantize"
    )
    out = xr.apply_ufunc(
        bins_kernel,
        acts,
        input_core_dims=[[STIMULUS]],
        output_core_dims=[[STIMULUS]],
        kwargs={"quantizer": quantizer, "n_bins": n_bins, "threshold": threshold},
        dask="parallelized",
        output_dtypes=[_bin_dtype(n_bins)],
    )
    out.name = "bins"
    out.attrs = {
        "quantizer": quantizer,
        "n_bins": effective_bins(quantizer, n_bins),
        "threshold": threshold,
    }
    return out


def _bin_dtype(n_bins: int) -> type:
    return np.int8 if n_bins <= 127 else np.int16


def _unit_names(acts: xr.DataArray, positions: np.ndarray) -> str:
    names = []
    for i in positions:
        unit = acts[UNIT].values[i]
        if LAYER in acts.coords and acts[LAYER].dims == (UNIT,):
            names.append(
                f"{acts[LAYER].values[i]}[{acts['index'].values[i]}]"
                if "index" in acts.coords
                else f"{acts[LAYER].values[i]}:{unit}"
            )
        else:
            names.append(str(unit))
    return ", ".join(names)
