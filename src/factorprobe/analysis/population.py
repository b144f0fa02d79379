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
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from factorprobe._validation import check_int, check_real
from factorprobe.analysis._kernels import plugin_entropy
from factorprobe.analysis._layerwise import (
    check_factor_list,
    layer_blocks,
    random_state,
    seed_attr,
)
from factorprobe.dims import FACTOR, LAYER

__all__ = ["cka", "decoding"]

OTHER_LAYER = "other_layer"
_PROBABILITY_FLOOR = 1e-15  # as sklearn.metrics.log_loss: a held-out p = 0 costs ~50 bits, not inf


def decoding(
    acts: xr.DataArray,
    factors: Sequence[str] = ("size", "position"),
    *,
    C: float = 1.0,
    n_splits: int = 5,
    max_iter: int = 1000,
    seed: int | np.random.Generator | None = 0,
) -> xr.Dataset:
    """Cross-validated linear decoding accuracy and V-information of each factor from each layer.

    For every layer and factor a multinomial logistic regression (L2 penalty, inputs standardised
    on the training folds) is fitted in stratified k-fold cross-fitting: each stimulus is
    predicted by the decoder trained on the folds that exclude it, so every number is held out.
    (For a factor with two levels scikit-learn fits the equivalent binomial model.)
    The V-information (Xu et al. 2020) of the factor F from the layer X, for the decoder family V,
    is ``I_V(X -> F) = H(F) - CE``, where ``CE = -mean log2 p(f_s | x_s)`` is the held-out
    cross-entropy and ``H(F)`` the plug-in entropy of the factor's levels over the stimuli (the
    predictive entropy of V without input, the marginal, for the stratified folds used here).

    Parameters
    ----------
    acts : DataArray
        Responses with dims ``("stimulus", "unit")``, a ``layer`` coordinate on ``unit`` and the
        factors as coordinates on ``stimulus``.
    factors : sequence of str, default=("size", "position")
        Factors (or groups such as ``"position"``, decoded as their joint label); their levels
        are the classes.
    C : float, default=1.0
        Inverse L2 regularisation strength of the logistic regression (> 0). Larger values bring
        the V-information of a separable factor closer to ``H(F)``.
    n_splits : int, default=5
        Folds of the stratified cross-fitting (>= 2); every level needs at least this many
        stimuli.
    max_iter : int, default=1000
        Iterations of the lbfgs solver.
    seed : int, Generator or None, default=0
        Seed of the fold assignment (an int ``random_state`` is derived from it).

    Returns
    -------
    Dataset
        Dims ``("layer", "factor")`` with ``accuracy`` (fraction of held-out stimuli decoded
        correctly), ``chance`` (accuracy of always guessing the most frequent level),
        ``cross_entropy`` (held-out, bits), ``entropy_factor`` (bits) and ``v_information``
        (bits; near 0 or slightly negative when the layer carries no linearly usable
        information, at most ``H(F)``). ``attrs`` record the decoder and its settings.

    Raises
    ------
    TypeError
        If ``acts`` is not a DataArray or an option has the wrong type.
    ValueError
        If ``acts`` lacks a ``layer`` coordinate, an option is out of range, or a level has fewer
        stimuli than ``n_splits``.
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

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> f = np.repeat([0, 1, 2], 10)
    >>> noise = 0.1 * np.random.default_rng(0).normal(size=(30, 3))
    >>> a = xr.DataArray(np.eye(3)[f] + noise, dims=("stimulus", "unit"),
    ...                  coords={"size": ("stimulus", f), "layer": ("unit", ["fc"] * 3)})
    >>> float(decoding(a, ["size"], C=100.0)["accuracy"].item())
    1.0
    """
    where = "decoding"
    _, blocks = layer_blocks(acts, where=where)
    codes = check_factor_list(acts, factors, where=where)
    C = check_real(C, name="C", where=where, minimum=0.0)
    if C <= 0:
        raise ValueError(f"The 'C' parameter of {where} must be a finite number > 0; got {C}.")
    n_splits = check_int(n_splits, name="n_splits", where=where, minimum=2)
    max_iter = check_int(max_iter, name="max_iter", where=where, minimum=1)
    for fc in codes:
        smallest = int(fc.counts.min())
        if smallest < n_splits:
            raise ValueError(
                f"Factor {fc.name!r} of {where} has a level with {smallest} stimuli; "
                f"n_splits={n_splits} needs at least {n_splits} per level (lower 'n_splits')."
            )
    state = random_state(seed)

    shape = (len(blocks), len(codes))
    accuracy, cross_entropy = np.empty(shape), np.empty(shape)
    for i, (_, x) in enumerate(blocks):
        for j, fc in enumerate(codes):
            accuracy[i, j], cross_entropy[i, j] = _decode(
                x, fc.codes, C=C, n_splits=n_splits, max_iter=max_iter, random_state=state
            )
    entropy = np.array([float(plugin_entropy(fc.counts)) for fc in codes])
    chance = np.array([fc.counts.max() / fc.counts.sum() for fc in codes])

    coords = {LAYER: [name for name, _ in blocks], FACTOR: [fc.name for fc in codes]}
    dims = (LAYER, FACTOR)
    bits = {"units": "bits"}
    out = xr.Dataset(
        {
            "accuracy": (dims, accuracy, {"long_name": "held-out decoding accuracy"}),
            "chance": (dims, np.broadcast_to(chance, shape).copy(), {"long_name": "chance"}),
            "cross_entropy": (dims, cross_entropy, {**bits, "long_name": "held-out CE"}),
            "entropy_factor": (dims, np.broadcast_to(entropy, shape).copy(), bits),
            "v_information": (dims, entropy[None, :] - cross_entropy, bits),
        },
        coords=coords,
    )
    out.attrs = {
        "units": "bits",
        "decoder": "multinomial logistic regression, L2 penalty, standardised inputs, lbfgs",
        "cross_validation": "stratified k-fold cross-fitting (every stimulus held out once)",
        "C": C,
        "n_splits": n_splits,
        "max_iter": max_iter,
        "seed": seed_attr(seed),
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
    x: np.ndarray, y: np.ndarray, *, C: float, n_splits: int, max_iter: int, random_state: int
) -> tuple[float, float]:
    """Held-out accuracy and cross-entropy (bits) of one factor from one layer, cross-fitted."""
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    log_p = np.empty(len(y))
    correct = np.empty(len(y), dtype=bool)
    # (stimuli x units) matrices are small: a multi-threaded BLAS costs more than it gives
    # (measured 9.0 s vs 0.94 s for 294 stimuli, two 128-unit layers, three factors, 2 cores).
    with threadpool_limits(limits=1, user_api="blas"):
        _fit_folds(x, y, folds, C, max_iter, log_p, correct)
    return float(correct.mean()), float(-log_p.mean())


def _fit_folds(x, y, folds, C, max_iter, log_p, correct) -> None:
    for train, test in folds.split(x, y):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
        model.fit(x[train], y[train])
        proba = model.predict_proba(x[test])
        # stratified folds hold every level in every training fold, so columns are the levels
        column = np.searchsorted(model.classes_, y[test])
        p = proba[np.arange(len(test)), column]
        log_p[test] = np.log2(np.maximum(p, _PROBABILITY_FLOOR))
        correct[test] = model.classes_[proba.argmax(axis=1)] == y[test]


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
