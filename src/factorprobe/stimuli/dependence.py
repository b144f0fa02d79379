"""Pairwise mutual information between the factors of a design, in bits.

Marginal MI between a unit and a factor confounds factors that the design does not cross
independently (random designs, sizes that restrict positions, points dropped for not fitting);
this module measures how much. A full factorial grid has exactly 0 between every pair.
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np
import xarray as xr

from factorprobe._deprecated import renamed_name
from factorprobe._validation import check_choice, check_int
from factorprobe.dims import STIMULUS
from factorprobe.stimuli.factors import FactorSpace

__all__ = ["factor_mutual_information"]

_ESTIMATORS: Final[tuple[str, ...]] = ("plugin", "miller_madow")


def _labels(values: np.ndarray, n_bins: int, max_levels: int) -> np.ndarray:
    """Integer labels: the levels of a discrete factor, or equal-population bins."""
    uniques, labels = np.unique(values, return_inverse=True)
    if uniques.size <= max_levels or values.dtype.kind not in "fiu":
        return labels
    # Quantile edges; ties can merge bins, which np.unique below renumbers.
    edges = np.quantile(values, np.linspace(0, 1, n_bins + 1)[1:-1])
    return np.unique(np.searchsorted(edges, values, side="right"), return_inverse=True)[1]


def _mutual_information(a: np.ndarray, b: np.ndarray, estimator: str) -> float:
    n = a.size
    joint = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(joint, (a, b), 1.0)
    p = joint / n
    pa, pb = p.sum(axis=1), p.sum(axis=0)
    nz = p > 0
    mi = float(np.sum(p[nz] * np.log2(p[nz] / np.outer(pa, pb)[nz])))
    if estimator == "miller_madow":
        cells = np.count_nonzero(joint)
        ka, kb = np.count_nonzero(pa), np.count_nonzero(pb)
        mi -= (cells - ka - kb + 1) / (2 * n * np.log(2))
    return max(mi, 0.0) if estimator == "plugin" else mi


def factor_mutual_information(
    design: FactorSpace | xr.Dataset,
    *,
    factors: list[str] | None = None,
    n_bins: int = 8,
    max_levels: int = 16,
    estimator: Literal["plugin", "miller_madow"] = "plugin",
) -> xr.DataArray:
    """Pairwise mutual information between the factors of a design, in bits.

    Parameters
    ----------
    design : FactorSpace or xarray.Dataset
        A factor space, or a stimuli Dataset whose factor coordinates lie along ``stimulus``.
    factors : list of str or None, default=None
        Factors to compare; None takes every factor (a constant factor has MI 0).
    n_bins : int, default=8
        Equal-population (quantile) bins for a numeric factor with more than ``max_levels``
        distinct values (the continuous factors of a random design).
    max_levels : int, default=16
        A factor with at most this many distinct values is used as is, one label per value.
    estimator : {"plugin", "miller_madow"}, default="plugin"
        Plug-in MI (exactly 0 for a full grid; biased upward by about
        ``(La - 1)(Lb - 1) / (2 n ln 2)`` bits for independent factors with ``La, Lb`` labels),
        or the Miller-Madow corrected value (about 0 for independent factors, can be negative).

    Returns
    -------
    xarray.DataArray
        Dims ``("factor_a", "factor_b")``, symmetric; the diagonal is each factor's entropy.
        Attrs: ``units="bits"``, the estimator, ``n_bins``, ``max_levels`` and ``n_stimuli``.

    Raises
    ------
    ValueError
        For an unknown factor or estimator, or too few bins.

    References
    ----------
    Miller, G. (1955). Note on the bias of information estimates. In *Information Theory in
    Psychology*, 95-100.

    Examples
    --------
    >>> from factorprobe.stimuli import grid
    >>> dep = factor_mutual_information(grid(size=[16, 32], x=[60, 112, 164], y=[112]))
    >>> float(dep.sel(factor_a="size", factor_b="x"))
    0.0
    """
    where = "factor_mutual_information"
    n_bins = check_int(n_bins, name="n_bins", where=where, minimum=2)
    max_levels = check_int(max_levels, name="max_levels", where=where, minimum=1)
    check_choice(estimator, _ESTIMATORS, name="estimator", where=where)
    if isinstance(design, FactorSpace):
        table = {name: np.asarray(design[name]) for name in design.factors}
    elif isinstance(design, xr.Dataset):
        table = {
            str(name): np.asarray(c.values)
            for name, c in design.coords.items()
            if c.dims == (STIMULUS,) and name != STIMULUS
        }
    else:
        raise TypeError(
            f"factor_mutual_information takes a FactorSpace or a stimuli Dataset; got "
            f"{type(design).__name__}."
        )
    names = list(table) if factors is None else list(factors)
    for name in names:
        if name not in table:
            valid = ", ".join(repr(f) for f in table)
            raise ValueError(f"Unknown factor {name!r} for {where}; this design has {valid}.")
    labels = [_labels(table[name], n_bins, max_levels) for name in names]
    k = len(names)
    out = np.zeros((k, k))
    for i in range(k):
        for j in range(i, k):
            out[i, j] = out[j, i] = _mutual_information(labels[i], labels[j], estimator)
    n = len(labels[0]) if labels else 0
    return xr.DataArray(
        out,
        dims=("factor_a", "factor_b"),
        coords={"factor_a": names, "factor_b": names},
        name="factor_mutual_information",
        attrs={
            "units": "bits",
            "estimator": estimator,
            "n_bins": n_bins,
            "max_levels": max_levels,
            "n_stimuli": n,
            "binning": "levels as labels up to max_levels distinct values, else quantile bins",
        },
    )


def __getattr__(name: str) -> object:
    return renamed_name(__name__, name)  # factor_dependence, renamed in 0.2
