"""Sections of the HTML report, each built from the files a results folder holds.

:class:`Saved` reads the folder once: the tables and every measure the report draws, as the
analysis saved them (file names in :mod:`factorprobe.io.results`), and only the attributes of
the activations, never their values. Nothing is recomputed: a section whose file is missing is
replaced by a note naming it. Each section function returns an HTML string made from
:mod:`factorprobe.report._html_parts` (escaped text, pandas tables, embedded PNGs). The page
itself is assembled by :func:`factorprobe.report.html.write_html`.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import xarray as xr

from factorprobe.dims import FACTOR, LAYER, UNIT
from factorprobe.io.files import load_netcdf, read_json
from factorprobe.io.results import (
    BASELINE,
    BASIS_COMPARISON,
    MAP_VARIABLE,
    find_activations,
    response_map_file,
    tuning_file,
)
from factorprobe.report import _html_parts as part
from factorprobe.report._basis_panels import COMPARISON
from factorprobe.report._top_units import top_units

ALL_UNITS = "all units"
#: how a note tells the reader to get a missing file back
RECREATE = "`factorprobe analyze RESULTS` re-creates it"


class Saved:
    """What a results folder holds, read once (missing optional files are None or empty)."""

    def __init__(self, results: Path) -> None:
        path = results / "units.nc"
        if not path.is_file():
            raise FileNotFoundError(
                f"{str(results)!r} is not a results folder: it has no units.nc."
            )
        self.results = results
        self.table: xr.Dataset = load_netcdf(path)
        self.layers = self.optional("layers.nc")
        self.ablation = self.optional("ablation/ablation.nc")
        manifest = results / "manifest.json"
        self.manifest: dict[str, Any] = read_json(manifest) if manifest.is_file() else {}
        config = results / "config.toml"
        self.config = config.read_text(encoding="utf-8") if config.is_file() else ""
        #: the activations the folder was analysed from (its own, or the store ``analyze``
        #: recorded in the manifest when it wrote the tables elsewhere), or None
        self.activations = find_activations(results, self.manifest)
        self.acts_attrs = _activation_attrs(self.activations)
        self.baseline = self.optional(BASELINE)
        self.comparison = self.optional(BASIS_COMPARISON)
        #: (layer, index) of the units that have a card in the page (set by write_html)
        self.carded: set[tuple[str, int]] = set()
        self._curves: dict[str, xr.Dataset | None] = {}
        self._maps: dict[str, xr.DataArray | None] = {}

    def optional(self, name: str) -> xr.Dataset | None:
        """A saved NetCDF file of the folder (``name`` relative to it), or None."""
        path = self.results / name
        return load_netcdf(path) if path.is_file() else None

    def curves(self, factor: str) -> xr.Dataset | None:
        """The saved tuning curves of a factor (``tuning/<factor>.nc``), or None."""
        if factor not in self._curves:
            self._curves[factor] = self.optional(tuning_file(factor))
        return self._curves[factor]

    def all_maps(self) -> dict[str, xr.DataArray | None]:
        """Every saved response map, by the factor of the unit table it was saved for."""
        return {str(f): self.maps(str(f)) for f in self.table[FACTOR].values}

    def maps(self, factor: str) -> xr.DataArray | None:
        """The saved response maps of a factor (``response_maps/<factor>.nc``), or None."""
        if factor not in self._maps:
            saved = self.optional(response_map_file(factor))
            self._maps[factor] = None if saved is None else saved[MAP_VARIABLE]
        return self._maps[factor]


def _activation_attrs(path: Path | None) -> dict[str, Any] | None:
    """The attributes of the saved activations (model, weights, ...), without their values."""
    if path is None:
        return None
    if path.suffix != ".nc":
        from factorprobe.io.store import open_activations

        return dict(open_activations(path).attrs)
    with xr.open_dataarray(path, engine="h5netcdf") as opened:
        return dict(opened.attrs)


def layer_values(obj: xr.Dataset | xr.DataArray) -> np.ndarray:
    if LAYER in obj.coords and obj[LAYER].dims == (UNIT,):
        return obj[LAYER].values.astype(str)
    return np.full(obj.sizes[UNIT], ALL_UNITS)


def layer_names(table: xr.Dataset) -> list[str]:
    return list(dict.fromkeys(layer_values(table).tolist()))


def overview(saved: Saved, summary: pd.DataFrame, *, dpi: int = 90) -> str:
    table = saved.table
    attrs = table.attrs
    parts = [
        *at_a_glance(saved, dpi=dpi),
        part.note(
            "MI in bits, bias-corrected (so it can fall below 0): estimator "
            f"{attrs.get('estimator', '?')}, correction "
            f"{attrs.get('correction', '?')}, significance {attrs.get('significance', '?')} "
            f"({attrs.get('n_permutations', '?')} permutations), BH q-values per "
            f"{attrs.get('q_value_family', 'layer')}, α = {attrs.get('alpha', 0.05)}. "
            f"Null: {attrs.get('null', '?')}; test: {attrs.get('statistic', '?')}. "
            "q < α: fraction of a layer's units that code the factor by that test. "
            "SI = (I1 − I2)/(I1 + I2) over the compared factors "
            f"({attrs.get('compared', '?')}); units with no significant factor have no SI and "
            "preferred factor 'none'. Definitions: docs/estimators.md; every column of "
            "units.csv is described in data_dictionary.csv."
        ),
        part.heading(3, "Layers at a glance"),
        part.table(summary),
    ]
    missing = [n for n in (BASELINE, BASIS_COMPARISON) if not (saved.results / n).is_file()]
    if missing:
        parts.insert(
            1,
            part.note(
                f"This results folder has no {' or '.join(missing)} (an analysis by an older "
                f"factorprobe, or without activations): the basis-against-random-directions "
                f"sections are left out, and response maps where response_maps/ lacks them. "
                "The report only draws saved results; `factorprobe analyze RESULTS` re-creates "
                "them."
            ),
        )
    if saved.layers is not None and "accuracy" in saved.layers:
        decoding = saved.layers[["accuracy", "chance", "v_information"]].to_dataframe()
        parts += [
            part.heading(3, "Population decoding (cross-validated)"),
            part.note(
                "Accuracy of a cross-validated logistic-regression decoder of each factor from "
                "the whole layer, its chance level, and V-information (Xu et al. 2020) = H(F) − "
                "held-out cross-entropy, in bits (negative: the decoder does worse than the "
                "factor's marginal)."
            ),
            # (layer, factor) rows unstack to a DataFrame, never a Series
            part.table(cast(pd.DataFrame, decoding.unstack(FACTOR))),
        ]
    if saved.layers is not None and "cka" in saved.layers:
        parts += [
            part.heading(3, "Linear CKA between layers"),
            # a 2-D (layer, layer) DataArray converts to a DataFrame
            part.table(cast(pd.DataFrame, saved.layers["cka"].to_pandas())),
        ]
    sheet = saved.results / "plots" / "stimuli.png"
    if not sheet.is_file() and saved.activations is not None:  # analysed into another folder
        sheet = saved.activations.parent / "plots" / "stimuli.png"
    if sheet.is_file():
        parts += [
            part.heading(3, "Stimuli"),
            part.image(
                sheet.read_bytes(),
                alt="contact sheet of the stimuli",
                caption="Contact sheet: one stimulus per cell; its title line names the factors "
                "across and down (with their units) and the levels the others are held at.",
                css="sheet",
            ),
        ]
    return part.section("overview", "Overview", parts)


def at_a_glance(saved: Saved, *, dpi: int) -> list[str]:
    """The first screen: one sentence per layer and one figure, from :mod:`.summary`."""
    from factorprobe.report.summary import (
        coding_counts,
        first_screen_sentences,
        plot_first_screen,
    )

    if "q_value" not in saved.table:
        return [part.note("No q_value in units.nc: which units code which factor is unknown.")]
    counts = coding_counts(saved.table)
    sentences = first_screen_sentences(counts, layers=saved.layers, comparison=saved.comparison)
    fig = plot_first_screen(saved.table, counts, baseline=saved.baseline, layers=saved.layers)
    attrs = saved.table.attrs
    return [
        part.heading(3, "At a glance: which units code which factor"),
        part.glance(list(sentences.items())),
        part.image(
            part.png_bytes(fig, dpi=dpi),
            alt="which units code which factor, per layer",
            caption=f"Per layer: (a) units coding each factor by the table's test (BH q < "
            f"{attrs.get('alpha', 0.05)} per layer; {attrs.get('null', 'null in the attrs')}); "
            "(b) the selectivity index of the units with one, beside that of random directions "
            "of the layer analysed the same way; (c) the share of each unit's variance "
            "explained by each factor (η²); (d) the population decoders. Boxes: quartiles and "
            "median, whiskers 1.5 IQR.",
        ),
        part.table(counts),
    ]


def layer_section(
    saved: Saved,
    name: str,
    anchor: str,
    summary: pd.DataFrame,
    *,
    top: int,
    dpi: int,
) -> str:
    from factorprobe.report.table_plots import plot_histograms, plot_selectivity_scatter

    table = saved.table
    mask = layer_values(table) == name
    layer_table = table.isel({UNIT: np.flatnonzero(mask)})
    summary = summary.loc[[name]].astype(object).T
    parts = [part.heading(3, "Summary"), part.table(summary)]
    if saved.layers is not None and "accuracy" in saved.layers and name in saved.layers[LAYER]:
        decoding = saved.layers.sel({LAYER: name})
        variables = [
            v
            for v in ("accuracy", "chance", "v_information", "entropy_factor", "r2", "rmse")
            if v in decoding
        ]
        parts += [
            part.heading(4, "Decoding from the layer"),
            part.note(
                "Cross-validated: a logistic classifier of the levels (accuracy, chance, "
                "V-information in bits) and, for ordered factors, a ridge read-out of the values "
                "(r2; rmse in the factor's units, position as (x, y) in pixels). A many-level "
                "label with few stimuli per level can fail for lack of data where r2 does not "
                "(docs/population.md)."
            ),
            part.table(decoding[variables].to_dataframe()[variables]),
        ]
    figures = []
    compared = [c for c in str(table.attrs.get("compared", "")).split(",") if c]
    if len(compared) >= 2 and "selectivity" in table:
        fig = plot_selectivity_scatter(table, x=compared[0], y=compared[1], layer=name)
        figures.append(
            part.image(
                part.png_bytes(fig, dpi=dpi),
                alt=f"selectivity scatter of layer {name}",
                caption=f"MI with {compared[0]} against MI with {compared[1]} per unit (bits), "
                "coloured by the selectivity index.",
            )
        )
    variables = [v for v in ("mi", "selectivity", "modularity", "entropy") if v in table]
    fig = plot_histograms(table, variables=variables, layer=name)
    figures.append(
        part.image(
            part.png_bytes(fig, dpi=dpi),
            alt=f"histograms of layer {name}",
            caption="Distributions over the layer's units (NaN excluded).",
        )
    )
    parts.append(part.row(figures))
    parts += top_units(saved, layer_table, name, top=top, dpi=dpi)
    parts += _basis(saved, name, dpi=dpi)
    parts += _ablation(saved, name, dpi=dpi)
    return part.section(anchor, f"Layer {name}", parts)


def _basis(saved: Saved, name: str, *, dpi: int) -> list[str]:
    from factorprobe.report.table_plots import plot_basis_vs_random

    table, baseline, saved_comparison = saved.table, saved.baseline, saved.comparison
    parts = [part.heading(3, "Basis units against random directions")]
    if baseline is None or saved_comparison is None:
        path = BASELINE if baseline is None else BASIS_COMPARISON
        return [*parts, part.note(f"Not drawn: {path} is not in the results folder "
                                  f"({RECREATE}, from the saved activations).")]  # fmt: skip
    if name not in saved_comparison[LAYER].values.astype(str):
        return [*parts, part.note(f"No random directions of layer {name} in {BASELINE}.")]
    layer_table = table.isel({UNIT: np.flatnonzero(layer_values(table) == name)})
    layer_base = baseline.isel({UNIT: np.flatnonzero(layer_values(baseline) == name)})
    one = saved_comparison.sel({LAYER: name})
    comparison = pd.DataFrame(
        {str(v): one[v].values for v in one.data_vars},
        index=one[COMPARISON].values.astype(str),
    )
    counts = [str(c) for c in comparison if str(c).startswith("n_")]
    comparison = comparison.astype(object).astype({c: int for c in counts})
    columns = [
        "n_units", "n_baseline", "median_units", "median_baseline", "baseline_percentile",
        "fraction_above", "baseline_fraction_above", "probability_greater", "p_value",
    ]  # fmt: skip
    parts += [
        part.note(
            f"{layer_base.sizes[UNIT]} unit-norm random directions of the layer's activation "
            "space, analysed exactly like the units (same estimator, permutations and seed). "
            "fraction_above: basis units above the directions' 95th percentile (chance: "
            "baseline_fraction_above); probability_greater: P(unit > direction); p_value: "
            "one-sided Mann–Whitney. NaN values excluded. See docs/directions.md."
        ),
        part.table(comparison[[c for c in columns if c in comparison]].rename(columns=_spaced)),
    ]
    tied = [str(c) for c in comparison.index if comparison.loc[c, "baseline_fraction_above"] == 0]
    if tied:
        parts.append(
            part.note(
                f"Read with care: for {', '.join(tied)} no random direction is above the "
                "directions' own 95th percentile (baseline fraction above 0), i.e. their values "
                "tie at the top (an SI of 1, a saturated MI), so 'fraction above' is 0 whatever "
                "the units do; compare the medians and P(unit > direction) instead."
            )
        )
    figures = []
    for measure in [m for m in ("selectivity", "mi") if m in table]:
        if not _comparable(layer_table[measure], layer_base[measure]):
            figures.append(part.note(f"{measure}: no finite values on one side; nothing to draw."))
            continue
        fig = plot_basis_vs_random(
            table, baseline, measure=measure, layer=name, comparison=saved_comparison
        )
        _wrap_suptitle(fig)
        figures.append(
            part.image(
                part.png_bytes(fig, dpi=dpi),
                alt=f"{measure}: basis units against random directions in layer {name}",
                caption=f"{measure}: distribution over the units and over the random directions.",
            )
        )
    parts.append(part.row(figures))
    return parts


def _spaced(name: str) -> str:
    """A variable name as a header that can wrap (underscores to spaces)."""
    return name.replace("_", " ")


def _wrap_suptitle(fig) -> None:
    """Wrap the figure's title to its width (a one-column figure clips a long title)."""
    title = fig.get_suptitle()
    width = max(20, int(fig.get_figwidth() * 9))
    if title and len(title) > width:
        fig.suptitle(textwrap.fill(title, width))


def _comparable(units: xr.DataArray, base: xr.DataArray) -> bool:
    """Both sides have a finite value (for every factor, for a per-factor measure)."""
    over = [d for d in units.dims if d != UNIT]
    # NumPy ufuncs on a DataArray return a DataArray (the stubs say ndarray)
    finite_u = cast(xr.DataArray, np.isfinite(units)).any(UNIT)
    finite_b = cast(xr.DataArray, np.isfinite(base)).any(UNIT)
    return bool((finite_u & finite_b).all()) if over else bool(finite_u and finite_b)


def _ablation(saved: Saved, name: str, *, dpi: int) -> list[str]:
    result = saved.ablation
    if result is None or str(result.attrs.get("layer", "")) != name:
        return []
    png = saved.results / "ablation" / "ablation.png"
    if png.is_file():
        data = png.read_bytes()
    else:
        from factorprobe.report.ablation_plots import plot_ablation_curves

        data = part.png_bytes(plot_ablation_curves(result), dpi=dpi)
    parts = [
        part.heading(3, "Cumulative ablation"),
        part.note(
            f"Units of {name} set to {result.attrs.get('method', 'zero')} cumulatively in the "
            "order of each ranking (solid: highest first, dashed: lowest first) against random "
            "orders (grey band: mean ± sd). Decodability from the read-out layer as a label "
            "(decoding_accuracy, v_information) and, for ordered factors, as a value "
            "(decoding_r2: held-out R² of a ridge read-out). See docs/ablation.md."
        ),
        part.image(data, alt=f"ablation curves of layer {name}"),
    ]
    dissociation = saved.results / "ablation" / "dissociation.csv"
    if dissociation.is_file():
        parts += [
            part.heading(4, "Dissociation (per measure)"),
            part.table(pd.read_csv(dissociation), index=False),
        ]
    return parts


def provenance(saved: Saved) -> str:
    from factorprobe._version import __version__

    parts = []
    if saved.config:
        parts += [part.heading(3, "Configuration (config.toml)"), part.preformatted(saved.config)]
    else:
        parts.append(part.note("No config.toml in the results folder."))
    versions = saved.manifest.get("versions")
    if versions:
        frame = pd.Series(versions, name="version").rename_axis("package").to_frame()
        parts += [
            part.heading(3, "Versions that produced the results (manifest.json)"),
            part.table(frame),
        ]
    else:
        parts.append(part.note("No versions recorded (no manifest.json)."))
    if saved.acts_attrs is not None:
        attrs = {k: str(v) for k, v in saved.acts_attrs.items()}
        frame = pd.Series(attrs, name="value").rename_axis("attribute").to_frame()
        parts += [part.heading(3, "Model and stimuli (activation attributes)"), part.table(frame)]
    parts.append(part.note(f"Report written by factorprobe {__version__}."))
    return part.section("provenance", "Configuration & versions", parts)
