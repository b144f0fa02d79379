"""The array engine: counting, plug-in and copula information, disentanglement scores.

Array code only (NumPy, SciPy, scikit-learn); nothing here sees labels, xarray or torch: responses
arrive as arrays of bin indices or values,
factors as integer codes, and the public measures in :mod:`factorprobe.analysis` validate and
label what goes in and out. ``plugin`` counts and computes plug-in quantities (bits),
``copula`` the Gaussian-copula estimates, ``disentanglement`` the representation-level scores.
"""

from __future__ import annotations

from factorprobe.analysis._kernels.plugin import (
    COUNT_BLOCK,
    FIELD_BITS,
    LN2,
    MAX_PACKED_WORDS,
    Contingency,
    benjamini_hochberg,
    bin_entropy,
    field_bits,
    gtest_pvalue,
    joint_counts,
    kl_selectivity,
    level_counts,
    level_moments,
    level_onehot,
    level_sums,
    miller_madow_term,
    pack_bins,
    packed_level_sums,
    plugin_entropy,
    plugin_mi,
    unpack_counts,
)

__all__ = [
    "COUNT_BLOCK",
    "FIELD_BITS",
    "LN2",
    "MAX_PACKED_WORDS",
    "Contingency",
    "benjamini_hochberg",
    "bin_entropy",
    "field_bits",
    "gtest_pvalue",
    "joint_counts",
    "kl_selectivity",
    "level_counts",
    "level_moments",
    "level_onehot",
    "level_sums",
    "miller_madow_term",
    "pack_bins",
    "packed_level_sums",
    "plugin_entropy",
    "plugin_mi",
    "unpack_counts",
]
