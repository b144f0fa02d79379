"""NumPy and scikit-learn kernels of the disentanglement scores, on one layer's plain arrays.

Units arrive as ``(U, S)`` arrays, factors as integer level codes ``(S,)``; nothing here sees
labels or validates (``factorprobe.analysis.disentanglement`` does). Constants record the
reference implementations' conventions (disentanglement_lib; the InfoMEC code of Hsu et al.).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.feature_selection import mutual_info_classif
from sklearn.svm import LinearSVC

from factorprobe.analysis._kernels.plugin import joint_counts, plugin_mi

TEST_FRACTION = 1 / 3  # disentanglement_lib: 10 000 training and 5 000 test points for SAP, DCI
SAP_C = 0.01  # disentanglement_lib: LinearSVC(C=0.01, class_weight="balanced") per unit
DCI_EPS = 1e-11  # disentanglement_lib adds this to the importances before the entropies
KSG_NEIGHBORS = 10  # InfoMEC: mutual_info_classif(..., n_neighbors=10) on standardised units
ACTIVE_FRACTION = 1 / 20  # InfoMEC: a unit is active if its range exceeds 1/20 of the largest


# --------------------------------------------------------------------------- kernels: MI based


def histogram_bins(z: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-width bins of each row, exactly as ``np.digitize(z, np.histogram(z, n_bins)[1][:-1])``.

    This is disentanglement_lib's ``_histogram_discretize`` (0-based here), vectorised over rows:
    the edges are ``np.linspace(min, max, n_bins + 1)`` as in ``np.histogram`` (a constant row
    gets the range ``value ± 0.5``), and a value belongs to the last edge not above it.
    """
    lo = z.min(axis=-1)
    hi = z.max(axis=-1)
    flat = lo == hi
    lo = np.where(flat, lo - 0.5, lo)
    hi = np.where(flat, hi + 0.5, hi)
    edges = np.linspace(lo, hi, n_bins + 1, axis=-1)
    guess = np.floor((z - lo[..., None]) / (hi - lo)[..., None] * n_bins).astype(np.int64)
    guess = np.clip(guess, 0, n_bins - 1)
    # the guess can be one bin off where floating point puts a value on an edge
    below = z < np.take_along_axis(edges, guess, axis=-1)
    guess -= below
    above = (guess < n_bins - 1) & (z >= np.take_along_axis(edges, guess + 1, axis=-1))
    return guess + above


def mutual_information_matrix(
    bins: np.ndarray, n_bins: int, codes: Sequence[np.ndarray], n_levels: Sequence[int]
) -> np.ndarray:
    """Plug-in MI in bits between binned units ``(U, S)`` and each factor: shape ``(U, K)``."""
    return np.stack(
        [plugin_mi(joint_counts(bins, n_bins, c, n)) for c, n in zip(codes, n_levels, strict=True)],
        axis=-1,
    )


def mig_score(mi: np.ndarray, entropy: np.ndarray) -> float:
    """Mutual information gap: mean over factors of (largest - second MI over units) / H(factor).

    ``mi`` has shape ``(U, K)`` with ``U >= 2``; ``entropy`` shape ``(K,)`` in the same units.
    Chen et al. (2018), eq. 6, with disentanglement_lib's plug-in MI on binned units.
    """
    top = -np.sort(-mi, axis=0)
    return float(np.mean((top[0] - top[1]) / entropy))


def modularity_score(mi: np.ndarray) -> float:
    """Ridgeway & Mozer's modularity, averaged over units as in disentanglement_lib.

    Per unit i with largest MI θ_i* (over K factors): 1 - Σ_{k≠k*} θ_ik² / (θ_i*² (K - 1)); a
    unit with no information about any factor scores 0 and still counts in the mean.
    """
    squared = np.square(mi)
    top = squared.max(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_unit = 1.0 - (squared.sum(axis=1) - top) / (top * (mi.shape[1] - 1))
    return float(np.mean(np.where(top == 0, 0.0, per_unit)))


def active_units(z: np.ndarray) -> np.ndarray:
    """InfoMEC's active units (``(U, S)`` rows): range above 1/20 of the layer's largest range."""
    ranges = z.max(axis=-1) - z.min(axis=-1)
    return ranges > ranges.max() * ACTIVE_FRACTION


def ksg_nmi_matrix(
    z: np.ndarray, codes: Sequence[np.ndarray], entropy: np.ndarray, random_state: int
) -> np.ndarray:
    """InfoMEC's NMI ``I(z_i; s_j) / H(s_j)`` with the KSG estimator (k = 10), shape ``(U, K)``.

    Units ``(U, S)`` are standardised first, as in the reference code; scikit-learn's estimator
    is in nats and ``entropy`` in bits, hence the conversion.
    """
    std = z.std(axis=-1, keepdims=True)
    scaled = ((z - z.mean(axis=-1, keepdims=True)) / np.where(std > 0, std, 1.0)).T
    mi = [
        mutual_info_classif(
            scaled,
            c,
            discrete_features=False,
            n_neighbors=KSG_NEIGHBORS,
            random_state=random_state,
        )
        / np.log(2.0)
        for c in codes
    ]
    return np.stack(mi, axis=-1) / entropy


def infom_score(nmi: np.ndarray, active: np.ndarray) -> float:
    """InfoM (Hsu et al. 2023): how much each active unit concentrates on one factor, in [0, 1].

    ``(mean_i max_j NMI_ij / Σ_j NMI_ij - 1/K) / (1 - 1/K)`` over active units i. Units with no
    information about any factor are left out of the mean (the ratio is 0/0), as in the reference
    code's ``compute_mutual_information_ratio``.
    """
    pruned = nmi[active]
    total = pruned.sum(axis=1)
    keep = total > 0
    if not keep.any():
        return float("nan")
    ratio = float(np.mean(pruned[keep].max(axis=1) / total[keep]))
    k = nmi.shape[1]
    return (ratio - 1 / k) / (1 - 1 / k)


def infoc_score(nmi: np.ndarray, active: np.ndarray) -> float:
    """InfoC (Hsu et al. 2023): how much each factor concentrates in one active unit, in [0, 1].

    ``(mean_j max_i NMI_ij / Σ_i NMI_ij - 1/U_a) / (1 - 1/U_a)`` over factors j, with ``U_a``
    the number of active units. NaN when fewer than 2 units are active or a factor has no
    information in any active unit (the reference code then divides by zero as well).
    """
    pruned = nmi[active]
    n_active = pruned.shape[0]
    total = pruned.sum(axis=0)
    if n_active < 2 or (total <= 0).any():
        return float("nan")
    ratio = float(np.mean(pruned.max(axis=0) / total))
    return (ratio - 1 / n_active) / (1 - 1 / n_active)


# ----------------------------------------------------------------- kernels: predictor based


def sap_gap(score: np.ndarray) -> float:
    """SAP: mean over factors of the gap between the two best units' scores (``(U, K)``)."""
    top = -np.sort(-score, axis=0)
    return float(np.mean(top[0] - top[1]))


def sap_matrix_continuous(z: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Kumar et al.'s continuous-factor SAP score: R² of a line fitted to one unit, ``(U, K)``.

    ``z`` is ``(U, S)``, ``values`` ``(K, S)``. R² = cov(z_i, y_j)² / (var z_i var y_j), 0 for a
    unit of variance <= 1e-12 (disentanglement_lib's threshold for an inactive unit).
    """
    zc = z - z.mean(axis=-1, keepdims=True)
    yc = values - values.mean(axis=-1, keepdims=True)
    n = z.shape[-1]
    cov = zc @ yc.T / (n - 1)
    var_z = np.square(zc).sum(axis=-1) / (n - 1)
    var_y = np.square(yc).sum(axis=-1) / (n - 1)
    live = var_z > 1e-12
    safe = np.where(live, var_z, 1.0)
    return np.where(live[:, None], np.square(cov) / (safe[:, None] * var_y[None, :]), 0.0)


def sap_matrix_discrete(
    z_train: np.ndarray,
    codes_train: Sequence[np.ndarray],
    z_test: np.ndarray,
    codes_test: Sequence[np.ndarray],
    random_state: int,
) -> np.ndarray:
    """disentanglement_lib's discrete-factor SAP score matrix ``(U, K)``.

    For each unit and factor a linear SVM (``C=0.01``, balanced class weights) is fitted to the
    unit alone on the training stimuli; the score is its accuracy on the test stimuli. There is
    no vectorised form of the fit, hence the loop over units.
    """
    n_units = z_train.shape[0]
    score = np.empty((n_units, len(codes_train)))
    for j, (y_train, y_test) in enumerate(zip(codes_train, codes_test, strict=True)):
        for i in range(n_units):
            svm = LinearSVC(C=SAP_C, class_weight="balanced", random_state=random_state)
            svm.fit(z_train[i][:, None], y_train)
            score[i, j] = np.mean(svm.predict(z_test[i][:, None]) == y_test)
    return score


def importance_matrix(
    z_train: np.ndarray,
    codes_train: Sequence[np.ndarray],
    z_test: np.ndarray,
    codes_test: Sequence[np.ndarray],
    *,
    n_estimators: int,
    random_state: int,
) -> tuple[np.ndarray, np.ndarray]:
    """DCI importances ``(U, K)`` from gradient-boosted trees, and each factor's test accuracy.

    One ``GradientBoostingClassifier`` per factor on all units (disentanglement_lib's
    ``compute_importance_gbt``; scikit-learn's defaults: depth 3, learning rate 0.1); the
    importances are its impurity-based ``feature_importances_`` (each column sums to 1).
    """
    n_units = z_train.shape[0]
    importance = np.empty((n_units, len(codes_train)))
    accuracy = np.empty(len(codes_train))
    for j, (y_train, y_test) in enumerate(zip(codes_train, codes_test, strict=True)):
        model = GradientBoostingClassifier(n_estimators=n_estimators, random_state=random_state)
        model.fit(z_train.T, y_train)
        importance[:, j] = np.abs(model.feature_importances_)
        accuracy[j] = np.mean(model.predict(z_test.T) == y_test)
    return importance, accuracy


def _normalised_entropy(p: np.ndarray, axis: int, base: int) -> np.ndarray:
    """Entropy (log base ``base``) of ``p`` normalised along ``axis``, as scipy.stats.entropy."""
    p = p / p.sum(axis=axis, keepdims=True)
    return -np.sum(p * np.log(p), axis=axis) / np.log(base)


def dci_disentanglement_score(importance: np.ndarray) -> float:
    """Eastwood & Williams' disentanglement D = Σ_i ρ_i (1 - H_K(P_i.)), importances ``(U, K)``.

    P_i. is unit i's importance over the K factors (normalised), ρ_i its share of the total
    importance; disentanglement_lib adds 1e-11 before normalising and weights uniformly when
    all importances are 0.
    """
    per_unit = 1.0 - _normalised_entropy(importance + DCI_EPS, axis=1, base=importance.shape[1])
    weights = importance if importance.sum() > 0 else np.ones_like(importance)
    weights = weights.sum(axis=1) / weights.sum()
    return float(np.sum(per_unit * weights))


def dci_completeness_score(importance: np.ndarray) -> float:
    """Eastwood & Williams' completeness: Σ_j ρ_j (1 - H_U(P_.j)), importances ``(U, K)``.

    P_.j is factor j's importance over the U units (normalised); the factors are weighted by
    their share ρ_j of the total importance, as in disentanglement_lib (where every column of a
    tree ensemble's importances sums to 1, so the weights are uniform).
    """
    per_factor = 1.0 - _normalised_entropy(importance + DCI_EPS, axis=0, base=importance.shape[0])
    weights = importance if importance.sum() > 0 else np.ones_like(importance)
    weights = weights.sum(axis=0) / weights.sum()
    return float(np.sum(per_factor * weights))
