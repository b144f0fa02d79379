"""Layer-level codes of factors: cross-validated linear decoding, V-information and linear CKA.

Plug-in mutual information between two layers is deliberately not offered: a layer is a
deterministic function of the previous one, so for continuous inputs I(X; f(X)) is infinite and
any finite estimate is set by the binning (docs/population.md). V-information (Xu et al. 2020) and
decoding accuracy measure instead what a stated family of decoders can read out of a layer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr
from threadpoolctl import threadpool_limits

from factorprobe._validation import check_int
from factorprobe.analysis._kernels.plugin import plugin_entropy
from factorprobe.analysis.decoders import (
    ALPHA_GRID,
    C_GRID,
    INNER_SPLITS,
    PROBABILITY_FLOOR,
    check_grid,
    check_level_counts,
    classify,
    factor_values,
    marginal_cross_entropy,
    regress,
    shared_units,
    stratified_folds,
)
from factorprobe.analysis.layerwise import (
    check_factor_list,
    layer_blocks,
    random_state,
    seed_attr,
)
from factorprobe.dims import FACTOR, LAYER

__all__ = ["ALPHA_GRID", "C_GRID", "cka", "decoding"]

OTHER_LAYER = "other_layer"
_PROBABILITY_FLOOR = PROBABILITY_FLOOR  # the ablation's decoders share it

# units ("" = the factor's, filled in per call) and description of every variable of `decoding`
_VARIABLES: dict[str, tuple[str, str]] = {
    "accuracy": ("1", "held-out fraction of stimuli whose level the logistic decoder predicts"),
    "chance": ("1", "accuracy of always guessing the most frequent level"),
    "cross_entropy": ("bits", "held-out cross-entropy -mean log2 p(level | layer), logistic"),
    "entropy_factor": ("bits", "plug-in entropy H(F) of the factor's levels over the stimuli"),
    "v_information": ("bits", "H(F) - cross_entropy: V-information of the logistic decoder"),
    "v_information_chance": (
        "bits",
        "V-information of a decoder ignoring the layer (training folds' level frequencies), "
        "same folds: what nothing decodable scores",
    ),
    "decoder_c": ("1", "logistic decoder's inverse L2 penalty C (median over outer folds)"),
    "r2": ("1", "held-out R2 of the ridge read-out of the values (mean of x, y for position)"),
    "rmse": ("", "held-out root-mean-square error of the ridge read-out (Euclidean for groups)"),
    "mae": ("", "held-out mean absolute error of the ridge read-out (Euclidean for groups)"),
    "sd_factor": ("", "standard deviation of the values (RMSE of guessing their mean)"),
    "ridge_alpha": ("1", "ridge penalty on standardised units (median over outer folds)"),
}


def decoding(
    acts: xr.DataArray,
    factors: Sequence[str] = ("size", "position"),
    *,
    C: float | Sequence[float] = C_GRID,
    alpha: float | Sequence[float] = ALPHA_GRID,
    n_splits: int = 5,
    max_iter: int = 1000,
    seed: int | np.random.Generator | None = 0,
) -> xr.Dataset:
    """Cross-validated linear decoding of each factor from each layer: as labels and as values.

    Every number is held out: stratified k-fold cross-fitting (folds stratified on the factor's
    levels, the same folds for every layer) predicts each stimulus with decoders fitted on the
    folds that exclude it, and every choice a decoder makes (standardisation, penalty) is made on
    its training folds only.

    *Labels.* A multinomial logistic regression (L2 penalty, standardised inputs; binomial for
    two levels) predicts the factor's level. By default its inverse penalty ``C`` is chosen
    within each training fold by an inner stratified 3-fold cross-validation (fewer folds when a
    level has fewer training stimuli) that minimises the held-out log-loss over ``C_GRID``, so
    that a decoder that cannot generalise is shrunk towards the level frequencies instead of
    overfitting: the V-information then no longer comes out negative next to an above-chance
    accuracy (we chose this over reporting a fixed-C estimate with a bound). The V-information
    (Xu et al. 2020) of F from the layer X for this decoder family is
    ``I_V(X -> F) = H(F) - CE``, with ``CE = -mean log2 p(f_s | x_s)`` the held-out
    cross-entropy and ``H(F)`` the plug-in entropy of the factor's levels over the stimuli (the
    design's own distribution). ``v_information_chance`` is the same quantity for the member of
    the family that ignores the layer (each test fold predicted by its training folds' level
    frequencies): the floor that "nothing decodable" reaches under these folds.

    *Values.* A factor whose coordinate is numeric (size, x, y, rotation, contrast, ...) is also
    decoded as a value: a ridge regression on the standardised units, its penalty chosen within
    each training fold by efficient leave-one-out cross-validation (``RidgeCV``), gives the
    held-out R² and the errors in the factor's units. A group (``position`` = ``(x, y)``) is
    decoded jointly as its members' values (multi-output ridge, one penalty): its R² is the
    unweighted mean of the members' R², its errors are Euclidean distances (pixels for x, y).

    Parameters
    ----------
    acts : DataArray
        Responses with dims ``("stimulus", "unit")``, a ``layer`` coordinate on ``unit`` and the
        factors as coordinates on ``stimulus``.
    factors : sequence of str, default=("size", "position")
        Factors (or groups such as ``"position"``, classified by their joint label); their levels
        are the classes.
    C : float or sequence of float, default=C_GRID
        Inverse L2 penalty of the logistic regression: one value (> 0) used as is, or at least
        two candidates chosen among by the inner cross-validation (default: 1e-4, 1e-3, ..., 1e3).
    alpha : float or sequence of float, default=ALPHA_GRID
        Penalty of the ridge regression on standardised units: one value (>= 0) used as is, or
        at least two candidates chosen among by leave-one-out (default: 21 values log-spaced
        from 1e-4 to 1e6).
    n_splits : int, default=5
        Folds of the outer cross-fitting (>= 2); every level needs at least this many stimuli
        (and, when C is chosen by inner cross-validation, at least 2 in every training fold).
    max_iter : int, default=1000
        Iterations of the lbfgs solver.
    seed : int, Generator or None, default=0
        Seed of the fold assignments (an int ``random_state`` is derived from it).

    Returns
    -------
    Dataset
        Dims ``("layer", "factor")``. Labels: ``accuracy`` (fraction of held-out stimuli decoded
        correctly), ``chance`` (accuracy of always guessing the most frequent level),
        ``cross_entropy`` (held-out, bits), ``entropy_factor`` (bits), ``v_information``
        (bits, at most ``H(F)``), ``v_information_chance`` (bits: the V-information of a decoder
        that ignores the layer and predicts its training folds' level frequencies, on the same
        folds; <= 0, what "nothing decodable" looks like here) and ``decoder_c`` (median chosen
        C over the folds). Values (NaN for a factor that is not numeric): ``r2`` (held-out R²,
        dimensionless; about 0 or below for a layer without a linear code), ``rmse`` and
        ``mae`` (held-out root-mean-square and mean absolute error, Euclidean for a group, in the
        factor's units),
        ``sd_factor`` (the RMSE of always guessing the mean value: the factor's standard
        deviation, root of the summed variances for a group) and ``ridge_alpha`` (median chosen
        penalty). Every variable has ``description`` and ``units`` attrs; the Dataset's attrs
        record the decoders and their settings.

    Raises
    ------
    TypeError
        If ``acts`` is not a DataArray or an option has the wrong type.
    ValueError
        If ``acts`` lacks a ``layer`` coordinate, an option is out of range, or a level has too
        few stimuli for the folds.
    KeyError
        If a factor is not a coordinate on ``stimulus``.

    See Also
    --------
    cka : similarity of the layers' representational geometry.
    factorprobe.analysis.disentanglement : the literature's disentanglement scores per layer.

    References
    ----------
    Xu, Y., Zhao, S., Song, J., Stewart, R. & Ermon, S. (2020). A theory of usable information
    under computational constraints. ICLR 2020.
    Hastie, T., Tibshirani, R. & Friedman, J. (2009). The Elements of Statistical Learning,
    2nd ed., sections 3.4.1 (ridge regression) and 7.10 (cross-validation). Springer.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> f = np.repeat([0, 1, 2], 10)
    >>> noise = 0.1 * np.random.default_rng(0).normal(size=(30, 3))
    >>> a = xr.DataArray(np.eye(3)[f] + noise, dims=("stimulus", "unit"),
    ...                  coords={"size": ("stimulus", 16 + 8 * f), "layer": ("unit", ["fc"] * 3)})
    >>> out = decoding(a, ["size"])
    >>> float(out["accuracy"].item()), round(float(out["r2"].item()), 2)
    (1.0, 0.98)
    """
    where = "decoding"
    _, blocks = layer_blocks(acts, where=where)
    codes = check_factor_list(acts, factors, where=where)
    Cs = check_grid(C, name="C", where=where, positive=True)
    alphas = check_grid(alpha, name="alpha", where=where, positive=False)
    n_splits = check_int(n_splits, name="n_splits", where=where, minimum=2)
    max_iter = check_int(max_iter, name="max_iter", where=where, minimum=1)
    for fc in codes:
        check_level_counts(fc, n_splits=n_splits, inner=len(Cs) > 1, where=where)
    seed = seed_attr(seed)
    state = random_state(seed)
    targets = {fc.name: factor_values(acts, fc) for fc in codes}

    shape = (len(blocks), len(codes))
    accuracy, cross_entropy, chosen_c = np.empty(shape), np.empty(shape), np.empty(shape)
    regression = np.full((4, *shape), np.nan)  # r2, rmse, mae, alpha
    marginal = np.empty(len(codes))
    # (stimuli x units) matrices are small: a multi-threaded BLAS costs more than it gives
    # (measured 9.0 s vs 0.94 s for 294 stimuli, two 128-unit layers, three factors, 2 cores).
    with threadpool_limits(limits=1, user_api="blas"):
        for j, fc in enumerate(codes):
            folds = stratified_folds(fc.codes, n_splits=n_splits, random_state=state)
            marginal[j] = marginal_cross_entropy(fc.codes, folds)
            target = targets[fc.name][0]
            for i, (_, x) in enumerate(blocks):
                correct, log_p, c = classify(
                    x, fc.codes, folds, Cs=Cs, max_iter=max_iter, random_state=state
                )
                accuracy[i, j], cross_entropy[i, j] = correct.mean(), -log_p.mean()
                chosen_c[i, j] = np.median(c)
                if target is not None:
                    regression[:, i, j] = regress(x, target, folds, alphas=alphas)
    entropy = np.array([float(plugin_entropy(fc.counts)) for fc in codes])
    chance = np.array([fc.counts.max() / fc.counts.sum() for fc in codes])
    spread = np.array(
        [np.nan if v is None else np.sqrt(v.var(axis=0).sum()) for v, _ in targets.values()]
    )
    error_units = shared_units({f: u for f, (v, u) in targets.items() if v is not None})

    def each_layer(row: np.ndarray) -> np.ndarray:
        return np.broadcast_to(row, shape).copy()

    data = {
        "accuracy": accuracy,
        "chance": each_layer(chance),
        "cross_entropy": cross_entropy,
        "entropy_factor": each_layer(entropy),
        "v_information": entropy[None, :] - cross_entropy,
        "v_information_chance": each_layer(entropy - marginal),
        "decoder_c": chosen_c,
        "r2": regression[0],
        "rmse": regression[1],
        "mae": regression[2],
        "sd_factor": each_layer(spread),
        "ridge_alpha": regression[3],
    }
    out = xr.Dataset(
        {
            name: (
                (LAYER, FACTOR),
                values,
                {"units": _VARIABLES[name][0] or error_units, "description": _VARIABLES[name][1]},
            )
            for name, values in data.items()
        },
        coords={LAYER: [name for name, _ in blocks], FACTOR: [fc.name for fc in codes]},
    )
    out.attrs = {
        "units": "bits",
        "decoder": "multinomial logistic regression, L2 penalty, standardised inputs, lbfgs",
        "value_decoder": "ridge regression on standardised inputs (multi-output for a group)",
        "cross_validation": "stratified k-fold cross-fitting (every stimulus held out once); "
        "standardisation and penalties fitted on the training folds only",
        "C": float(Cs[0]) if len(Cs) == 1 else "inner-cv",
        "C_selection": "given"
        if len(Cs) == 1
        else f"inner stratified {INNER_SPLITS}-fold "
        "cross-validation on each training fold, minimising log-loss",
        "C_grid": _grid_attr(Cs),
        "alpha": float(alphas[0]) if len(alphas) == 1 else "leave-one-out",
        "alpha_selection": "given"
        if len(alphas) == 1
        else "efficient leave-one-out "
        "cross-validation (RidgeCV) on each training fold, minimising squared error",
        "alpha_grid": _grid_attr(alphas),
        "r2_of_groups": "unweighted mean of the members' R2",
        "n_splits": n_splits,
        "max_iter": max_iter,
        "seed": seed,
        "random_state": state,
        "probability_floor": _PROBABILITY_FLOOR,
        "reference": "Xu et al. (2020), ICLR: V-information = H(F) - held-out cross-entropy",
    }
    return out


def cka(acts: xr.DataArray, *, debiased: bool = False) -> xr.DataArray:
    """Linear centred kernel alignment between every pair of layers over the same stimuli.

    ``CKA(X, Y) = ||Yc' Xc||_F^2 / (||Xc' Xc||_F ||Yc' Yc||_F)`` with ``Xc``, ``Yc`` the
    column-centred responses (stimuli × units) of two layers (Kornblith et al. 2019): 1 for a layer
    with itself, invariant to orthogonal transforms and isotropic scaling of either layer, not to
    arbitrary invertible linear maps. ``debiased=True`` replaces each HSIC by its unbiased
    estimator (Song et al. 2012), as proposed for CKA by Nguyen, Raghu & Kornblith (2021); it
    removes the upward bias of the plain estimator when units outnumber stimuli.

    Parameters
    ----------
    acts : DataArray
        Responses with dims ``("stimulus", "unit")`` and a ``layer`` coordinate on ``unit``.
    debiased : bool, default=False
        Use the unbiased HSIC estimator (needs at least 4 stimuli).

    Returns
    -------
    DataArray
        Dims ``("layer", "other_layer")``, symmetric, dimensionless, 1 on the diagonal; NaN for
        a layer whose responses are constant over the stimuli.

    Raises
    ------
    TypeError
        If ``acts`` is not a DataArray or ``debiased`` is not a bool.
    ValueError
        If ``acts`` lacks a ``layer`` coordinate or has too few stimuli.

    References
    ----------
    Kornblith, S., Norouzi, M., Lee, H. & Hinton, G. (2019). Similarity of neural network
    representations revisited. ICML 2019.
    Song, L., Smola, A., Gretton, A., Bedo, J. & Borgwardt, K. (2012). Feature selection via
    dependence maximization. JMLR 13.
    Nguyen, T., Raghu, M. & Kornblith, S. (2021). Do wide and deep networks learn the same
    things? ICLR 2021.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> x = np.random.default_rng(0).normal(size=(50, 4))
    >>> a = xr.DataArray(np.hstack([x, 3 * x[:, ::-1]]), dims=("stimulus", "unit"),
    ...                  coords={"layer": ("unit", ["a"] * 4 + ["b"] * 4)})
    >>> round(float(cka(a).sel(layer="a", other_layer="b")), 6)
    1.0
    """
    where = "cka"
    if not isinstance(debiased, bool):
        raise TypeError(
            f"The 'debiased' parameter of {where} must be a bool; got {debiased!r} "
            f"of type {type(debiased).__name__}."
        )
    _, blocks = layer_blocks(acts, where=where)
    n = blocks[0][1].shape[0]
    minimum = 4 if debiased else 2
    if n < minimum:
        raise ValueError(
            f"{where} needs at least {minimum} stimuli{' when debiased' if debiased else ''}; "
            f"got {n}."
        )
    matrix = linear_cka_matrix([x for _, x in blocks], debiased=debiased)
    names = [name for name, _ in blocks]
    out = xr.DataArray(
        matrix,
        dims=(LAYER, OTHER_LAYER),
        coords={LAYER: names, OTHER_LAYER: names},
        name="cka",
    )
    out.attrs = {
        "units": "dimensionless",
        "estimator": "linear CKA, debiased HSIC" if debiased else "linear CKA",
        "debiased": int(debiased),
        "reference": "Kornblith et al. (2019), ICML",
    }
    return out


def _decode(
    x: np.ndarray,
    y: np.ndarray,
    *,
    C: float | Sequence[float],
    n_splits: int,
    max_iter: int,
    random_state: int,
) -> tuple[float, float]:
    """Held-out accuracy and cross-entropy (bits) of one factor from one layer, cross-fitted."""
    folds = stratified_folds(y, n_splits=n_splits, random_state=random_state)
    Cs = np.atleast_1d(np.asarray(C, dtype=np.float64))
    with threadpool_limits(limits=1, user_api="blas"):
        correct, log_p, _ = classify(
            x, y, folds, Cs=Cs, max_iter=max_iter, random_state=random_state
        )
    return float(correct.mean()), float(-log_p.mean())


def _grid_attr(grid: np.ndarray) -> str:
    return " ".join(f"{v:g}" for v in grid)


def linear_cka_matrix(layers: Sequence[np.ndarray], *, debiased: bool = False) -> np.ndarray:
    """Linear CKA between every pair of ``(S, U_i)`` response matrices; NaN for constant ones."""
    centred = [x - x.mean(axis=0, keepdims=True) for x in layers]
    k = len(centred)
    hsic = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            hsic[i, j] = hsic[j, i] = _hsic(centred[i], centred[j], debiased=debiased)
    norm = np.sqrt(np.clip(np.diag(hsic), 0.0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = hsic / np.outer(norm, norm)
    out[np.outer(norm, norm) == 0] = np.nan
    return out


def _hsic(x: np.ndarray, y: np.ndarray, *, debiased: bool) -> float:
    """<K, L>_F for the linear Grams K = x x', L = y y' of centred x, y (up to a constant).

    The cross term is computed in whichever space is cheaper: features (``||y' x||_F^2``) or
    stimuli (the Grams). The debiased form is Song et al.'s (2012) unbiased HSIC written for
    centred features, where 1'K = 0: <K~, L~> - 2/(n-2) d_x.d_y + ||x||^2 ||y||^2 / ((n-1)(n-2))
    with d the squared row norms and K~ the Gram with its diagonal zeroed, times n(n-3) (which
    cancels in CKA).
    """
    n, p = x.shape
    q = y.shape[1]
    if p * q <= n * (p + q):
        dot = float(np.square(y.T @ x).sum())
    else:
        dot = float(np.sum((x @ x.T) * (y @ y.T)))
    if not debiased:
        return dot
    dx = np.einsum("ij,ij->i", x, x)
    dy = np.einsum("ij,ij->i", y, y)
    return dot - n / (n - 2) * float(dx @ dy) + float(dx.sum() * dy.sum()) / ((n - 1) * (n - 2))
