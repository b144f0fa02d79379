"""The HTML report: one self-contained ``report.html`` built from a results folder.

:func:`write_html` reads what a run saved (``units.nc``, ``tuning/*.nc``, ``response_maps/*.nc``,
``baseline/*.nc``, ``layers.nc``, ``ablation/``, ``plots/``, ``config.toml``, ``manifest.json``
and the attributes of the activations, not their values), computes no measure, and writes one
HTML file with every figure embedded as a PNG ``data:`` URI, inline style and no script, so it
opens offline and makes no request. Per layer it shows the summary numbers, the selectivity
scatter, histograms, the top units per factor (tuning curves and 2-D response maps), basis units
against random directions, the ablation curves when the run has them; then the configuration and
package versions that produced the results. :func:`factorprobe.report.build.make_report` calls it.
"""

from __future__ import annotations

import os
import tomllib
import warnings
from concurrent.futures import Executor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from factorprobe._validation import check_int
from factorprobe.dims import FACTOR, LAYER, UNIT
from factorprobe.io.files import atomic_output
from factorprobe.io.results import BASELINE, N_DIRECTIONS
from factorprobe.report import _html_parts as part
from factorprobe.report._html_sections import (
    Saved,
    layer_names,
    layer_section,
    layer_values,
    overview,
    provenance,
)
from factorprobe.report.cards import card_units, cards_section, saved_cards, submit_cards

__all__ = ["layer_summary", "write_html"]

REPORT = "report.html"
_PREFERRED_NONE = "none"


def write_html(
    results: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    top: int = 3,
    n_directions: int | None = None,
    dpi: int = 90,
    quiet: bool = False,
    pool: Executor | None = None,
) -> Path:
    """Write the self-contained HTML report of a results folder.

    Parameters
    ----------
    results : path-like
        A folder written by :func:`factorprobe.pipeline.runner.run` or
        :func:`factorprobe.pipeline.runner.analyze`
        (at least ``units.nc``; every other file is optional and its section is left out, with
        a note, when missing).
    out : path-like, optional
        Output file; default ``results/report.html``. Written atomically.
    top : int, default=3
        Units shown per layer and factor (largest bias-corrected MI).
    n_directions : int, optional
        Deprecated and ignored (it warns): the random-direction baseline is now an analysis
        output, ``baseline/random_directions.nc``, with
        :data:`factorprobe.io.results.N_DIRECTIONS` directions per layer, which the report only
        reads.
    dpi : int, default=90
        Resolution of the figures drawn for the report (saved PNGs are embedded as they are).
    quiet : bool, default=False
        No progress bar (it also stays off when standard error is not a terminal).
    pool : concurrent.futures.Executor, optional
        Where the unit cards are drawn (:func:`factorprobe.report.build.make_report` passes a
        second process, so they are drawn while this one draws the layers); default here.

    Returns
    -------
    Path
        The HTML file.

    Raises
    ------
    FileNotFoundError
        If ``results`` has no ``units.nc``.
    TypeError, ValueError
        For a non-integer or out-of-range ``top``, ``n_directions`` or ``dpi``.

    Warns
    -----
    DeprecationWarning
        When ``n_directions`` is given.

    Examples
    --------
    >>> from factorprobe.report.html import write_html
    >>> write_html("factorprobe-results")  # doctest: +SKIP
    PosixPath('factorprobe-results/report.html')
    """
    where = "write_html"
    top = check_int(top, name="top", where=where, minimum=1)
    if n_directions is not None:
        check_int(n_directions, name="n_directions", where=where, minimum=2)
        warnings.warn(
            "The 'n_directions' parameter of write_html is ignored and will be removed in the "
            "next release: the report draws the random directions the analysis saved "
            f"({N_DIRECTIONS} per layer, {BASELINE}).",
            DeprecationWarning,
            stacklevel=2,
        )
    dpi = check_int(dpi, name="dpi", where=where, minimum=10)
    results = Path(results)
    saved = Saved(results)
    names = layer_names(saved.table)
    summary = layer_summary(saved.table)
    carded = list(dict.fromkeys([*card_units(saved.table), *saved_cards(saved)]))
    saved.carded = set(carded)
    card_dpi = min(dpi, 80)  # a card is 14 in wide: 1120 px
    drawn = submit_cards(saved, carded, dpi=card_dpi, pool=pool) if pool is not None else None
    parts = [overview(saved, summary, dpi=dpi)]
    nav = [("overview", "Overview")]
    bar = tqdm(names, desc="report.html", unit="layer", disable=True if quiet else None)
    for i, name in enumerate(bar):
        anchor = f"layer-{i}"
        nav.append((anchor, f"Layer {name}"))
        parts.append(layer_section(saved, name, anchor, summary, top=top, dpi=dpi))
    nav.append(("cards", "Unit cards"))
    parts.append(cards_section(saved, carded, dpi=card_dpi, drawn=drawn))
    nav.append(("provenance", "Configuration & versions"))
    parts.append(provenance(saved))
    run_name = _run_name(saved)
    model = (saved.acts_attrs or {}).get("model", "")
    subtitle = [
        f"run {run_name!r} · model {model or 'unknown'} · {saved.table.sizes[UNIT]} units in "
        f"{len(names)} layer(s) · {saved.table.attrs.get('n_stimuli', '?')} stimuli",
        f"report written {datetime.now(UTC).isoformat(timespec='seconds')} from the files of "
        "the results folder (this page is self-contained: it can be moved or mailed alone)",
    ]
    document = part.page(f"factorprobe report: {run_name}", subtitle, nav, "\n".join(parts))
    path = Path(out) if out is not None else results / REPORT
    with atomic_output(path) as tmp:
        tmp.write_text(document, encoding="utf-8")
    return path


def layer_summary(table: xr.Dataset) -> pd.DataFrame:
    """Per layer: units, fraction significant and median MI per factor, SI, preferred factors.

    Parameters
    ----------
    table : Dataset
        A unit table (:func:`factorprobe.analysis.unit_table`) with ``mi`` over
        ``(unit, factor)``; ``q_value``, ``selectivity`` and ``preferred_factor`` are used when
        present. Without a ``layer`` coordinate all units form one row, ``"all units"``.

    Returns
    -------
    DataFrame
        One row per layer (index ``layer``, in the order of the units). Columns: ``units``;
        per factor ``q < α: <factor>`` (the fraction of the layer's units whose BH q-value is
        below the table's ``alpha``) and ``median MI <factor> (bits)``; ``median SI`` (NaN,
        i.e. units with no significant compared factor, excluded) and ``units with SI``; then
        ``preferred: <factor>`` counts, ``none`` included.

    Examples
    --------
    >>> from factorprobe.analysis import planted_units, unit_table
    >>> acts = planted_units(kinds=("size", "position"), n_units=4, noise=(0.3,), seed=0)
    >>> summary = layer_summary(unit_table(acts, n_permutations=50))
    >>> summary[["units", "preferred: size", "preferred: position"]].values.tolist()
    [[8, 4, 4]]
    """
    layers = layer_values(table)
    factors = [str(f) for f in table[FACTOR].values]
    alpha = float(table.attrs.get("alpha", 0.05))
    columns: dict[str, Any] = {"units": np.ones(len(layers), dtype=int)}
    for f in factors:
        if "q_value" in table:
            columns[f"q < {alpha:g}: {f}"] = (
                table["q_value"].sel({FACTOR: f}).values < alpha
            ) * 1.0
        columns[f"median MI {f} (bits)"] = table["mi"].sel({FACTOR: f}).values
    if "selectivity" in table:
        si = table["selectivity"].values
        columns["median SI"] = si
        columns["units with SI"] = np.isfinite(si).astype(int)
    frame = pd.DataFrame(columns, index=pd.Index(layers, name=LAYER))
    how = {c: "sum" if c in ("units", "units with SI") else "mean" for c in columns}
    how.update({c: "median" for c in columns if c.startswith("median")})
    summary = frame.groupby(level=LAYER, sort=False).agg(how)
    if "preferred_factor" in table:
        preferred = pd.crosstab(pd.Index(layers, name=LAYER), table["preferred_factor"].values)
        order = [*[f for f in factors if f in preferred], _PREFERRED_NONE]
        order += [c for c in preferred.columns if c not in order]
        preferred = preferred.reindex(columns=order, fill_value=0).add_prefix("preferred: ")
        summary = summary.join(preferred.reindex(summary.index))
    return summary


def _run_name(saved: Saved) -> str:
    """The run's name: manifest, else config.toml (the report stage runs before the manifest
    gets it), else the folder's name."""
    if "run" in saved.manifest:
        return str(saved.manifest["run"])
    try:
        name = tomllib.loads(saved.config).get("name") if saved.config else None
    except tomllib.TOMLDecodeError:
        name = None
    return str(name) if name else saved.results.resolve().name
