"""The disentanglement scores of the literature (MIG, modularity, SAP, DCI, InfoM/InfoC) per layer.

Each score follows its published definition and, by default, the conventions of its reference
implementation, so values can be compared with that literature: disentanglement_lib (Locatello
et al. 2019) for MIG, modularity, SAP and DCI, and the InfoMEC code of Hsu et al. (2023) for
InfoM and InfoC. The kernels (``_disentanglement_kernels``) work on one layer's plain arrays;
:func:`disentanglement` validates, splits the activations by layer and labels the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np
import xarray as xr

from factorprobe._validation import as_rng, check_choice, check_int
from factorprobe.analysis._kernels.disentanglement import (
    ACTIVE_FRACTION,
    TEST_FRACTION,
    active_units,
    dci_completeness_score,
    dci_disentanglement_score,
    histogram_bins,
    importance_matrix,
    infoc_score,
    infom_score,
    ksg_nmi_matrix,
    mig_score,
    modularity_score,
    mutual_information_matrix,
    sap_gap,
    sap_matrix_continuous,
    sap_matrix_discrete,
)
from factorprobe.analysis._kernels.plugin import plugin_entropy
from factorprobe.analysis.layerwise import (
    check_factor_list,
    layer_blocks,
    random_state,
    seed_attr,
)
from factorprobe.dims import FACTOR_GROUPS, LAYER

__all__ = ["disentanglement"]

SapFactors = Literal["discrete", "continuous"]
InfomecEstimator = Literal["ksg", "binned"]


def disentanglement(
    acts: xr.DataArray,
    factors: Sequence[str] = ("size", "x", "y"),
    *,
    n_bins: int = 20,
    sap_factors: SapFactors = "discrete",
    infomec_estimator: InfomecEstimator = "ksg",
    n_estimators: int = 100,
    seed: int | np.random.Generator | None = 0,
) -> xr.Dataset:
    """The literature's disentanglement scores of each layer's units for the named factors.

    Every score treats a layer's units as the code ``z`` and the factors' levels as the ground
    truth sources ``s`` (grid designs are discrete). Conventions, chosen so that values are
    comparable with published ones:

    - **MIG** (Chen et al. 2018): mean over factors of the gap between the two largest
      ``I(z_i; s_j)`` over units, divided by ``H(s_j)``. As disentanglement_lib: each unit in
      ``n_bins`` equal-width bins (``np.histogram``), plug-in MI over all stimuli.
    - **modularity** (Ridgeway & Mozer 2018): per unit ``1 - Σ_{k≠k*} I_k² / (I_k*² (K-1))`` on
      the same MI matrix, averaged over all units (a silent unit scores 0), as
      disentanglement_lib.
    - **SAP** (Kumar et al. 2018): a score per unit and factor, then the mean over factors of
      the gap between the two best units. ``sap_factors="discrete"`` (disentanglement_lib's
      default): test accuracy of a linear SVM (``C=0.01``, balanced class weights) on the unit
      alone; ``"continuous"``: R² of a line, on the factor's values, over all stimuli.
    - **DCI** (Eastwood & Williams 2018): importances of the units for each factor from
      gradient-boosted trees (disentanglement_lib: scikit-learn's ``GradientBoostingClassifier``
      with its defaults); disentanglement = Σ_i ρ_i (1 - H_K(P_i.)), completeness =
      Σ_j ρ_j (1 - H_U(P_.j)), weighted by importance shares; informativeness = the trees' test
      accuracy averaged over factors.
    - **InfoM / InfoC** (Hsu et al. 2023, InfoMEC): NMI_ij = I(z_i; s_j) / H(s_j) over the
      *active* units (range above 1/20 of the layer's largest);
      InfoM = (mean_i max_j NMI_ij / Σ_j NMI_ij - 1/K) / (1 - 1/K),
      InfoC = (mean_j max_i NMI_ij / Σ_i NMI_ij - 1/U_a) / (1 - 1/U_a).
      ``infomec_estimator="ksg"`` (the reference code's choice for continuous latents): KSG
      estimator, 10 neighbours, standardised units; ``"binned"``: the plug-in MI of MIG.

    SAP and DCI fit on a seeded random two thirds of the stimuli and test on the rest (the
    10 000 : 5 000 proportion of disentanglement_lib); the same split serves every layer.

    Parameters
    ----------
    acts : DataArray
        Responses with dims ``("stimulus", "unit")``, a ``layer`` coordinate on ``unit`` (each
        layer at least 2 units) and the factors as coordinates on ``stimulus``.
    factors : sequence of str, default=("size", "x", "y")
        At least 2 factors (a group such as ``"position"`` counts as one factor, its joint label).
    n_bins : int, default=20
        Equal-width bins per unit for the plug-in MI (disentanglement_lib's 20).
    sap_factors : {"discrete", "continuous"}, default="discrete"
        Which SAP score matrix to use (``"continuous"`` needs numeric, ungrouped factors).
    infomec_estimator : {"ksg", "binned"}, default="ksg"
        MI estimator of the InfoMEC NMI matrix.
    n_estimators : int, default=100
        Boosting stages of the DCI trees (scikit-learn's and disentanglement_lib's 100).
    seed : int, Generator or None, default=0
        Seed of the train/test split, the SVMs, the trees and the KSG jitter.

    Returns
    -------
    Dataset
        Over ``layer``: ``mig``, ``modularity``, ``sap``, ``dci_disentanglement``,
        ``dci_completeness``, ``dci_informativeness``, ``infom``, ``infoc`` (dimensionless,
        1 = perfectly disentangled; ``dci_informativeness`` is an accuracy) and
        ``n_active_units``. ``attrs`` record every convention above.

    Raises
    ------
    TypeError
        If ``acts`` is not a DataArray or an option has the wrong type.
    ValueError
        If an option is not one of its choices or out of range, a layer has fewer than 2 units,
        fewer than 2 factors are named, or a training split holds a single level of a factor.
    KeyError
        If a factor is not a coordinate on ``stimulus``.

    See Also
    --------
    factorprobe.analysis.decoding : cross-validated decoding and V-information per factor.

    References
    ----------
    Chen, R. T. Q., Li, X., Grosse, R. & Duvenaud, D. (2018). Isolating sources of
    disentanglement in variational autoencoders. NeurIPS 2018.
    Ridgeway, K. & Mozer, M. C. (2018). Learning deep disentangled embeddings with the
    F-statistic loss. NeurIPS 2018.
    Kumar, A., Sattigeri, P. & Balakrishnan, A. (2018). Variational inference of disentangled
    latent concepts from unlabeled observations. ICLR 2018.
    Eastwood, C. & Williams, C. K. I. (2018). A framework for the quantitative evaluation of
    disentangled representations. ICLR 2018.
    Hsu, K., Dorrell, W., Whittington, J. C. R., Wu, J. & Finn, C. (2023). Disentanglement via
    latent quantization. NeurIPS 2023.
    Locatello, F. et al. (2019). Challenging common assumptions in the unsupervised learning of
    disentangled representations. ICML 2019 (disentanglement_lib).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> s, x = np.meshgrid(np.arange(4), np.arange(4), indexing="ij")
    >>> s, x = np.tile(s.ravel(), 3), np.tile(x.ravel(), 3)
    >>> a = xr.DataArray(np.stack([s, x], axis=1).astype(float), dims=("stimulus", "unit"),
    ...                  coords={"size": ("stimulus", s), "x": ("stimulus", x),
    ...                          "layer": ("unit", ["fc", "fc"])})
    >>> scores = disentanglement(a, ["size", "x"], infomec_estimator="binned", n_estimators=10)
    >>> round(float(scores["mig"].item()), 6), round(float(scores["modularity"].item()), 6)
    (1.0, 1.0)
    """
    where = "disentanglement"
    checked, blocks = layer_blocks(acts, where=where, min_units=2)
    codes = check_factor_list(checked, factors, where=where, min_factors=2)
    n_stimuli = checked.sizes["stimulus"]
    n_bins = check_int(n_bins, name="n_bins", where=where, minimum=2)
    check_choice(sap_factors, get_args(SapFactors), name="sap_factors", where=where)
    check_choice(
        infomec_estimator, get_args(InfomecEstimator), name="infomec_estimator", where=where
    )
    n_estimators = check_int(n_estimators, name="n_estimators", where=where, minimum=1)
    values = _continuous_values(checked, codes, where) if sap_factors == "continuous" else None

    seed = seed_attr(seed)
    rng = as_rng(seed)
    state = random_state(rng)
    order = rng.permutation(n_stimuli)
    n_test = round(n_stimuli * TEST_FRACTION)
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    for fc in codes:
        if np.unique(fc.codes[train]).size < 2:
            raise ValueError(
                f"Factor {fc.name!r} of {where}: the random training split of {len(train)} of "
                f"{n_stimuli} stimuli holds a single level; use more stimuli or another seed."
            )
    all_codes = [fc.codes for fc in codes]
    entropy = np.array([float(plugin_entropy(fc.counts)) for fc in codes])

    names = [name for name, _ in blocks]
    scores = {key: np.empty(len(blocks)) for key in _SCORES}
    for b, (_, block) in enumerate(blocks):
        z = block.T  # (U, S)
        mi = mutual_information_matrix(
            histogram_bins(z, n_bins), n_bins, all_codes, [fc.n_levels for fc in codes]
        )
        scores["mig"][b] = mig_score(mi, entropy)
        scores["modularity"][b] = modularity_score(mi)
        if values is None:
            sap = sap_matrix_discrete(
                z[:, train],
                [c[train] for c in all_codes],
                z[:, test],
                [c[test] for c in all_codes],
                state,
            )
        else:
            sap = sap_matrix_continuous(z, values)
        scores["sap"][b] = sap_gap(sap)
        importance, accuracy = importance_matrix(
            z[:, train],
            [c[train] for c in all_codes],
            z[:, test],
            [c[test] for c in all_codes],
            n_estimators=n_estimators,
            random_state=state,
        )
        scores["dci_disentanglement"][b] = dci_disentanglement_score(importance)
        scores["dci_completeness"][b] = dci_completeness_score(importance)
        scores["dci_informativeness"][b] = float(accuracy.mean())
        if infomec_estimator == "ksg":
            nmi = ksg_nmi_matrix(z, all_codes, entropy, state)
        else:
            nmi = mi / entropy
        active = active_units(z)
        scores["infom"][b] = infom_score(nmi, active)
        scores["infoc"][b] = infoc_score(nmi, active)
        scores["n_active_units"][b] = active.sum()

    out = xr.Dataset(
        {key: ((LAYER,), val, {"long_name": _SCORES[key]}) for key, val in scores.items()},
        coords={LAYER: names},
    )
    out["n_active_units"] = out["n_active_units"].astype(np.int64)
    out.attrs = {
        "units": "dimensionless",
        "factors": ", ".join(fc.name for fc in codes),
        "discretisation": f"{n_bins} equal-width bins per unit (np.histogram edges)",
        "n_bins": n_bins,
        "mi_estimator": "plug-in on binned units (MIG, modularity)",
        "mig_normalisation": "H(factor), plug-in over the stimuli",
        "sap_factors": str(sap_factors),
        "sap_score": (
            "test accuracy of LinearSVC(C=0.01, class_weight='balanced') per unit"
            if sap_factors == "discrete"
            else "R^2 of a line per unit on the factor values"
        ),
        "dci_model": f"GradientBoostingClassifier(n_estimators={n_estimators}), defaults",
        "dci_weighting": "importance shares (disentanglement_lib)",
        "n_estimators": n_estimators,
        "infomec_estimator": str(infomec_estimator),
        "infomec_active_fraction": ACTIVE_FRACTION,
        "test_fraction": TEST_FRACTION,
        "n_train": len(train),
        "n_test": n_test,
        "seed": seed,
        "random_state": state,
        "reference": "disentanglement_lib (Locatello et al. 2019); InfoMEC (Hsu et al. 2023)",
    }
    return out


_SCORES = {
    "mig": "mutual information gap (Chen et al. 2018)",
    "modularity": "modularity (Ridgeway & Mozer 2018)",
    "sap": "SAP (Kumar et al. 2018)",
    "dci_disentanglement": "DCI disentanglement (Eastwood & Williams 2018)",
    "dci_completeness": "DCI completeness (Eastwood & Williams 2018)",
    "dci_informativeness": "DCI informativeness: test accuracy of the trees",
    "infom": "InfoM (Hsu et al. 2023)",
    "infoc": "InfoC (Hsu et al. 2023)",
    "n_active_units": "active units for InfoMEC",
}


def _continuous_values(acts: xr.DataArray, codes: Sequence, where: str) -> np.ndarray:
    """The factors' numeric values ``(K, S)`` for the continuous SAP score."""
    rows = []
    for fc in codes:
        if fc.name in FACTOR_GROUPS:
            raise ValueError(
                f"sap_factors='continuous' of {where} needs numeric factors; {fc.name!r} is a "
                f"group of {FACTOR_GROUPS[fc.name]}; name its members or use 'discrete'."
            )
        values = np.asarray(acts[fc.name].values)
        if values.dtype.kind not in "biuf":
            raise ValueError(
                f"sap_factors='continuous' of {where} needs numeric factors; {fc.name!r} has "
                f"dtype {values.dtype}; use 'discrete'."
            )
        rows.append(values.astype(np.float64))
    return np.stack(rows)
