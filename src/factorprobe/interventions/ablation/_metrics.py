"""What each ablation step measures: task accuracy, agreement with the intact network, and the
cross-validated decodability of each factor from the read-out layer.

Every decoder uses one fold scheme (stratified k-fold cross-fitting on the factor's levels: every
stimulus is predicted by the decoder fitted on the folds without it). Levels are classified by

- ``"logistic"``: the kernel of :func:`factorprobe.analysis.decoding` itself (multinomial logistic
  regression, L2, standardised inputs), so its numbers equal ``decoding``'s on the same array;
- ``"lda"``: linear discriminant analysis with Ledoit–Wolf shrinkage on standardised inputs, in
  closed form (a generative linear decoder, for comparison);

and the values of an ordered factor (numeric coordinates; ``position`` jointly as (x, y)) are read
out by ``decoding``'s ridge regression on the same folds, so its R² equals ``decoding``'s ``r2``.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.dummy import DummyClassifier
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from factorprobe._options import ABLATION_DECODERS
from factorprobe.analysis.decoders import (
    PROBABILITY_FLOOR,
    classify,
    level_entropy,
    regress,
    stratified_folds,
)
from factorprobe.analysis.design import FactorCodes

if TYPE_CHECKING:
    from factorprobe.interventions.ablation._run import Outputs

__all__ = ["DECODERS", "decodability", "lda_decode", "score_steps", "top1"]

DECODERS: tuple[str, ...] = ABLATION_DECODERS


def top1(logits: np.ndarray) -> np.ndarray:
    """The index of the largest output of each stimulus (outputs flattened per stimulus)."""
    return logits.reshape(logits.shape[0], -1).argmax(axis=1)


def decodability(
    x: np.ndarray,
    codes: Sequence[FactorCodes],
    values: Sequence[np.ndarray | None],
    *,
    decoder: str,
    C: float,
    alphas: np.ndarray,
    n_splits: int,
    max_iter: int,
    random_state: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Held-out accuracy and V-information (bits) of each factor from responses ``(S, units)``,
    and the held-out ridge R² of each factor with ``values`` (``(S, members)``; None: skipped)."""
    x = np.asarray(x, dtype=np.float64)
    accuracy = np.empty(len(codes))
    v_information = np.empty(len(codes))
    r2: list[float] = []
    # The matrices are small (stimuli x units): a multi-threaded BLAS costs more than it gives,
    # 16x slower than one thread for 300 x 128 on two busy cores.
    with threadpool_limits(limits=1, user_api="blas"):
        for j, (fc, target) in enumerate(zip(codes, values, strict=True)):
            folds = stratified_folds(fc.codes, n_splits=n_splits, random_state=random_state)
            if decoder == "logistic":
                correct, log_p, _ = classify(
                    x, fc.codes, folds, Cs=np.array([C]), max_iter=max_iter,
                    random_state=random_state,
                )  # fmt: skip
                acc, ce = float(correct.mean()), float(-log_p.mean())
            else:
                acc, ce = lda_decode(x, fc.codes, n_splits=n_splits,
                                     random_state=random_state, folds=folds)  # fmt: skip
            accuracy[j] = acc
            v_information[j] = level_entropy(fc.counts) - ce
            if target is not None:
                r2.append(regress(x, target, folds, alphas=alphas)[0])
    return accuracy, v_information, np.array(r2)


def lda_decode(
    x: np.ndarray,
    y: np.ndarray,
    *,
    n_splits: int,
    random_state: int,
    folds: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> tuple[float, float]:
    """Held-out accuracy and cross-entropy (bits) of shrinkage LDA, cross-fitted.

    ``folds``, when the caller already has them, are ``stratified_folds(y, n_splits=n_splits,
    random_state=random_state)``.

    Units that are constant over all stimuli (every ablated unit, when ablation reaches the
    read-out) are dropped first; with none left each fold predicts the level frequencies of its
    training stimuli, which is what any decoder learns from an input without information.
    """
    x = x[:, np.ptp(x, axis=0) > 0]
    if x.shape[1]:
        model = make_pipeline(
            StandardScaler(), LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")
        )
    else:  # the training folds' level frequencies, whatever the input
        model, x = DummyClassifier(strategy="prior"), np.zeros((len(y), 1))
    if folds is None:
        folds = stratified_folds(y, n_splits=n_splits, random_state=random_state)
    # stratified folds hold every level in every training fold: columns are the sorted levels
    proba = cross_val_predict(model, x, y, cv=folds, method="predict_proba")
    levels = np.unique(y)
    p = proba[np.arange(len(y)), np.searchsorted(levels, y)]
    log_p = np.log2(np.maximum(p, PROBABILITY_FLOOR))
    correct = levels[proba.argmax(axis=1)] == y
    return float(correct.mean()), float(-log_p.mean())


def score_steps(
    outputs: Generator[Outputs, None, None],
    n_steps: int,
    labels: np.ndarray | None,
    codes: Sequence[FactorCodes],
    values: Sequence[np.ndarray | None],
    *,
    decoder: str,
    C: float,
    alphas: np.ndarray,
    n_splits: int,
    max_iter: int,
    random_state: int,
) -> np.ndarray:
    """Every metric of every step ``(steps, metrics)``, in the order of ``metric_names``.

    The first output is the intact network's (its top-1 outputs are what ``agreement`` compares
    with); the decoder options are :func:`decodability`'s. The generator is closed (its hooks
    removed) also on error.
    """
    rows = []
    intact_top1 = None
    try:
        for out in outputs:
            predicted = top1(out.logits)
            intact_top1 = predicted if intact_top1 is None else intact_top1
            row = [] if labels is None else [float(np.mean(predicted == labels))]
            row.append(float(np.mean(predicted == intact_top1)))
            acc, vinfo, r2 = decodability(out.readout, codes, values, decoder=decoder, C=C,
                                          alphas=alphas, n_splits=n_splits, max_iter=max_iter,
                                          random_state=random_state)  # fmt: skip
            rows.append([*row, *acc, *vinfo, *r2])
    finally:
        outputs.close()
    if len(rows) != n_steps:
        raise RuntimeError(f"cumulative_ablation ran {len(rows)} of {n_steps} steps.")
    return np.array(rows, dtype=np.float64)
