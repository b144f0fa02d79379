"""Double dissociation from cumulative ablation curves: does ablating a factor's units hurt
that factor's decodability more than the others', beyond random ablation?"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Literal

import pandas as pd
import xarray as xr

from factorprobe._validation import check_choice, check_real

__all__ = ["MEASURES", "dissociation_frame", "double_dissociation"]

K, RANKING, DIRECTION, METRIC, RANDOM = "k", "ranking", "direction", "metric", "random_order"
Measure = Literal["decoding_accuracy", "v_information", "decoding_r2"]
#: The decodability metrics a dissociation can be read on, and their units.
MEASURES: dict[Measure, str] = {
    "decoding_accuracy": "fraction",
    "v_information": "bits",
    "decoding_r2": "1",
}


def double_dissociation(
    result: xr.Dataset,
    *,
    measure: Measure = "decoding_accuracy",
    direction: Literal["highest", "lowest"] = "highest",
    k: Sequence[int] | None = None,
    n_sd: float = 1.0,
) -> xr.Dataset:
    """Does ablating a factor's units lower that factor's decodability more than the others'?

    For each ranking about a factor A (its ``ranking_factor``) and each decoded factor F, the
    *drop* is decodability at k = 0 minus decodability after ablation, averaged over ``k``
    (default: every grid point strictly between 0 and the layer's width, i.e. the normalised
    area between the curves). The random orders give the same drop per order; ``excess`` is the
    ranked drop minus the random mean. The ranking's ``contrast`` is its excess for A minus the
    mean excess for the other factors: positive when ablating A's units hurts A more than
    chance hurts it, relative to the others; ``contrast_random_sd`` is the sd of the same
    contrast over the random orders. ``double_dissociation`` is True when every ranking's
    contrast is positive and larger than ``n_sd`` random sds, and its own factor is decodable
    above chance in the intact network (else there is nothing to dissociate): a description of
    the numbers, not a test (5 random orders give a rough sd).

    Parameters
    ----------
    result : Dataset
        From :func:`cumulative_ablation` with rankings about at least two decoded factors.
    measure : {"decoding_accuracy", "v_information", "decoding_r2"}, default="decoding_accuracy"
        The decodability read: held-out accuracy, V-information, or the held-out R² of the
        ridge read-out of values (ordered factors only; its chance is 0).
    direction : {"highest", "lowest"}, default="highest"
    k : sequence of int, optional
        Grid points to average the drop over.
    n_sd : float, default=1.0
        How many random sds each contrast must exceed for ``double_dissociation``.

    Returns
    -------
    Dataset
        Over ``factor``: ``intact`` (k = 0) and ``chance``; over ``(ranking, factor)``:
        ``drop``, ``random_drop_mean``, ``random_drop_sd``, ``excess``; over ``ranking``:
        ``contrast``, ``contrast_random_sd``; and the 0-d ``double_dissociation`` (bool).

    Raises
    ------
    ValueError
        Fewer than two rankings about decoded factors, an unknown measure, direction or k.
    """
    where = "double_dissociation"
    n_sd = check_real(n_sd, name="n_sd", where=where, minimum=0.0)
    check_choice(measure, tuple(MEASURES), name="measure", where=where)
    check_choice(direction, list(result[DIRECTION].values), name="direction", where=where)
    decoded, ranked = _decoded_and_ranked(result, measure)
    if len({str(result["ranking_factor"].sel({RANKING: r}).values) for r in ranked}) < 2:
        raise ValueError(
            f"{where} needs rankings about at least two decoded factors ({decoded}); got "
            f"rankings {list(map(str, result[RANKING].values))} about "
            f"{list(map(str, result['ranking_factor'].values))}."
        )
    ks = result[K].values
    chosen = [int(v) for v in ks[(ks > 0) & (ks < result.attrs["n_units"])]] if k is None else k
    bad = [v for v in chosen if v not in ks.tolist()]
    if bad or not chosen:
        raise ValueError(
            f"The 'k' parameter of {where} must name grid points of the result "
            f"{ks.tolist()}; got {list(chosen)!r}."
        )
    names = [f"{measure}:{f}" for f in decoded]
    score = result["score"].sel({METRIC: names, DIRECTION: direction, RANKING: ranked})
    drop = score.sel({K: 0}) - score.sel({K: chosen}).mean(K)
    rand = result["random"].sel({METRIC: names})
    rand_drop = rand.sel({K: 0}) - rand.sel({K: chosen}).mean(K)
    factor_dim = {METRIC: "factor"}
    drop = drop.rename(factor_dim).assign_coords(factor=decoded).drop_vars(METRIC, errors="ignore")
    rand_drop = rand_drop.rename(factor_dim).assign_coords(factor=decoded)
    rand_drop = rand_drop.drop_vars(METRIC, errors="ignore")
    excess = drop - rand_drop.mean(RANDOM)
    own = xr.DataArray([str(result["ranking_factor"].sel({RANKING: r}).values) for r in ranked],
                       dims=(RANKING,), coords={RANKING: ranked})  # fmt: skip
    is_own = own == excess["factor"]
    n_other = len(decoded) - 1
    contrast = excess.where(is_own).sum("factor") - excess.where(~is_own).sum("factor") / n_other
    rand_contrast = rand_drop.where(is_own).sum("factor") - (
        rand_drop.where(~is_own).sum("factor") / n_other
    )
    intact = score.sel({K: 0}).isel({RANKING: 0}).rename(factor_dim)
    intact = intact.assign_coords(factor=decoded).drop_vars([METRIC, RANKING], errors="ignore")
    chance = xr.DataArray(result["chance"].sel({METRIC: names}).values, dims=("factor",),
                          coords={"factor": decoded})  # fmt: skip
    readable = (intact > chance).sel(factor=own).drop_vars("factor")
    beyond = (contrast > 0) & (contrast > n_sd * rand_contrast.std(RANDOM, ddof=1))
    out = xr.Dataset(
        {
            "intact": intact.drop_vars([DIRECTION, "ranking_factor"], errors="ignore"),
            "chance": chance,
            "drop": drop.drop_vars([DIRECTION, "ranking_factor"], errors="ignore"),
            "random_drop_mean": rand_drop.mean(RANDOM),
            "random_drop_sd": rand_drop.std(RANDOM, ddof=1),
            "excess": excess.drop_vars([DIRECTION, "ranking_factor"], errors="ignore"),
            "contrast": contrast.drop_vars([DIRECTION, "ranking_factor"], errors="ignore"),
            "contrast_random_sd": rand_contrast.std(RANDOM, ddof=1),
            "double_dissociation": bool((beyond & readable).all()),
        }
    )
    out = out.assign_coords(own_factor=own)
    scalars = (K, "fraction", DIRECTION, "metric_units", "metric_factor")
    out = out.drop_vars([c for c in scalars if c in out.coords])
    out.attrs = {
        "measure": measure,
        "units": MEASURES[measure],
        "direction": direction,
        "n_sd": n_sd,
        "k": json.dumps(list(map(int, chosen))),
        "layer": result.attrs.get("layer", ""),
        "definition": "drop = score(k=0) - mean over k of score(k); excess = drop - random mean;"
        " contrast = own-factor excess - mean excess of the other factors",
    }
    return out


def dissociation_frame(result: xr.Dataset) -> pd.DataFrame | None:
    """:func:`double_dissociation` on every measure it can be read on, one block of rows each.

    Columns: ``measure``, ``ranking``, ``factor``, the per-(ranking, factor) numbers, ``own_factor``
    and ``double_dissociation`` (the measure's verdict, repeated on its rows). None when no
    measure has rankings about two or more of its decoded factors.
    """
    blocks = []
    for measure in MEASURES:
        _, ranked = _decoded_and_ranked(result, measure)
        owners = {str(result["ranking_factor"].sel({RANKING: r}).values) for r in ranked}
        if len(owners) < 2:
            continue
        table = double_dissociation(result, measure=measure)
        frame = table.drop_vars("double_dissociation").to_dataframe(dim_order=[RANKING, "factor"])
        frame = frame.reset_index()
        frame.insert(0, "measure", measure)
        frame["double_dissociation"] = bool(table["double_dissociation"])
        blocks.append(frame)
    return pd.concat(blocks, ignore_index=True) if blocks else None


def _decoded_and_ranked(result: xr.Dataset, measure: str) -> tuple[list[str], list[str]]:
    """The factors ``measure`` is recorded for, and the rankings about one of them."""
    decoded = [str(f) for f, m in zip(result["metric_factor"].values, result[METRIC].values,
                                      strict=True) if str(m).startswith(measure + ":")]  # fmt: skip
    ranked = [str(r) for r, f in zip(result[RANKING].values, result["ranking_factor"].values,
                                     strict=True) if str(f) in decoded]  # fmt: skip
    return decoded, ranked
