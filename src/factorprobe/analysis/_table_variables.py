"""The unit table's variables: what each one means, in which units, and their order.

The data dictionary of exported tables is generated from these descriptions (through the
variables' attrs), so a new variable of :func:`~factorprobe.analysis.unit_table` must be
described here.
"""

from __future__ import annotations

#: Every variable of the unit table: (description, units). The data dictionary of exported
#: tables is generated from these attrs, so a new variable must be described here.
VARIABLES: dict[str, tuple[str, str]] = {
    "mi": (
        "marginal mutual information I(R; F) between the response and the factor, minus the "
        "mean of the design's null (estimator, correction and null in the table attrs: the "
        "Gaussian-copula estimate is not bounded by a binned entropy, the plug-in one by "
        "log2 n_bins)",
        "bits",
    ),
    "mi_raw": (
        "marginal mutual information before bias correction (estimator in the attrs)",
        "bits",
    ),
    "mi_null_mean": (
        "mean marginal mutual information under the design's null: shuffles within the factor's "
        "strata, the levels of the other factors of the design (attrs 'null'), or free shuffles",
        "bits",
    ),
    "p_value": (
        "permutation p-value of eta_squared_within under shuffles within the factor's strata "
        "(the levels of the other factors of the design); of mi under free shuffles for a "
        "factor without strata or with null='free' (attrs 'null', 'statistic')",
        "1",
    ),
    "eta_squared_within": (
        "share of the variance of the within-stratum normal scores (the response ranked within "
        "each stratum, a level of the other factors of the design) explained by the factor: "
        "how consistently "
        "it orders the responses in every stratum, 1 = the same order everywhere; the "
        "statistic of p_value, which sees a weak code riding on a strong one; NaN for a "
        "factor without strata or without shuffles",
        "1",
    ),
    "eta_squared": (
        "share of the response's variance explained by the factor's level means (one-way eta "
        "squared; the main effect in a crossed design)",
        "1",
    ),
    "eta_squared_interaction": (
        "1 - sum of the compared factors' eta squared: their interaction (plus noise with "
        "replicates; with one stimulus per cell the highest interaction is the error term); "
        "NaN unless the compared factors are crossed",
        "1",
    ),
    "entropy_threshold": (
        "entropy of the response thresholded at 'threshold' (1 bit at most; Amjad et al. 2018)",
        "bits",
    ),
    "q_value": ("Benjamini-Hochberg q-value over all unit x factor tests of the layer", "1"),
    "p_fwer": ("family-wise adjusted p-value (Westfall-Young max-statistic over the layer)", "1"),
    "kl_selectivity": (
        "largest specific information: max over levels f of "
        "KL(p(R | F=f) || p(R)) on the table's quantiser (attrs quantizer, n_bins; Amjad et "
        "al. 2018)",
        "bits",
    ),
    "entropy": (
        "entropy of the response in n_bins equal-width bins over the unit's range (a fixed "
        "quantiser, not the table's quantile bins, on which it would be log2 n_bins)",
        "bits",
    ),
    "factor_entropy": ("entropy of the factor H(F) over the stimuli", "bits"),
    "omega_squared": (
        "variance of the response explained by the factor, bias-corrected: omega squared with "
        "the additive model's residual of the compared factors as error when they are crossed "
        "(their interaction, the error term with one stimulus per cell), else one-way",
        "1",
    ),
    "mean_response_selectivity": (
        "(mu_max - mu_rest) / (|mu_max| + |mu_rest|) over the factor's level means, in [0, 1]",
        "1",
    ),
    "share": (
        "the factor's share of the unit's information, I_k / sum_j I_j over the "
        "compared factors (clipped at 0)",
        "1",
    ),
    "selectivity": (
        "selectivity index (I1 - I2) / (I1 + I2) of the two largest bias-corrected "
        "MIs among the compared factors; NaN when no factor is significant",
        "1",
    ),
    "selectivity_normalized": ("selectivity index on I / H(F)", "1"),
    "selectivity_min_normalized": ("selectivity index on I / min(H(R), H(F))", "1"),
    "selectivity_omega": ("selectivity index on omega squared", "1"),
    "modularity": (
        "modularity 1 - sum_{k != k*} (I_k / I_k*)^2 / (K - 1) "
        "(Ridgeway & Mozer 2018); NaN when no factor is significant",
        "1",
    ),
    "preferred_factor": ("compared factor with the largest significant MI, or 'none'", ""),
    # unit_table(pid=(A, B)); the atoms are Williams-Beer's (docs/roles.md)
    "pid_redundancy": (
        "partial information decomposition of I(R; A, B) for the two factors of attrs "
        "pid_factors: redundancy, Williams-Beer I_min = sum_r p(r) min(I_spec(r; A), "
        "I_spec(r; B)) on the table's bins, minus the larger of its means under A shuffled "
        "within B and B within A (attrs pid_null); can be < 0 after correction",
        "bits",
    ),
    "pid_unique": (
        "partial information decomposition: information only this factor gives, I(R; F) - "
        "redundancy, with I(R; F) minus its mean under F shuffled within the other source's "
        "levels; NaN for a factor that is not one of the two sources (attrs pid_factors)",
        "bits",
    ),
    "pid_synergy": (
        "partial information decomposition: information only the two factors together give, "
        "I(R; A, B) - I(R; A) - I(R; B) + redundancy; with one stimulus per (A, B) cell "
        "I(R; A, B) cannot be shuffle-corrected and synergy keeps its plug-in value, "
        "everything neither factor explains alone (attrs pid_joint_correction)",
        "bits",
    ),
}


def ordered(variables) -> list[str]:
    core = [
        "mi",
        "mi_raw",
        "p_value",
        "q_value",
        "kl_selectivity",
        "entropy",
        "selectivity",
        "modularity",
        "preferred_factor",
    ]
    rest = [
        "eta_squared_within",
        "eta_squared",
        "eta_squared_interaction",
        "entropy_threshold",
        "mi_null_mean",
        "omega_squared",
        "mean_response_selectivity",
        "factor_entropy",
        "p_fwer",
        "selectivity_normalized",
        "selectivity_min_normalized",
        "selectivity_omega",
        "share",
        "pid_redundancy",
        "pid_unique",
        "pid_synergy",
    ]
    return [v for v in core + rest if v in variables]
