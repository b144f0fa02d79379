"""Usable information between layers: how well one layer's responses predict another's.

Plug-in MI between two layers of a deterministic network is not offered (DESIGN §5.13): each
stimulus gives one point, every layer is a function of the stimulus, so I(A; B) is infinite for
continuous responses (or log2 of the number of stimuli whenever the binned responses tell the
stimuli apart, an artefact of the bins). What is finite and means something is *usable*
information (Xu et al. 2020): how much of layer B a given family of decoders, trained on held-out
folds, can recover from layer A. Here the family is ridge regression, and the answer is given
as cross-validated R² and, under a Gaussian reading of the residuals, in bits.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from factorprobe._validation import check_int
from factorprobe.analysis._estimate import seed_int
from factorprobe.analysis.quantize import check_responses
from factorprobe.dims import LAYER, STIMULUS, UNIT

__all__ = ["ALPHAS", "layer_predictivity"]

#: ridge penalties the inner leave-one-out search chooses from (standardised inputs)
ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-3, 4, 8))
OTHER_LAYER = "other_layer"
#: R² closer to 1 than this is clipped before the Gaussian bits (a perfect fit has no finite bits)
_R2_CEILING = 1.0 - 1e-6


def layer_predictivity(
    acts: xr.DataArray, *, n_splits: int = 5, seed: int | np.random.Generator | None = 0
) -> xr.Dataset:
    """Cross-validated ridge predictivity of every layer from every other, in R² and bits.

    For source layer A and target layer B (rows ``layer``, columns ``other_layer``), B's
    units are predicted from A's standardised units by ridge regression (penalty chosen by
    leave-one-out within each training fold, from :data:`ALPHAS`), on ``n_splits`` shuffled
    folds over stimuli. With ŷ_j the held-out prediction of target unit j:

    - ``r2`` = 1 − Σ_j Σ_s (y_sj − ŷ_sj)² / Σ_j Σ_s (y_sj − ȳ_j)²: the share of B's variance
      that A linearly predicts on new stimuli (can be negative for a useless predictor);
    - ``gaussian_bits`` = Σ_j −½ log2(1 − R²_j) over target units with R²_j > 0 (R²_j each
      unit's own held-out R², capped at 1 − 1e-6): the information a Gaussian channel with
      that signal-to-noise ratio carries, summed over B's units as if their residuals were
      independent. An upper-bound style summary for comparing pairs, not a mutual information.

    The diagonal is NaN (a layer predicts itself perfectly). Directions differ: fc1 → fc2 asks
    how much of fc2 is a (linear readout of) fc1; fc2 → fc1 what fc2 kept of fc1.

    Parameters
    ----------
    acts : DataArray
        Responses with dims ``("stimulus", "unit")`` and a ``layer`` coordinate on ``unit``.
    n_splits : int, default=5
        Cross-validation folds over stimuli (at least 2).
    seed : int, Generator or None, default=0
        Seed of the folds.

    Returns
    -------
    Dataset
        ``r2`` (dimensionless) and ``gaussian_bits`` (bits) over ``("layer", "other_layer")``:
        predicting ``other_layer`` from ``layer``.

    Raises
    ------
    ValueError
        Without a ``layer`` coordinate, with fewer than 2 layers, or fewer stimuli than folds.

    References
    ----------
    Xu, Y. et al. (2020). A theory of usable information under computational constraints.
    ICLR.
    Kornblith, S. et al. (2019). Similarity of neural network representations revisited. ICML
    (:func:`~factorprobe.analysis.cka` is the symmetric companion).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> x = np.random.default_rng(0).standard_normal((60, 3))
    >>> a = xr.DataArray(np.hstack([x, x @ np.ones((3, 2))]), dims=("stimulus", "unit"),
    ...                  coords={"layer": ("unit", ["a"] * 3 + ["b"] * 2)})
    >>> round(float(layer_predictivity(a)["r2"].sel(layer="a", other_layer="b")), 3)
    1.0
    """
    where = "layer_predictivity"
    acts = check_responses(acts, where=where)
    if LAYER not in acts.coords or acts[LAYER].dims != (UNIT,):
        raise ValueError(f"{where} needs a 'layer' coordinate on 'unit'; got none.")
    names = list(dict.fromkeys(str(v) for v in acts[LAYER].values))
    if len(names) < 2:
        raise ValueError(f"{where} needs at least 2 layers; got {names}.")
    n_stimuli = acts.sizes[STIMULUS]
    n_splits = check_int(n_splits, name="n_splits", where=where, minimum=2, maximum=n_stimuli)
    folds = KFold(n_splits, shuffle=True, random_state=seed_int(seed) % (2**32))
    layers = [
        np.asarray(acts.isel({UNIT: acts[LAYER].values == n}).values.T, dtype=np.float64)
        for n in names
    ]
    r2 = np.full((len(names), len(names)), np.nan)
    bits = np.full_like(r2, np.nan)
    for i, source in enumerate(layers):
        model = make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHAS))
        for j, target in enumerate(layers):
            if i == j:
                continue
            predicted = cross_val_predict(model, source, target, cv=folds).reshape(target.shape)
            r2[i, j], bits[i, j] = _scores(target, predicted)
    dims = (LAYER, OTHER_LAYER)
    ds = xr.Dataset(
        {
            "r2": (dims, r2, {"description": "held-out R2 of other_layer from layer (ridge)",
                              "units": "1"}),
            "gaussian_bits": (dims, bits, {
                "description": "sum over other_layer's units of -1/2 log2(1 - R2_j), R2_j > 0",
                "units": "bits"}),
        },
        coords={LAYER: names, OTHER_LAYER: names},
    )  # fmt: skip
    ds.attrs = {
        "estimator": "ridge (RidgeCV, leave-one-out penalty) on standardised sources",
        "alphas": ",".join(f"{a:g}" for a in ALPHAS),
        "n_splits": n_splits,
        "n_stimuli": int(n_stimuli),
    }
    return ds


def _scores(target: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
    """Pooled held-out R² and the Gaussian bits of the per-unit R²."""
    residual = np.square(target - predicted).sum(axis=0)
    total = np.square(target - target.mean(axis=0)).sum(axis=0)
    varying = total > 0
    if not varying.any():
        return float("nan"), float("nan")
    pooled = 1.0 - residual[varying].sum() / total[varying].sum()
    per_unit = 1.0 - residual[varying] / total[varying]
    per_unit = np.clip(per_unit[per_unit > 0], 0.0, _R2_CEILING)
    return float(pooled), float(np.sum(-0.5 * np.log2(1.0 - per_unit)))
