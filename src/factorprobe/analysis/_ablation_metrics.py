"""What each ablation step measures: task accuracy, agreement with the intact network, and the
cross-validated decodability of each factor from the read-out layer.

Two linear decoders share one fold scheme (stratified k-fold cross-fitting: every stimulus is
predicted by the decoder fitted on the folds without it):

- ``"logistic"``: the kernel of :func:`factorprobe.analysis.decoding` itself (multinomial logistic
  regression, L2, standardised inputs), so its numbers equal ``decoding``'s on the same array;
- ``"lda"``: linear discriminant analysis with Ledoit–Wolf shrinkage on standardised inputs, in
  closed form (a generative linear decoder, for comparison).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from factorprobe.analysis._kernels import plugin_entropy
from factorprobe.analysis.design import FactorCodes
from factorprobe.analysis.population import _PROBABILITY_FLOOR, _decode

__all__ = ["DECODERS", "decodability", "lda_decode", "top1"]

DECODERS: tuple[str, ...] = ("logistic", "lda")


def top1(logits: np.ndarray) -> np.ndarray:
    """The index of the largest output of each stimulus (outputs flattened per stimulus)."""
    return logits.reshape(logits.shape[0], -1).argmax(axis=1)


def decodability(
    x: np.ndarray,
    codes: Sequence[FactorCodes],
    *,
    decoder: str,
    C: float,
    n_splits: int,
    max_iter: int,
    random_state: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Held-out accuracy and V-information (bits) of each factor from responses ``(S, units)``."""
    x = np.asarray(x, dtype=np.float64)
    accuracy = np.empty(len(codes))
    v_information = np.empty(len(codes))
    # The matrices are small (stimuli x units): a multi-threaded BLAS costs more than it gives,
    # 16x slower than one thread for 300 x 128 on two busy cores.
    with threadpool_limits(limits=1, user_api="blas"):
        _decode_all(x, codes, accuracy, v_information, decoder, C, n_splits, max_iter,
                    random_state)  # fmt: skip
    return accuracy, v_information


def _decode_all(x, codes, accuracy, v_information, decoder, C, n_splits, max_iter, random_state):
    for j, fc in enumerate(codes):
        if decoder == "logistic":
            acc, ce = _decode(
                x, fc.codes, C=C, n_splits=n_splits, max_iter=max_iter, random_state=random_state
            )
        else:
            acc, ce = lda_decode(x, fc.codes, n_splits=n_splits, random_state=random_state)
        accuracy[j] = acc
        v_information[j] = float(plugin_entropy(fc.counts)) - ce


def lda_decode(
    x: np.ndarray, y: np.ndarray, *, n_splits: int, random_state: int
) -> tuple[float, float]:
    """Held-out accuracy and cross-entropy (bits) of shrinkage LDA, cross-fitted.

    Units that are constant over all stimuli (every ablated unit, when ablation reaches the
    read-out) are dropped first; with none left each fold predicts the level frequencies of its
    training stimuli, which is what any decoder learns from an input without information.
    """
    x = x[:, np.ptp(x, axis=0) > 0]
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    levels = np.unique(y)
    log_p = np.empty(len(y))
    correct = np.empty(len(y), dtype=bool)
    for train, test in folds.split(np.zeros(len(y)), y):
        if x.shape[1]:
            model = make_pipeline(
                StandardScaler(), LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")
            )
            model.fit(x[train], y[train])
            proba = model.predict_proba(x[test])
            classes = model.classes_
        else:
            counts = np.bincount(np.searchsorted(levels, y[train]), minlength=levels.size)
            proba = np.broadcast_to(counts / counts.sum(), (len(test), levels.size))
            classes = levels
        column = np.searchsorted(classes, y[test])
        p = proba[np.arange(len(test)), column]
        log_p[test] = np.log2(np.maximum(p, _PROBABILITY_FLOOR))
        correct[test] = classes[proba.argmax(axis=1)] == y[test]
    return float(correct.mean()), float(-log_p.mean())
