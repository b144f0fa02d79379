"""Split activations into per-layer matrices and factors into codes for the layer-level measures.

A building block, public so that the interventions share the layer-level measures' checks and
seed conventions; it is not exported from :mod:`factorprobe.analysis`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from factorprobe._validation import as_rng
from factorprobe.analysis._estimate import seed_int
from factorprobe.analysis.design import FactorCodes, factor_codes
from factorprobe.analysis.quantize import check_responses
from factorprobe.dims import LAYER, STIMULUS, UNIT

__all__ = ["check_factor_list", "layer_blocks", "random_state", "seed_attr"]


def layer_blocks(
    acts: object, *, where: str, min_units: int = 1
) -> tuple[xr.DataArray, list[tuple[str, np.ndarray]]]:
    """Validate the activations and return them with one ``(S, U_layer)`` float64 array per layer.

    Layers keep the order of their first unit along ``unit``.
    """
    checked = check_responses(acts, where=where)
    if LAYER not in checked.coords or checked[LAYER].dims != (UNIT,):
        raise ValueError(
            f"{where} needs a 'layer' coordinate on 'unit' to group units into layers; got "
            f"coordinates {sorted(map(str, checked.coords))}; add one with "
            "acts.assign_coords(layer=('unit', names))."
        )
    labels = np.asarray(checked[LAYER].values).astype(str)
    values = np.asarray(checked.transpose(STIMULUS, UNIT).values, dtype=np.float64)
    blocks = []
    for name in map(str, pd.unique(labels)):
        block = values[:, labels == name]
        if block.shape[1] < min_units:
            raise ValueError(
                f"Layer {name!r} has {block.shape[1]} unit(s); {where} needs at least "
                f"{min_units} units per layer."
            )
        blocks.append((name, block))
    return checked, blocks


def check_factor_list(
    acts: xr.DataArray, factors: object, *, where: str, min_factors: int = 1
) -> list[FactorCodes]:
    """Return the level codes of each named factor (a str is one factor), rejecting duplicates."""
    if isinstance(factors, str):
        factors = [factors]
    if not isinstance(factors, Sequence) or not all(isinstance(f, str) for f in factors):
        raise TypeError(
            f"The 'factors' parameter of {where} must be a sequence of factor names; "
            f"got {factors!r}."
        )
    if len(factors) < min_factors:
        raise ValueError(
            f"The 'factors' parameter of {where} must name at least {min_factors} factors; "
            f"got {list(factors)!r}."
        )
    if len(set(factors)) != len(factors):
        raise ValueError(
            f"The 'factors' parameter of {where} names a factor twice; got {list(factors)!r}."
        )
    return [factor_codes(acts, f, where=where) for f in factors]


def random_state(seed: int | np.random.Generator | None) -> int:
    """An int ``random_state`` for scikit-learn, derived from the seed through ``as_rng``."""
    return int(as_rng(seed).integers(2**31 - 1))


def seed_attr(seed: int | np.random.Generator | None) -> int:
    """The int seed a measure draws with and records as ``attrs["seed"]``, so that it reproduces.

    An int seed is itself; None or a Generator gives an int drawn from it (as
    :func:`~factorprobe.analysis.unit_table` does), so ``attrs["seed"]`` is an int everywhere.
    """
    return seed_int(seed)
