"""Two-way ANOVA of every unit at once: effect sizes and mixed-selectivity classes (DESIGN §5.9).

The design matrix is the same for every unit, so the sums of squares of all units come from one
set of cell moments and one projection. Sums of squares are Type II (each main effect adjusted
for the other, the interaction for both), computed by least squares on cell means weighted by
their counts: exact for unbalanced designs and equal to the textbook formulas when balanced.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np
import xarray as xr
from scipy import stats

from factorprobe._deprecated import renamed_keyword
from factorprobe._validation import check_choice, check_real
from factorprobe.analysis import _kernels
from factorprobe.analysis.design import FactorCodes
from factorprobe.analysis.quantize import check_responses
from factorprobe.analysis.significance import benjamini_hochberg
from factorprobe.analysis.tuning import factor_pair
from factorprobe.dims import STIMULUS, UNIT

__all__ = ["CATEGORIES", "EFFECT", "MULTIPLE_TESTING", "two_way_anova"]

EFFECT = "effect"
MultipleTesting = Literal["bh", "none"]
#: multiple-testing procedures: Benjamini-Hochberg q-values per layer, or none
MULTIPLE_TESTING: tuple[str, ...] = get_args(MultipleTesting)
# mixed-selectivity classes, in the order of the integer codes the kernel returns
CATEGORIES: tuple[str, ...] = ("none", "pure", "linear_mixed", "nonlinear_mixed")
# sums of squares below this fraction of the total are rounding error (noise-free responses)
RELATIVE_ZERO = 1e-10


def anova_kernel(
    values: np.ndarray,
    cell_codes: np.ndarray,
    n_cells: int,
    cell_to_a: np.ndarray,
    cell_to_b: np.ndarray,
    additive_basis: np.ndarray,
) -> np.ndarray:
    """Type II sums of squares ``(..., 4)``: factor a, factor b, interaction, error.

    ``cell_codes (S,)`` numbers the occupied (a, b) cells ``0..n_cells-1``; ``cell_to_a`` and
    ``cell_to_b`` are indicator matrices ``(n_cells, L)``; ``additive_basis (n_cells, r)`` is an
    orthonormal basis of the count-weighted design ``sqrt(n_c) [1, A, B]`` of the additive model.
    """
    centred = values - values.mean(axis=-1, keepdims=True)
    count, total, _ = _kernels.level_moments(centred, cell_codes, n_cells)
    mean = total / count
    ss_total = (centred**2).sum(axis=-1)
    ss_error = ((centred - mean[..., cell_codes]) ** 2).sum(axis=-1)
    ss_cells = ss_total - ss_error
    # one-way model sums of squares from the level totals (the grand mean is 0 after centring)
    ss_a = (total @ cell_to_a) ** 2 / (count @ cell_to_a)
    ss_b = (total @ cell_to_b) ** 2 / (count @ cell_to_b)
    ss_additive = ((total / np.sqrt(count)) @ additive_basis) ** 2
    ss_a, ss_b, ss_additive = ss_a.sum(-1), ss_b.sum(-1), ss_additive.sum(-1)
    out = np.stack(
        [ss_additive - ss_b, ss_additive - ss_a, ss_cells - ss_additive, ss_error], axis=-1
    )
    zero = RELATIVE_ZERO * ss_total[..., None]
    return np.where(out > zero, out, 0.0)


def two_way_anova(
    acts: xr.DataArray,
    factors: Sequence[str] = ("size", "position"),
    *,
    alpha: float = 0.05,
    multiple_testing: MultipleTesting = "bh",
    correction: MultipleTesting | None = None,
) -> xr.Dataset:
    """Two-way ANOVA of every unit: F-tests, partial η² and ω², and the mixed-selectivity class.

    For factors A and B (a group such as ``position`` enters as one factor, the joint label of
    its members) the response is modelled by the full factorial model of the (A, B) cells;
    stimuli that differ only in factors not named (``shape``, jitter, repeats) are the replicates
    whose within-cell variance is the error. Sums of squares are Type II: ``SS_A = SS(A+B) −
    SS(B)``, ``SS_B = SS(A+B) − SS(A)``, ``SS_AB = SS(cells) − SS(A+B)``, ``SS_E`` the
    within-cell sum of squares, with ``SS(model)`` the count-weighted least-squares fit of that
    model to the cell means (equal to Types I and III for a balanced design). For each effect X:

    - ``F = (SS_X / df_X) / (SS_E / df_E)``, p from the F distribution;
    - partial ``η² = SS_X / (SS_X + SS_E)``;
    - partial ``ω² = (SS_X − df_X·MS_E) / (SS_X + (N − df_X)·MS_E)``, clipped at 0 (the
      bias-corrected population estimate; N stimuli).

    An effect is significant when its q-value (Benjamini–Hochberg over all unit × effect tests
    of a layer, ``multiple_testing="bh"``) or its p-value (``"none"``) is below ``alpha``. The class
    of a unit: ``nonlinear_mixed`` if the interaction is significant (whatever the main effects);
    else ``linear_mixed`` if both main effects are; else ``pure`` if one is; else ``none``.
    Sums of squares below 1e-10 of the unit's total are set to 0, so noise-free additive
    responses show no interaction; a constant unit has F and p NaN, η² = ω² = 0, class ``none``.

    Parameters
    ----------
    acts : DataArray
        Responses with dims ``("stimulus", "unit")``, the factors on ``stimulus`` and
        (optionally) ``layer`` on ``unit``, which defines the families of the multiple testing.
    factors : pair of str, default=("size", "position")
        The two factors (or groups); they must not share a member.
    alpha : float, default=0.05
        Significance level of the class, in [0, 1].
    multiple_testing : {"bh", "none"}, default="bh"
        Multiple-testing procedure across units (and the three effects), per layer:
        Benjamini–Hochberg q-values, or none (``correction`` in factorprobe means bias
        correction of an estimate).
    correction : {"bh", "none"}, optional
        Deprecated name of ``multiple_testing`` (until the next release; warns).

    Returns
    -------
    Dataset
        Over ``("unit", "effect")`` with ``effect = [A, B, "A:B"]``: ``ss`` (units of ``acts``
        squared), ``f``, ``p_value``, ``q_value`` (equal to ``p_value`` with
        ``multiple_testing="none"``), ``eta_squared``, ``omega_squared`` (fractions of variance) and
        ``significant`` (bool); ``df`` over ``effect``; ``ss_error`` and ``category`` (one of
        ``"none"``, ``"pure"``, ``"linear_mixed"``, ``"nonlinear_mixed"``) over ``unit``.
        Attrs: ``df_error``, ``n_stimuli``, ``alpha``, ``multiple_testing``, ``ss_type="II"``.

    Raises
    ------
    KeyError
        If a factor is not a coordinate on ``stimulus``.
    ValueError
        If the factors are confounded (the design does not cross them) or the interaction is
        not estimable.

    Notes
    -----
    With one stimulus per cell (a deterministic network on a grid) there is no within-cell
    error: the main effects are tested against the interaction, the additive model's residual
    (as in a randomised-block design), and the interaction itself is not tested (its F, p, η²
    and ω² are NaN, its sum of squares is reported; attrs ``error``). A unit can then be
    ``pure`` or ``linear_mixed``; ``eta_squared_interaction`` of
    :func:`~factorprobe.analysis.unit_table` gives the interaction's share of the variance.

    References
    ----------
    Maxwell, S. E. & Delaney, H. D. (2004). Designing Experiments and Analyzing Data, ch. 7
    (Type II sums of squares for unbalanced designs).
    Olejnik, S. & Algina, J. (2003). Generalized eta and omega squared statistics. Psychol.
    Methods 8, 434–447 (partial η² and ω²).
    Rigotti, M. et al. (2013). The importance of mixed selectivity in complex cognitive tasks.
    Nature 497, 585–590.
    Fusi, S., Miller, E. K. & Rigotti, M. (2016). Why neurons mix: high dimensionality for
    higher cognition. Curr. Opin. Neurobiol. 37, 66–74 (pure, linear and nonlinear mixed).
    Benjamini, Y. & Hochberg, Y. (1995). J. R. Stat. Soc. B 57, 289–300.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> a, b = np.repeat([0, 1], 4), np.tile([0, 0, 1, 1], 2)
    >>> r = np.stack([a + 0.1 * np.tile([1, -1], 4), a * b + 0.1 * np.tile([1, -1], 4)], 1)
    >>> acts = xr.DataArray(r, dims=("stimulus", "unit"),
    ...                     coords={"a": ("stimulus", a), "b": ("stimulus", b)})
    >>> two_way_anova(acts, ("a", "b"))["category"].values.tolist()
    ['pure', 'nonlinear_mixed']
    """
    where = "two_way_anova"
    acts = check_responses(acts, where=where)
    alpha = check_real(alpha, name="alpha", where=where, minimum=0.0, maximum=1.0)
    if correction is not None:
        renamed_keyword(where, "correction")
        multiple_testing = correction
    check_choice(multiple_testing, MULTIPLE_TESTING, name="multiple_testing", where=where)
    a, b = factor_pair(acts, factors, where=where)
    design = _design(a, b, where=where)
    ss = xr.apply_ufunc(
        anova_kernel,
        acts,
        input_core_dims=[[STIMULUS]],
        output_core_dims=[[EFFECT]],
        kwargs={k: v for k, v in design.items() if k != "df"},
        dask="parallelized",
        output_dtypes=[np.float64],
        dask_gufunc_kwargs={"output_sizes": {EFFECT: 4}},
    ).compute()
    effects = [a.name, b.name, f"{a.name}:{b.name}"]
    df = np.array(design["df"], dtype=np.float64)
    n_stim = acts.sizes[STIMULUS]
    replicated = df[3] >= 1
    if not replicated:
        # one stimulus per cell (a deterministic network on a grid): the interaction is the
        # error term of the additive model, and is not tested itself
        ss = ss.copy(data=np.concatenate([ss.values[:, :3], ss.values[:, 2:3]], axis=1))
        df[3] = df[2]
    f, p, eta, omega = _statistics(ss.values, df, n_stim)
    if not replicated:
        f[:, 2] = p[:, 2] = eta[:, 2] = omega[:, 2] = np.nan
    ds = xr.Dataset(coords={k: v for k, v in ss.coords.items() if k != EFFECT})
    ds = ds.assign_coords({EFFECT: effects})
    ss_err = ss.values[:, 3]
    for name, value in (
        ("ss", ss.values[:, :3]),
        ("f", f),
        ("p_value", p),
        ("eta_squared", eta),
        ("omega_squared", omega),
    ):
        ds[name] = ((UNIT, EFFECT), value)
    ds["df"] = (EFFECT, df[:3])
    ds["ss_error"] = (UNIT, ss_err)
    if multiple_testing == "bh":
        ds["q_value"] = ((UNIT, EFFECT), benjamini_hochberg(ds["p_value"]).values)
    else:
        ds["q_value"] = ds["p_value"].copy()
    significant = np.nan_to_num(ds["q_value"].values, nan=1.0) < alpha
    ds["significant"] = ((UNIT, EFFECT), significant)
    ds["category"] = (UNIT, np.asarray(CATEGORIES)[_classify(significant)])
    units = str(acts.attrs.get("units", "activation"))
    ds["ss"].attrs = {"units": f"({units})^2"}
    ds["ss_error"].attrs = {"units": f"({units})^2"}
    for name in ("eta_squared", "omega_squared"):
        ds[name].attrs = {"units": "fraction of variance", "kind": "partial"}
    ds["category"].attrs = {
        "rule": "nonlinear_mixed if A:B significant; else linear_mixed if A and B; "
        "else pure if A or B; else none"
    }
    ds.attrs = {
        "factors": f"{a.name},{b.name}",
        "ss_type": "II",
        "error": "within-cell" if replicated else "interaction (one stimulus per cell)",
        "df_error": float(df[3]),
        "n_stimuli": n_stim,
        "alpha": alpha,
        "multiple_testing": multiple_testing,
        "family": "layer" if multiple_testing == "bh" else "none",
        "test": "F-test per effect",
    }
    return ds.transpose(UNIT, EFFECT)


def _statistics(
    ss: np.ndarray, df: np.ndarray, n_stimuli: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """F, p, partial η² and ω² of the three effects from ``ss (U, 4)`` and ``df (4,)``."""
    effect, error = ss[:, :3], ss[:, 3:]
    # sums of squares at rounding level are zero (a deterministic unit's exact fits)
    scale = 1e-12 * (effect.sum(axis=1, keepdims=True) + error)
    effect = np.where(effect <= scale, 0.0, effect)
    error = np.where(error <= scale, 0.0, error)
    ms_error = error / df[3]
    with np.errstate(invalid="ignore", divide="ignore"):
        f = (effect / df[:3]) / ms_error
        p = stats.f.sf(f, df[:3], df[3])
        eta = np.where(effect + error > 0, effect / (effect + error), 0.0)
        denom = effect + (n_stimuli - df[:3]) * ms_error
        omega = np.where(denom > 0, (effect - df[:3] * ms_error) / denom, 0.0)
    return f, p, eta, np.clip(omega, 0.0, 1.0)


def _classify(significant: np.ndarray) -> np.ndarray:
    """Integer class (index into CATEGORIES) from ``significant (U, 3)``: A, B, A:B."""
    mains = significant[:, :2].sum(axis=1)
    return np.where(significant[:, 2], 3, np.where(mains == 2, 2, np.where(mains == 1, 1, 0)))


def _design(a: FactorCodes, b: FactorCodes, *, where: str) -> dict:
    """Cells, indicator matrices, the additive model's basis and the degrees of freedom."""
    pairs, cell_codes = np.unique(np.stack([a.codes, b.codes], axis=1), axis=0, return_inverse=True)
    cell_codes = cell_codes.reshape(-1).astype(np.int64)
    n_cells = len(pairs)
    counts = np.bincount(cell_codes, minlength=n_cells).astype(np.float64)
    cell_to_a = np.eye(a.n_levels)[pairs[:, 0]]
    cell_to_b = np.eye(b.n_levels)[pairs[:, 1]]
    x = np.concatenate([np.ones((n_cells, 1)), cell_to_a[:, 1:], cell_to_b[:, 1:]], axis=1)
    u, s, _ = np.linalg.svd(np.sqrt(counts)[:, None] * x, full_matrices=False)
    rank = int((s > s[0] * max(x.shape) * np.finfo(float).eps).sum())
    n_stim = a.codes.size
    if rank < a.n_levels + b.n_levels - 1:
        raise ValueError(
            f"{where} needs a design that crosses {a.name!r} and {b.name!r}; they are confounded "
            f"(only {n_cells} of {a.n_levels * b.n_levels} combinations occur), so their effects "
            "cannot be told apart."
        )
    df_ab = n_cells - rank
    df_error = n_stim - n_cells
    if df_ab < 1:
        raise ValueError(
            f"{where} cannot estimate the {a.name!r} × {b.name!r} interaction: "
            f"{n_cells} of {a.n_levels * b.n_levels} combinations occur; use a full grid."
        )
    return {
        "cell_codes": cell_codes,
        "n_cells": n_cells,
        "cell_to_a": cell_to_a,
        "cell_to_b": cell_to_b,
        "additive_basis": u[:, :rank],
        "df": (a.n_levels - 1, b.n_levels - 1, df_ab, df_error),
    }
