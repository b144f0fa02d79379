"""Information measures per unit: entropy, MI with a factor, conditional MI and co-information.

Each function is a thin labelled wrapper: it validates, then runs the NumPy core of
:mod:`factorprobe.analysis._estimate` through ``xr.apply_ufunc`` over ``stimulus``, so that a
dask array chunked along ``unit`` stays lazy. All results are in bits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import xarray as xr

from factorprobe.analysis import _kernels, significance
from factorprobe.analysis._estimate import (
    Correction,
    Estimation,
    Estimator,
    factor_rng,
    factor_statistics,
    prepare,
    seed_int,
    unit_keys,
)
from factorprobe.analysis.design import FactorCodes, factor_codes, joint_factor
from factorprobe.analysis.quantize import (
    Quantizer,
    bins_kernel,
    check_quantizer,
    check_responses,
    effective_bins,
)
from factorprobe.dims import INDEX, LAYER, STIMULUS, UNIT

__all__ = [
    "co_information",
    "conditional_mutual_information",
    "entropy",
    "mutual_information",
]

_REFERENCES = """
    References
    ----------
    Miller, G. (1955). Note on the bias of information estimates. Information Theory in
    Psychology, 95–100 (Miller–Madow correction).
    Panzeri, S. & Treves, A. (1996). Analytical estimates of limited sampling biases in different
    information measures. Network 7, 87–107 (bias of plug-in MI; shuffle correction).
    Ince, R. A. A. et al. (2017). A statistical framework for neuroimaging data analysis based on
    mutual information estimated via a Gaussian copula. Hum. Brain Mapp. 38, 1541–1573.
"""


def entropy(
    acts: xr.DataArray,
    *,
    n_bins: int = 8,
    quantizer: Quantizer = "uniform",
    threshold: float = 0.0,
) -> xr.DataArray:
    """Plug-in entropy H(R) of each unit's quantised response, in bits.

    The default quantiser is fixed (``n_bins`` equal-width bins over each unit's range), so the
    entropy says how the unit's responses spread: on quantile bins every untied unit would have
    exactly log2(n_bins). Compare an information value only with an entropy on the same
    quantiser (I(R; F) <= H(R) holds for plug-in estimates on the same bins).

    Parameters
    ----------
    acts : DataArray
        Responses with dims ``("stimulus", "unit")``.
    n_bins : int, default=8
        Number of bins (at most half the stimuli).
    quantizer : {"quantile", "uniform", "threshold"}, default="uniform"
        See :func:`~factorprobe.analysis.quantize`.
    threshold : float, default=0.0
        Threshold of the ``"threshold"`` quantiser.

    Returns
    -------
    DataArray
        Dims ``("unit",)``, in bits; a constant unit has 0.

    References
    ----------
    Shannon, C. E. (1948). A mathematical theory of communication. Bell Syst. Tech. J. 27.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> a = xr.DataArray(np.arange(8.0)[:, None], dims=("stimulus", "unit"))
    >>> float(entropy(a, n_bins=4)[0])
    2.0
    """
    acts = check_responses(acts, where="entropy")
    quantizer, n_bins, threshold = check_quantizer(
        acts, n_bins=n_bins, quantizer=quantizer, threshold=threshold, where="entropy"
    )
    bins = effective_bins(quantizer, n_bins)

    def kernel(values: np.ndarray) -> np.ndarray:
        return _kernels.bin_entropy(bins_kernel(values, quantizer, n_bins, threshold), bins)

    out = _apply(kernel, acts, keyed=False)
    out.name = "entropy"
    out.attrs = {"units": "bits", "estimator": "plugin", "quantizer": quantizer, "n_bins": bins}
    return out


def mutual_information(
    acts: xr.DataArray,
    factor: str = "size",
    *,
    n_bins: int = 8,
    quantizer: Quantizer = "quantile",
    threshold: float = 0.0,
    estimator: Estimator = "copula",
    correction: Correction = "shuffle",
    n_permutations: int = 1000,
    raw: bool = False,
    seed: int | np.random.Generator | None = 0,
) -> xr.DataArray:
    """Mutual information I(R; F) between each unit's response and a factor, in bits.

    Parameters
    ----------
    acts : DataArray
        Responses with dims ``("stimulus", "unit")`` and the factor as a coordinate on
        ``stimulus``.
    factor : str, default="size"
        A factor coordinate, or a group such as ``"position"`` (joint ``(x, y)`` label).
    n_bins, quantizer, threshold
        Quantisation of the response (see :func:`~factorprobe.analysis.quantize`); the copula
        estimator does not quantise.
    estimator : {"copula", "plugin"}, default="copula"
        ``"plugin"``: frequencies of the quantised response; ``"copula"``: Gaussian-copula MI
        (a lower bound, rank-based and bin-free).
    correction : {"shuffle", "analytic", "none"}, default="shuffle"
        Bias correction: minus the mean of the permutation null (``"shuffle"``), Miller–Madow
        for the plug-in or the Gaussian-entropy correction for the copula (``"analytic"``).
    n_permutations : int, default=1000
        Shuffles of the factor labels for the shuffle correction.
    raw : bool, default=False
        Return the uncorrected value (then ``correction`` is ignored).
    seed : int, Generator or None, default=0
        Seed of the shuffles (and of the copula's tie-breaking).

    Returns
    -------
    DataArray
        Dims ``("unit",)``, in bits, named ``mi`` (``mi_raw`` if ``raw``).

    Raises
    ------
    KeyError
        If the factor is not a coordinate on ``stimulus``.
    ValueError
        For unknown options, NaN responses, a factor with one level or levels with 1 stimulus.
    """
    acts = check_responses(acts, where="mutual_information")
    options = _point_options(
        acts, "mutual_information", estimator, "none" if raw else correction, n_permutations,
        quantizer, n_bins, threshold, seed,
    )  # fmt: skip
    coded = factor_codes(acts, factor, where="mutual_information")

    def kernel(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
        stats = factor_statistics(
            prepare(values, options, keys), coded.codes, coded.n_levels, options, coded.name
        )
        return stats.mi_raw if raw else stats.mi

    out = _apply(kernel, acts)
    out.name = "mi_raw" if raw else "mi"
    out.attrs = {**options.attrs(), "factor": factor, "n_levels": coded.n_levels}
    return out


mutual_information.__doc__ = (mutual_information.__doc__ or "") + _REFERENCES


def conditional_mutual_information(
    acts: xr.DataArray,
    factor: str = "size",
    given: str = "position",
    *,
    n_bins: int = 8,
    quantizer: Quantizer = "quantile",
    threshold: float = 0.0,
    estimator: Estimator = "copula",
    correction: Correction = "analytic",
    n_permutations: int = 200,
    seed: int | np.random.Generator | None = 0,
) -> xr.DataArray:
    """Conditional mutual information I(R; F_a | F_b) = I(R; F_a, F_b) − I(R; F_b), in bits.

    What a unit tells about ``factor`` beyond what ``given`` explains: the measure to use when
    the design confounds the two (:func:`~factorprobe.analysis.design_dependence` warns).

    Parameters
    ----------
    acts : DataArray
        Responses with dims ``("stimulus", "unit")`` and both factors on ``stimulus``. Every
        combination of the two factors needs at least 2 stimuli.
    factor, given : str, default="size", "position"
        The factor of interest and the conditioning factor (groups allowed).
    n_bins, quantizer, threshold, estimator
        As in :func:`mutual_information`.
    correction : {"analytic", "shuffle", "none"}, default="analytic"
        ``"analytic"``: each term corrected (Miller–Madow, or the Gaussian-entropy correction);
        ``"shuffle"``: minus the mean over shuffles of ``factor`` *within* the levels of
        ``given``, which keeps the dependence on ``given`` (costs ``n_permutations`` × units ×
        stimuli, so the default is analytic).
    n_permutations : int, default=200
        Within-level shuffles for ``correction="shuffle"``.
    seed : int, Generator or None, default=0
        Seed of the shuffles.

    Returns
    -------
    DataArray
        Dims ``("unit",)``, in bits, named ``cmi``.
    """
    acts = check_responses(acts, where="conditional_mutual_information")
    where = "conditional_mutual_information"
    options = _point_options(
        acts, where, estimator, correction, n_permutations, quantizer, n_bins, threshold, seed
    )
    a = factor_codes(acts, factor, where=where)
    b = factor_codes(acts, given, where=where)
    ab = joint_factor(a, b, where=where)
    plain = replace(options, correction="none" if correction == "shuffle" else correction)

    def kernel(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
        prepared = prepare(values, plain, keys)
        joint_term = factor_statistics(prepared, ab.codes, ab.n_levels, plain, ab.name)
        given_term = factor_statistics(prepared, b.codes, b.n_levels, plain, b.name)
        cmi = joint_term.mi - given_term.mi
        if correction != "shuffle":
            return cmi
        perms = significance.permuted_codes(
            a.codes, n_permutations, factor_rng(options.seed, ab.name), strata=b.codes
        )
        null = significance.unit_null(
            lambda block: _joint_mi(prepared, block, a, b, plain), perms, values.shape[0]
        )
        return cmi - (null.mean(axis=1) - given_term.mi_raw)

    out = _apply(kernel, acts)
    out.name = "cmi"
    out.attrs = {**options.attrs(), "factor": factor, "given": given}
    return out


conditional_mutual_information.__doc__ = (
    conditional_mutual_information.__doc__ or ""
) + _REFERENCES


def co_information(
    acts: xr.DataArray,
    factors: Sequence[str] = ("size", "position"),
    *,
    n_bins: int = 8,
    quantizer: Quantizer = "quantile",
    threshold: float = 0.0,
    estimator: Estimator = "copula",
    correction: Correction = "shuffle",
    n_permutations: int = 1000,
    seed: int | np.random.Generator | None = 0,
) -> xr.DataArray:
    """Co-information I(R; F_a, F_b) − I(R; F_a) − I(R; F_b) of each unit, in bits.

    Negative values mean redundancy, positive synergy (a conjunctive size × position unit).
    Each of the three terms is bias-corrected with ``correction``.

    Parameters
    ----------
    acts : DataArray
        Responses with dims ``("stimulus", "unit")``; every combination of the two factors
        needs at least 2 stimuli.
    factors : pair of str, default=("size", "position")
        The two factors (groups allowed).
    n_bins, quantizer, threshold, estimator, correction, n_permutations, seed
        As in :func:`mutual_information`.

    Returns
    -------
    DataArray
        Dims ``("unit",)``, in bits, named ``co_information``.
    """
    where = "co_information"
    acts = check_responses(acts, where=where)
    names = list(factors)
    if len(names) != 2:
        raise ValueError(f"The 'factors' parameter of {where} must name 2 factors; got {names}.")
    options = _point_options(
        acts, where, estimator, correction, n_permutations, quantizer, n_bins, threshold, seed
    )
    a, b = (factor_codes(acts, f, where=where) for f in names)
    ab = joint_factor(a, b, where=where)

    def kernel(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
        prepared = prepare(values, options, keys)
        terms = [
            factor_statistics(prepared, f.codes, f.n_levels, options, f.name).mi for f in (ab, a, b)
        ]
        return terms[0] - terms[1] - terms[2]

    out = _apply(kernel, acts)
    out.name = "co_information"
    out.attrs = {**options.attrs(), "factors": ",".join(names)}
    return out


co_information.__doc__ = (co_information.__doc__ or "") + _REFERENCES


def _joint_mi(prepared, perms_a: np.ndarray, a: FactorCodes, b: FactorCodes, options) -> np.ndarray:
    """Raw I(R; A_perm, B) for a block of within-B shuffles of A: ``(U, p)``."""
    # joint code of (shuffled a, b) over the product space; empty combinations add nothing
    codes = perms_a * b.n_levels + b.codes[None, :]
    n_levels = a.n_levels * b.n_levels
    if options.estimator == "plugin":
        joint = _kernels.joint_counts(
            prepared.bins[:, None, :], prepared.n_bins, codes[None], n_levels
        )
        return _kernels.plugin_mi(joint)
    from factorprobe.analysis._kernels.copula import gaussian_discrete_mi

    return gaussian_discrete_mi(
        prepared.scores[:, None, :], codes[None], n_levels, bias_correct=False
    )


def _point_options(
    acts: xr.DataArray,
    where: str,
    estimator: str,
    correction: str,
    n_permutations: int,
    quantizer: str,
    n_bins: int,
    threshold: float,
    seed: int | np.random.Generator | None,
) -> Estimation:
    """Validated options for a point estimate (no significance test) of function ``where``."""
    quantizer, n_bins, threshold = check_quantizer(
        acts, n_bins=n_bins, quantizer=quantizer, threshold=threshold, where=where
    )
    return Estimation(
        estimator=estimator,
        correction=correction,
        significance="none",
        n_permutations=n_permutations,
        quantizer=quantizer,
        n_bins=n_bins,
        threshold=threshold,
        seed=seed_int(seed),
        where=where,
    )


def _apply(kernel, acts: xr.DataArray, keyed: bool = True) -> xr.DataArray:
    """Run ``kernel`` over ``stimulus`` (lazily for dask); keyed kernels also get each unit's
    tie-breaking key, from its layer and index, so results do not depend on the chunking."""
    labels = [
        np.asarray(acts[name].values)
        if name in acts.coords and acts[name].dims == (UNIT,)
        else None
        for name in (LAYER, INDEX)
    ]
    keys = xr.DataArray(unit_keys(labels[0], labels[1], acts.sizes[UNIT]), dims=UNIT)
    if acts.chunks is not None:
        keys = keys.chunk({UNIT: acts.chunksizes[UNIT]})

    def flat(values: np.ndarray, unit_key: np.ndarray) -> np.ndarray:
        lead = values.shape[:-1]
        rows = values.reshape(-1, values.shape[-1])
        out = kernel(rows, unit_key.reshape(-1)) if keyed else kernel(rows)
        return out.reshape(lead)

    return xr.apply_ufunc(
        flat,
        acts,
        keys,
        input_core_dims=[[STIMULUS], []],
        dask="parallelized",
        output_dtypes=[np.float64],
    )
