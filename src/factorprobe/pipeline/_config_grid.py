"""How a run's analysis follows its stimulus grid: defaults narrowed, and the checks across tables.

Used by :class:`factorprobe.pipeline.config.RunConfig` only. Default lists of factors (``tuning``
and
``decode`` of ``[analysis]``, ``rankings`` of ``[ablation]``) are narrowed to the factors the grid
varies and the unit table analyses, and the default ``n_bins`` to what the grid's stimuli allow,
so that a grid without ``y`` runs with its defaults; lists
the user gives, and the unit table's ``factors`` (what selectivity compares), are checked
against the grid instead. Every problem found is returned, so that a configuration's
errors are reported at once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from factorprobe.dims import FACTOR_GROUPS
from factorprobe.pipeline import _config_checks as ck

Levels = Mapping[str, tuple[Any, ...]]


def has(factor: str, levels: Levels) -> bool:
    """Whether the grid varies ``factor`` (a group such as position: any of its members)."""
    members = FACTOR_GROUPS.get(factor, (factor,))
    return any(len(levels.get(m, ())) > 1 for m in members)


def per_level(factor: str, levels: Levels, n_stimuli: int) -> int:
    """Stimuli per level of ``factor`` in the full grid (a group's level is a combination)."""
    members = FACTOR_GROUPS.get(factor, (factor,))
    return n_stimuli // math.prod(len(levels.get(m, ())) or 1 for m in members)


def follow_grid(analysis: Any, ablation: Any, levels: Levels, n_stimuli: int) -> tuple[Any, Any]:
    """``analysis`` and ``ablation`` with their default lists narrowed to the grid's factors,
    and the default ``n_bins`` lowered to what ``n_stimuli`` allow.

    A value the user gave is left as it is (and checked by :func:`grid_problems`).
    """
    changes: dict[str, Any] = {}
    for key in ("tuning", "decode"):  # level means and cross-validation need 2 per level
        value = getattr(analysis, key)
        if isinstance(value, ck.GridDefault):
            changes[key] = ck.GridDefault(
                f for f in value if has(f, levels) and per_level(f, levels, n_stimuli) >= 2
            )
    most = max(2, n_stimuli // 2)  # bins of at least 2 stimuli each (unit_table's rule)
    if isinstance(analysis.n_bins, ck.GridCount) and analysis.n_bins > most:
        changes["n_bins"] = ck.GridCount(most)
    decoded = changes.get("decode", analysis.decode)
    if isinstance(analysis.n_splits, ck.GridCount) and decoded:
        fewest = min(per_level(f, levels, n_stimuli) for f in decoded)
        if analysis.n_splits > fewest:
            changes["n_splits"] = ck.GridCount(max(2, fewest))
    if changes:
        analysis = replace(analysis, **changes)
    if ablation is not None and isinstance(ablation.rankings, ck.GridDefault):
        kept = [r for r in ablation.rankings if r.partition(":")[2] in analysis.factors]
        rankings = kept or [f"mi:{analysis.factors[0]}"]
        ablation = replace(ablation, rankings=ck.GridDefault(rankings))
    return analysis, ablation


def grid_problems(stimuli: Any, analysis: Any, ablation: Any, levels: Levels) -> list[Exception]:
    """Every disagreement between the grid and the analysis, and a grid that draws nothing."""
    problems: list[Exception] = []
    varied = [f for f, v in levels.items() if len(v) > 1]
    valid = ", ".join(repr(v) for v in varied + [g for g in FACTOR_GROUPS if has(g, levels)])
    for key in ("factors", "tuning", "decode"):
        unvaried = [f for f in getattr(analysis, key) if not has(f, levels)]
        if unvaried:
            names = ", ".join(repr(f) for f in unvaried)
            problems.append(
                ck.KeyValueError(
                    f"The {key!r} key of [analysis] names {names}, which the stimuli do not "
                    f"vary (one level or not a factor); valid: {valid or 'none'}.",
                    key,
                )
            )
    if ablation is not None:
        missing = sorted(ablation.ranked_factors() - set(analysis.factors))
        if missing:
            problems.append(
                ck.KeyValueError(
                    f"The 'rankings' key of [ablation] names factor {missing[0]!r}, which the "
                    f"unit table does not have; valid factors: "
                    f"{', '.join(repr(a) for a in analysis.factors)}.",
                    "rankings",
                )
            )
    n = stimuli.n_stimuli()
    thin = [f for f in analysis.tuning if has(f, levels) and per_level(f, levels, n) < 2]
    if thin:
        problems.append(
            ck.KeyValueError(
                f"The 'tuning' key of [analysis] names {', '.join(repr(f) for f in thin)}, "
                f"which the grid gives 1 stimulus per level; a tuning curve's level means "
                f"need at least 2 (vary another factor too, or remove it from 'tuning').",
                "tuning",
            )
        )
    for f in analysis.decode:
        count = per_level(f, levels, n)
        if has(f, levels) and count < analysis.n_splits:
            problems.append(
                ck.KeyValueError(
                    f"The 'n_splits' key of [analysis] must be at most {count} to decode {f!r}, "
                    f"which the grid gives {count} stimuli per level (each level must reach "
                    f"every fold); got {analysis.n_splits}"
                    + (" (or remove it from 'decode')." if count < 2 else "."),
                    "n_splits",
                )
            )
            break
    if analysis.quantizer != "threshold" and analysis.n_bins > max(2, n // 2):
        problems.append(
            ck.KeyValueError(
                f"[analysis]: The 'n_bins' parameter of unit_table must be at most "
                f"{max(2, n // 2)} for {n} stimuli (at least 2 stimuli per bin); got "
                f"{analysis.n_bins}.",
                "n_bins",
            )
        )
    if stimuli.foreground == stimuli.background:
        problems.append(
            ck.KeyValueError(
                f"The 'foreground' key of [stimuli] must differ from 'background' (both "
                f"{stimuli.foreground:g}): every stimulus would be blank, and any information "
                f"measured would be rounding noise.",
                "foreground",
            )
        )
    elif max(stimuli.contrast) == 0:
        problems.append(
            ck.KeyValueError(
                f"The 'contrast' key of [stimuli] must have a level above 0; got "
                f"{list(stimuli.contrast)} (contrast 0 draws nothing: every stimulus would be "
                f"blank, and any information measured would be rounding noise).",
                "contrast",
            )
        )
    return problems
