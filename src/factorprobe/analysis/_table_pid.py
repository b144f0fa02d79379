"""The unit table's optional partial-information columns (``unit_table(pid=...)``).

The decomposition is :func:`~factorprobe.analysis.pid.decomposition`, the kernel behind
:func:`~factorprobe.analysis.partial_information`, with the table's quantiser and seed. It
depends on a unit's own responses and the design only, so on a dask-backed input it runs block
by block along ``unit`` beside the table's own pass (lazily, on the same blocks of responses),
and in memory on a numpy input.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

import dask.array as da
import numpy as np

from factorprobe.analysis._restricted import CORRECTION_PERMUTATIONS, correction_permutations
from factorprobe.analysis.design import FactorCodes
from factorprobe.analysis.pid import (
    DECOMPOSITION,
    check_sources,
    decomposition,
    decomposition_attrs,
)
from factorprobe.dims import FACTOR, UNIT


def pid_sources(
    pid: Sequence[str] | None, names: list[str], coded: list[FactorCodes], *, where: str
) -> tuple[FactorCodes, FactorCodes] | None:
    """The two sources the ``pid`` option names (factors of the table), or None when off."""
    if pid is None:
        return None
    chosen = [pid] if isinstance(pid, str) else list(pid) if isinstance(pid, Sequence) else pid
    if (
        not isinstance(chosen, list)
        or len(chosen) != 2
        or chosen[0] == chosen[1]
        or any(c not in names for c in chosen)
    ):
        raise ValueError(
            f"The 'pid' parameter of {where} must name 2 different factors of the table "
            f"({', '.join(repr(n) for n in names)}) or be None; got {pid!r}."
        )
    a, b = (coded[names.index(c)] for c in chosen)
    check_sources(a, b, where=where)
    return a, b


def pid_options(estimation, n_stimuli: int) -> dict[str, object]:
    """The decomposition's options from the table's: its quantiser and seed; shuffle-corrected
    (as many shuffles as the table's restricted null means) unless ``correction="none"``."""
    return {
        "quantizer": estimation.quantizer,
        "n_bins": estimation.n_bins,
        "threshold": estimation.threshold,
        "correction": "none" if estimation.correction == "none" else "shuffle",
        # a table drawing no shuffles (analytic correction, G-test) still corrects the PID
        "n_permutations": correction_permutations(
            estimation.n_permutations or CORRECTION_PERMUTATIONS, n_stimuli
        ),
        "seed": estimation.seed,
    }


def pid_variables(
    values, sources: tuple[FactorCodes, FactorCodes], names: list[str], options: dict
) -> dict[str, tuple]:
    """``{name: (dims, array)}`` of the PID variables for responses ``(U, S)``: a numpy array
    (computed now) or a dask array with every stimulus in each block (lazy)."""
    a, b = sources
    xp: ModuleType = da if isinstance(values, da.Array) else np
    if xp is da:
        width = (len(DECOMPOSITION),)
        out = da.map_blocks(
            decomposition, values, a, b, **options, chunks=(values.chunks[0], width), dtype=float
        )
    else:
        out = decomposition(values, a, b, **options)
    column = {name: out[:, i] for i, name in enumerate(DECOMPOSITION)}
    missing = xp.full_like(column["redundancy"], np.nan)
    unique = {a.name: column["unique_a"], b.name: column["unique_b"]}
    return {
        "pid_redundancy": ((UNIT,), column["redundancy"]),
        "pid_unique": ((UNIT, FACTOR), xp.stack([unique.get(n, missing) for n in names], axis=1)),
        "pid_synergy": ((UNIT,), column["synergy"]),
    }


def pid_attrs(sources: tuple[FactorCodes, FactorCodes], options: dict) -> dict[str, object]:
    """The table attrs that describe its PID columns (``pid_measure``, ``pid_null``, ...)."""
    attrs = decomposition_attrs(*sources, **options)
    keep = ("measure", "factors", "correction", "n_permutations", "null", "joint_correction")
    return {f"pid_{k}": attrs[k] for k in keep}
