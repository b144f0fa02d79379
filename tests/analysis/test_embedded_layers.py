"""The unit table and the basis baselines on the embedded model's FC layers, end to end."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from factorprobe.analysis.basis import basis_comparison
from factorprobe.analysis.directions import principal_components, random_directions
from factorprobe.analysis.table import unit_table

LAYERS = ["pool", "fc1", "fc2", "fc3", "classifier"]


@pytest.fixture(scope="module")
def acts() -> xr.DataArray:
    """3 sizes × 3 x × 3 y × 2 shapes = 54 stimuli on the 224 px canvas the model needs."""
    from factorprobe.probing import capture, load_model
    from factorprobe.stimuli import grid, render

    space = grid(size=[20, 36, 52], x=[60, 112, 164], y=[60, 112, 164], shape=["disc", "cross"])
    return capture(load_model("embedded"), render(space, canvas=224), progress=False)


@pytest.fixture(scope="module")
def tables(acts):
    pseudo = random_directions(acts, 32, seed=0)
    options = {"factors": ["size", "position"], "n_permutations": 200, "seed": 0}
    return pseudo, unit_table(acts, **options), unit_table(pseudo, **options)


def test_pseudo_units_of_the_embedded_layers(acts, tables):
    pseudo, _, _ = tables
    assert list(dict.fromkeys(acts["layer"].values.tolist())) == LAYERS
    assert dict(pseudo.sizes) == {"stimulus": 54, "unit": 32 * len(LAYERS)}
    assert list(dict.fromkeys(pseudo["layer"].values.tolist())) == LAYERS
    assert np.isfinite(pseudo.values).all()
    assert pseudo.attrs["model"] == "embedded" and pseudo.attrs["basis"] == "random"
    np.testing.assert_array_equal(pseudo["shape"].values, acts["shape"].values)


def test_unit_tables_of_units_and_directions_are_finite(acts, tables):
    _, units, baseline = tables
    for table, n in ((units, acts.sizes["unit"]), (baseline, 32 * len(LAYERS))):
        assert table.sizes == {"unit": n, "factor": 2}
        for name in ("mi", "mi_raw", "p_value", "q_value", "entropy"):
            assert np.isfinite(table[name].values).all(), name
        assert ((table["p_value"] > 0) & (table["p_value"] <= 1)).all()
        si = table["selectivity"].values
        none = table["preferred_factor"].values == "none"
        assert np.isnan(si[none]).all()
        assert ((si[~none] >= 0) & (si[~none] <= 1)).all()
    # the embedded model codes size in its pooled features (a property of the shipped weights)
    pool = units.sel(unit=units.layer == "pool")
    assert (pool["q_value"].sel(factor="size") < 0.05).mean() > 0.5


def test_basis_comparison_on_the_embedded_layers(acts, tables):
    _, units, baseline = tables
    res = basis_comparison(units, baseline)
    assert res["layer"].values.tolist() == LAYERS
    width = {name: int((acts["layer"] == name).sum()) for name in LAYERS}
    np.testing.assert_array_equal(
        res["n_units"] + res["n_missing_units"], [width[name] for name in LAYERS]
    )
    np.testing.assert_array_equal(res["n_baseline"] + res["n_missing_baseline"], 32)
    compared = (res["n_units"] > 0) & (res["n_baseline"] > 0)
    for name in ("fraction_above", "fraction_at_or_above", "p_value", "probability_greater"):
        values = res[name].values[compared.values]
        assert ((values >= 0) & (values <= 1)).all(), name
    assert compared.sum() >= 3


def test_principal_components_of_an_embedded_layer(acts):
    pcs = principal_components(acts, layers="fc1")
    assert 1 <= pcs.sizes["unit"] <= 53  # at most the rank of 54 centred stimuli
    cov = np.cov(pcs.values.T)
    scale = np.diag(cov).max()
    np.testing.assert_allclose(cov - np.diag(np.diag(cov)), 0.0, atol=1e-8 * scale)
    assert float(pcs["explained_variance_ratio"].sum()) == pytest.approx(1.0, abs=1e-9)
