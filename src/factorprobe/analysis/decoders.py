"""The cross-fitted linear decoders of :func:`factorprobe.analysis.decoding`, fold by fold.

Levels are read out by a logistic regression whose penalty is chosen by inner cross-validation
on each training fold. Where a factor's coordinate is numeric, its values are also read out, by a
ridge regression, so a layer that codes position smoothly is credited with it even when a grid
has too few stimuli per level to train a many-class classifier. A factor group (``position`` =
``(x, y)``) is decoded as its members' values jointly (multi-output ridge), and its errors are
Euclidean distances.

A building block, public so that the interventions can decode with the same folds and
conventions (:mod:`factorprobe.interventions.ablation`); it is not exported from
:mod:`factorprobe.analysis`, which holds the measures.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from numbers import Real

import numpy as np
import xarray as xr
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge, RidgeCV
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from factorprobe._validation import check_real
from factorprobe.analysis._kernels.plugin import plugin_entropy
from factorprobe.analysis.design import FactorCodes

__all__ = [
    "ALPHA_GRID",
    "C_GRID",
    "INNER_SPLITS",
    "PROBABILITY_FLOOR",
    "check_grid",
    "check_level_counts",
    "classify",
    "factor_values",
    "level_entropy",
    "marginal_cross_entropy",
    "regress",
    "select_c",
    "shared_units",
    "stratified_folds",
]

PROBABILITY_FLOOR = 1e-15  # as sklearn.metrics.log_loss: a held-out p = 0 costs ~50 bits, not inf
#: Candidate inverse penalties of the logistic decoder, chosen per training fold by inner CV.
C_GRID: tuple[float, ...] = tuple(float(c) for c in np.logspace(-4, 3, 8))
#: Inner folds for choosing C (fewer when a level has fewer stimuli in a training fold).
INNER_SPLITS = 3
# Candidates are compared at a looser tolerance than sklearn's 1e-4 (the chosen C is refit at
# 1e-4): it halves the search on 49 levels and moved no choice on the default grid.
_INNER_TOL = 1e-3

#: Candidate ridge penalties (on standardised units), chosen per training fold by leave-one-out.
ALPHA_GRID: tuple[float, ...] = tuple(float(a) for a in np.logspace(-4, 6, 21))

# Where a coordinate carries no `units` attr, the stimulus attributes copied by capture say it.
_STIMULUS_UNITS = {
    "size": "stimuli_units",
    "x": "stimuli_units",
    "y": "stimuli_units",
    "rotation": "stimuli_rotation_units",
}


def factor_values(acts: xr.DataArray, fc: FactorCodes) -> tuple[np.ndarray | None, str]:
    """The values of an ordered factor as a ``(S, members)`` float array, and their units.

    A factor is ordered when every member coordinate is numeric (int, unsigned or float, not
    bool); otherwise the values are ``None``. The units are the coordinate's ``units`` attr, else
    the stimuli's (``stimuli_units``, ``stimuli_rotation_units`` on activations from
    :func:`factorprobe.probing.capture`), else ``""`` (unknown: the coordinate's own units).
    """
    columns = [np.asarray(acts[m].values) for m in fc.members]
    if not all(c.dtype.kind in "iuf" for c in columns):
        return None, ""
    units = {_member_units(acts, m) for m in fc.members}
    return np.column_stack(columns).astype(np.float64), units.pop() if len(units) == 1 else ""


def shared_units(units: dict[str, str]) -> str:
    """One ``units`` attr for errors of several factors: their common units, else a key."""
    known = set(units.values())
    if len(known) == 1:
        return known.pop() or "units of the factor's coordinate"
    return "; ".join(f"{f}: {u or 'units of its coordinate'}" for f, u in units.items())


def regress(
    x: np.ndarray,
    values: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    *,
    alphas: np.ndarray,
) -> tuple[float, float, float, float]:
    """Held-out R², RMSE, mean absolute error and median chosen alpha of a ridge read-out.

    Cross-fitting over ``folds``: on each training fold the units are standardised and a ridge
    regression of ``values`` (S, k) is fitted, its penalty chosen among ``alphas`` by efficient
    leave-one-out cross-validation within that fold (``RidgeCV``, one penalty for all k
    outputs); the held-out fold is predicted. Over the pooled held-out predictions:
    R² = 1 − SS_res / SS_tot per output (SS_tot about the mean over all stimuli), averaged with
    equal weight over the k outputs; RMSE = sqrt(mean ||e||²) and MAE = mean ||e||, with ||e||
    the Euclidean norm of a stimulus's error over the outputs (|e| for k = 1), in the values'
    units. A single alpha is used as given.
    """
    predicted = np.empty_like(values)
    chosen = np.empty(len(folds))
    for k, (train, test) in enumerate(folds):
        ridge = RidgeCV(alphas=alphas) if len(alphas) > 1 else Ridge(alpha=float(alphas[0]))
        model = make_pipeline(StandardScaler(), ridge).fit(x[train], values[train])
        predicted[test] = model.predict(x[test]).reshape(len(test), -1)
        chosen[k] = ridge.alpha_ if len(alphas) > 1 else alphas[0]
    error = predicted - values
    total = np.square(values - values.mean(axis=0)).sum(axis=0)
    r2 = float(np.mean(1.0 - np.square(error).sum(axis=0) / total))
    squared = np.square(error).sum(axis=1)
    rmse, mae = float(np.sqrt(squared.mean())), float(np.sqrt(squared).mean())
    return r2, rmse, mae, float(np.median(chosen))


def stratified_folds(
    y: np.ndarray, *, n_splits: int, random_state: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (train, test) indices of shuffled stratified k-fold on the level codes ``y``."""
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    return list(folds.split(np.zeros((len(y), 1)), y))


def classify(
    x: np.ndarray,
    y: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    *,
    Cs: np.ndarray,
    max_iter: int,
    random_state: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per stimulus: held-out correctness and log2 p(true level); per fold: the C used."""
    log_p = np.empty(len(y))
    correct = np.empty(len(y), dtype=bool)
    chosen = np.empty(len(folds))
    unconverged = 0
    for k, (train, test) in enumerate(folds):
        if len(Cs) == 1:
            chosen[k] = Cs[0]
        else:
            chosen[k] = select_c(
                x[train], y[train], Cs, max_iter=max_iter, random_state=random_state
            )
        decoder = LogisticRegression(C=float(chosen[k]), max_iter=max_iter)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model = make_pipeline(StandardScaler(), decoder).fit(x[train], y[train])
        unconverged += any(issubclass(w.category, ConvergenceWarning) for w in caught)
        proba = model.predict_proba(x[test])
        # stratified folds hold every level in every training fold, so columns are the levels
        column = np.searchsorted(model.classes_, y[test])
        p = proba[np.arange(len(test)), column]
        log_p[test] = np.log2(np.maximum(p, PROBABILITY_FLOOR))
        correct[test] = model.classes_[proba.argmax(axis=1)] == y[test]
    if unconverged:
        # one warning per decoder, not one per fold: a fit stopped at max_iter is an
        # approximate optimum (typically a large C on separable data)
        warnings.warn(
            f"The logistic decoder stopped at max_iter={max_iter} before converging in "
            f"{unconverged} of {len(folds)} folds (C = {', '.join(f'{c:g}' for c in chosen)}); "
            "raise max_iter for a tighter fit.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return correct, log_p, chosen


def select_c(
    x: np.ndarray, y: np.ndarray, Cs: np.ndarray, *, max_iter: int, random_state: int
) -> float:
    """The C of ascending ``Cs`` with the least inner cross-validated log-loss on ``(x, y)``.

    Inner stratified ``INNER_SPLITS``-fold cross-validation (fewer folds when a level has fewer
    stimuli), each inner fold standardised on its own training part. The whole path is fitted,
    from the most regularised C upwards, each fit warm-started from the previous one (the loss
    is not unimodal in C: a layer can lose to the level frequencies at moderate C and beat them
    at large C, so the path is not stopped early). Ties keep the smaller C.
    """
    smallest = int(np.unique(y, return_counts=True)[1].min())
    inner = StratifiedKFold(
        n_splits=min(INNER_SPLITS, smallest), shuffle=True, random_state=random_state
    )
    splits = list(inner.split(x, y))
    models = [
        make_pipeline(
            StandardScaler(),
            LogisticRegression(max_iter=max_iter, tol=_INNER_TOL, warm_start=True),
        )
        for _ in splits
    ]
    best, best_loss = float(Cs[0]), np.inf
    for c in Cs:
        loss = 0.0
        for model, (train, test) in zip(models, splits, strict=True):
            with warnings.catch_warnings():
                # a candidate that stops at max_iter only competes worse; the chosen C is refit
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.set_params(logisticregression__C=float(c)).fit(x[train], y[train])
            proba = model.predict_proba(x[test])
            p = proba[np.arange(len(test)), np.searchsorted(model.classes_, y[test])]
            loss -= float(np.log(np.maximum(p, PROBABILITY_FLOOR)).sum())
        if loss < best_loss:
            best, best_loss = float(c), loss
    return best


def marginal_cross_entropy(y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Held-out cross-entropy (bits) of predicting each test fold by its training frequencies.

    Not H(F): a level under-represented in a training fold is over-represented in its test
    fold, so with few stimuli per level this exceeds H(F) (by 0.07 bits for 49 levels of 6).
    """
    n_levels = int(y.max()) + 1
    log_p = np.empty(len(y))
    for train, test in folds:
        frequency = np.bincount(y[train], minlength=n_levels) / len(train)
        log_p[test] = np.log2(np.maximum(frequency[y[test]], PROBABILITY_FLOOR))
    return float(-log_p.mean())


def check_grid(value: object, *, name: str, where: str, positive: bool) -> np.ndarray:
    """One penalty (a 1-element array) or a grid of >= 2 candidates, each finite and > 0 (>= 0)."""
    bound = "> 0" if positive else ">= 0"
    if isinstance(value, Sequence | np.ndarray) and not isinstance(value, str):
        grid = list(value)
        if (
            len(grid) < 2
            or not all(
                # numpy's stubs do not accept numbers.Real, which np.isfinite takes
                isinstance(v, Real) and not isinstance(v, bool) and np.isfinite(v)  # type: ignore[call-overload]
                for v in grid
            )
            or min(grid) < 0
            or (positive and min(grid) == 0)
        ):
            raise ValueError(
                f"The {name!r} parameter of {where} must be one number {bound} or a sequence "
                f"of at least 2 finite numbers {bound} to choose from by cross-validation; "
                f"got {grid!r}."
            )
        return np.unique(np.asarray(grid, dtype=np.float64))
    single = check_real(value, name=name, where=where, minimum=0.0)
    if positive and single <= 0:
        raise ValueError(
            f"The {name!r} parameter of {where} must be a finite number > 0; got {single}."
        )
    return np.array([single])


def check_level_counts(fc: FactorCodes, *, n_splits: int, inner: bool, where: str) -> None:
    """Every level must reach every test fold (and, with ``inner``, keep 2 in each training one)."""
    smallest = int(fc.counts.min())
    if smallest < n_splits:
        raise ValueError(
            f"Factor {fc.name!r} of {where} has a level with {smallest} stimuli; "
            f"n_splits={n_splits} needs at least {n_splits} per level (lower 'n_splits')."
        )
    # a test fold holds at most ceil(count / n_splits) of a level's stimuli
    if inner and smallest - -(-smallest // n_splits) < 2:
        needed = next(c for c in range(n_splits, 4 * n_splits) if c - -(-c // n_splits) >= 2)
        raise ValueError(
            f"Factor {fc.name!r} of {where} has a level with {smallest} stimuli; choosing 'C' "
            f"by inner cross-validation with n_splits={n_splits} needs at least {needed} per "
            "level (pass a single C, raise 'n_splits' or add stimuli)."
        )


def _member_units(acts: xr.DataArray, member: str) -> str:
    own = acts[member].attrs.get("units")
    if own is not None:
        return str(own)
    return str(acts.attrs.get(_STIMULUS_UNITS.get(member, ""), ""))


def level_entropy(counts: np.ndarray) -> float:
    """Entropy (bits) of a factor's level frequencies: what a perfect decoder could reach.

    Parameters
    ----------
    counts : ndarray of int, shape (levels,)
        Stimuli per level.
    """
    return float(plugin_entropy(counts))
