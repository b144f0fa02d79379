"""The unit table in the regime of a real network: deterministic units on a crossed grid.

DESIGN §6: an uncoded factor's corrected MI is centred on 0, uncoded factors are called
significant no more often than α, weak codes from a few % of the variance are found, and the
selectivity index tracks the planted mix. The noisy-sample regime is covered by
test_validation.py and test_table.py; the same checks run there too where they apply.
"""

from __future__ import annotations

import numpy as np
import pytest

from factorprobe.analysis import unit_table
from factorprobe.analysis._restricted import design_strata, restricted_shuffles
from factorprobe.analysis.design import factor_codes
from factorprobe.analysis.planted import planted_units

KINDS = ("size", "position", "additive", "conjunctive", "mixed")
MIXES = (0.03, 0.1, 0.3)


@pytest.fixture(scope="module", params=[(6, 7, 7), (5, 4, 6)], ids=["6x7x7", "5x4x6"])
def deterministic(request):
    n_sizes, n_x, n_y = request.param
    acts = planted_units(
        kinds=KINDS,
        n_units=40,
        noise=(0.0,),
        n_sizes=n_sizes,
        n_x=n_x,
        n_y=n_y,
        mix=MIXES,
        seed=3,
    )
    return acts, unit_table(acts, n_permutations=400)


def _kind(acts, name):
    return acts["kind"].values == name


def test_uncoded_factor_is_centred_on_zero(deterministic):
    acts, table = deterministic
    for kind, uncoded in (("size", "position"), ("position", "size")):
        mi = table["mi"].sel(factor=uncoded).values[_kind(acts, kind)]
        assert abs(np.median(mi)) <= 0.02, (kind, np.median(mi))
        assert mi.min() >= -0.05, (kind, mi.min())


def test_uncoded_factor_not_called_significant(deterministic):
    acts, table = deterministic
    for kind, uncoded in (("size", "position"), ("position", "size")):
        p = table["p_value"].sel(factor=uncoded).values[_kind(acts, kind)]
        assert np.mean(p < 0.05) <= 0.05
    # the coded factor is always found, and the preferred factor is the planted one
    for kind in ("size", "position"):
        q = table["q_value"].sel(factor=kind).values[_kind(acts, kind)]
        assert np.all(q < 0.05)
        assert np.all(table["preferred_factor"].values[_kind(acts, kind)] == kind)


def test_weak_codes_riding_on_strong_ones_are_found(deterministic):
    acts, table = deterministic
    share = acts["position_share"].values
    for w in MIXES:
        chosen = _kind(acts, "mixed") & np.isclose(share, w)
        q = table["q_value"].sel(factor="position").values[chosen]
        assert np.mean(q < 0.05) >= 0.99, (w, np.mean(q < 0.05))
        assert np.all(table["q_value"].sel(factor="size").values[chosen] < 0.05)
    for kind in ("additive", "conjunctive"):
        q = table["q_value"].sel(factor=["size", "position"]).values[_kind(acts, kind)]
        assert np.mean(q < 0.05) >= 0.95, kind


def test_selectivity_tracks_the_planted_mix(deterministic):
    acts, table = deterministic
    share = acts["position_share"].values
    chosen = _kind(acts, "mixed")
    medians = [np.median(table["selectivity"].values[chosen & np.isclose(share, w)]) for w in MIXES]
    # more position, less exclusively size; never pinned at 1 by clipping
    assert medians[0] > medians[1] > medians[2], medians
    assert medians[0] < 1.0
    assert np.mean(table["selectivity"].values[chosen] == 1.0) <= 0.05
    # variance explained recovers the planted share exactly (crossed grid, additive code)
    eta = table["eta_squared"].sel(factor="position").values[chosen]
    np.testing.assert_allclose(eta, share[chosen], atol=1e-9)
    omega = table["omega_squared"].sel(factor="position").values[chosen]
    np.testing.assert_allclose(omega, share[chosen], atol=1e-9)
    interaction = table["eta_squared_interaction"].values[chosen]
    np.testing.assert_allclose(interaction, 0.0, atol=1e-9)
    assert np.all(table["eta_squared_interaction"].values[_kind(acts, "conjunctive")] > 0.01)
    omega_si = table["selectivity_omega"].values[chosen]
    np.testing.assert_allclose(omega_si, (1 - 2 * share[chosen]) / 1.0, atol=1e-9)


def test_attrs_name_the_null_and_the_statistic(deterministic):
    _, table = deterministic
    assert table.attrs["null"] == (
        "size: within levels of position; position: within levels of size"
    )
    assert "eta_squared_within" in table.attrs["statistic"]
    assert table.attrs["crossed"] == 1
    assert table.attrs["correction_permutations"] == 100


def test_free_null_reproduces_the_old_negative_bias():
    # the documented failure this null fixes: free shuffles break the grid's balance
    acts = planted_units(kinds=("size",), n_units=10, noise=(0.0,), n_sizes=6, n_x=7, n_y=7)
    free = unit_table(acts, null="free", n_permutations=200)
    restricted = unit_table(acts, n_permutations=200)
    assert free["mi"].sel(factor="position").max() < -0.15
    assert abs(float(restricted["mi"].sel(factor="position").median())) < 0.01


def test_noise_units_on_a_grid_have_uniform_p_values():
    # the sample regime on a crossed grid: restricted shuffles keep p-values calibrated
    acts = planted_units(
        kinds=("noise", "size"),
        n_units=150,
        noise=(1.0,),
        n_sizes=5,
        n_x=4,
        n_y=4,
        repeats=2,
        seed=5,
    )
    table = unit_table(acts, n_permutations=200)
    noise = acts["kind"].values == "noise"
    for factor in ("size", "position"):
        p = table["p_value"].sel(factor=factor).values[noise]
        assert 0.01 <= np.mean(p < 0.05) <= 0.10, (factor, np.mean(p < 0.05))
        assert 0.35 <= np.median(p) <= 0.65
    # size units: position uncoded; size found at least as often as with free shuffles
    # (measured: 0.91 vs 0.85 of p < 0.05 at this low signal-to-noise ratio)
    size = acts["kind"].values == "size"
    assert np.mean(table["p_value"].sel(factor="position").values[size] < 0.05) <= 0.1
    free = unit_table(acts, n_permutations=200, null="free")
    found = np.mean(table["p_value"].sel(factor="size").values[size] < 0.05)
    assert found >= np.mean(free["p_value"].sel(factor="size").values[size] < 0.05) - 0.02
    assert found >= 0.8


def test_restricted_shuffles_stay_within_strata():
    acts = planted_units(kinds=("size",), n_units=1, noise=(0.0,), n_sizes=3, n_x=4, n_y=2)
    size, position = factor_codes(acts, "size"), factor_codes(acts, "position")
    strata = design_strata([size, position], ["size", "position"])
    assert strata[0].names == ("position",) and strata[1].names == ("size",)
    perms = restricted_shuffles(position.codes, strata[1], 50, 0, "position")
    for perm in perms:
        for level in range(size.n_levels):
            inside = size.codes == level
            assert sorted(perm[inside]) == sorted(position.codes[inside])
    assert len({tuple(p) for p in perms}) > 40  # actually shuffled
    again = restricted_shuffles(position.codes, strata[1], 50, 0, "position")
    np.testing.assert_array_equal(perms, again)


def test_restricted_null_mean_matches_explicit_shuffles():
    from factorprobe.analysis._kernels import copula as _copula
    from factorprobe.analysis._restricted import copula_null_mean

    acts = planted_units(
        kinds=("additive", "position"), n_units=3, noise=(0.0,), n_sizes=4, n_x=3, n_y=3, seed=1
    )
    size, position = factor_codes(acts, "size"), factor_codes(acts, "position")
    strata = design_strata([size, position], ["size", "position"])
    scores = _copula.rank_scores(acts.values.T, 0)[0]
    perms = restricted_shuffles(size.codes, strata[0], 30, 0, "size")
    explicit = np.mean(
        [_copula.gaussian_discrete_mi(scores, p, size.n_levels, bias_correct=False) for p in perms],
        axis=0,
    )
    np.testing.assert_allclose(copula_null_mean(scores, perms, size.n_levels), explicit, rtol=1e-10)


def test_entropy_is_on_a_fixed_quantiser_and_bounds_the_information():
    acts = planted_units(
        kinds=("size", "position", "conjunctive"),
        n_units=8,
        noise=(0.0,),
        n_sizes=6,
        n_x=7,
        n_y=7,
        seed=2,
    )
    # Swish-like responses: active on part of the stimuli only
    acts = acts - 0.5
    table = unit_table(acts, n_permutations=100)
    entropy = table["entropy"].values
    assert entropy.min() >= 0 and entropy.max() <= 3.0 + 1e-12
    assert np.ptp(entropy) > 0.3  # not log2(n_bins) for every unit
    assert np.all(table["entropy_threshold"].values <= 1.0 + 1e-12)
    active = (acts.values > 0).mean(axis=0)
    expected = -(
        active * np.log2(np.where(active > 0, active, 1))
        + (1 - active) * np.log2(np.where(active < 1, 1 - active, 1))
    )
    np.testing.assert_allclose(table["entropy_threshold"].values, expected, atol=1e-12)
    # on the same quantiser the plug-in information never exceeds the entropy
    for quantizer, column in (("uniform", "entropy"), ("threshold", "entropy_threshold")):
        plug = unit_table(acts, estimator="plugin", quantizer=quantizer, n_permutations=50)
        assert np.all(plug["mi_raw"].values <= plug[column].values[:, None] + 1e-12), quantizer


def test_embedded_layer_that_decodes_x_has_position_units():
    # DESIGN §6: on a real network the per-unit story must agree with the population decoder
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import factorprobe as fp

    xs = [40.0, 64.0, 88.0, 112.0, 136.0, 160.0, 184.0]
    # the default run's grid: 6 sizes x 7 x 7 positions, one disc per cell
    space = fp.stimuli.grid(size=[16.0, 24.0, 32.0, 40.0, 48.0, 56.0], x=xs, y=xs, shape="disc")
    acts = fp.probing.capture(fp.probing.load_model("embedded"), fp.stimuli.render(space))
    fc1 = fp.probing.layer(acts, "fc1")
    decoder = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    accuracy = cross_val_score(decoder, fc1.values, fc1["x"].values, cv=folds).mean()
    assert accuracy > 2 / len(xs)  # well above chance (1/7)
    table = unit_table(acts, layers="fc1", n_permutations=400)
    position = table["q_value"].sel(factor="position").values < 0.05
    # measured: 72 of 128 units (with free shuffles, 8)
    assert position.mean() >= 0.3, position.mean()
    # and those units' selectivity is not pinned at "exclusively size" (mi and p_value are
    # different statistics, so a few significant units can still have mi <= 0 and SI = 1)
    # (measured: 66 of the 72)
    assert np.mean(table["selectivity"].values[position] < 1.0) >= 0.75


def test_conditional_mi_on_a_one_per_cell_grid_points_to_the_table():
    from factorprobe.analysis import conditional_mutual_information

    acts = planted_units(kinds=("size",), n_units=2, noise=(0.0,), n_sizes=3, n_x=3, n_y=3)
    with pytest.raises(ValueError, match=r"degenerate .* use unit_table, whose p_value"):
        conditional_mutual_information(acts, "size", "position")


def test_designs_that_are_not_crossed_keep_the_null_valid():
    # dropped misfits: the largest sizes lose the border positions (unequal counts per size)
    acts = planted_units(
        kinds=("size", "position", "noise"),
        n_units=60,
        noise=(0.0,),
        n_sizes=5,
        n_x=6,
        n_y=6,
        seed=4,
    )
    kind = acts["kind"].values
    rng = np.random.default_rng(0)
    acts = acts.copy(data=np.where(kind == "noise", rng.standard_normal(acts.shape), acts.values))
    border = np.isin(acts["x"], [40.0, 184.0]) | np.isin(acts["y"], [40.0, 184.0])
    keep = ~(border & (acts["size"].values >= 52))
    dropped = acts.isel(stimulus=keep)
    with pytest.warns(UserWarning, match="confounds"):
        table = unit_table(dropped, n_permutations=300)
    assert table.attrs["crossed"] == 0
    for k, uncoded in (("size", "position"), ("position", "size")):
        mi = table["mi"].sel(factor=uncoded).values[kind == k]
        assert abs(np.median(mi)) <= 0.02 and mi.min() >= -0.05, (k, np.median(mi), mi.min())
        assert np.mean(table["p_value"].sel(factor=uncoded).values[kind == k] < 0.05) <= 0.05
    noise = table["p_value"].values[kind == "noise"]
    assert 0.01 <= np.mean(noise < 0.05) <= 0.10
    assert np.isnan(table["eta_squared_interaction"].values).all()

    # a random design, factors binned into levels by the user: strata are the binned levels
    n = 1500
    size = rng.integers(0, 5, n) * 10.0 + 20
    x, y = rng.integers(0, 4, n) * 40.0 + 40, rng.integers(0, 4, n) * 40.0 + 40
    values = np.concatenate(
        [rng.standard_normal((n, 100)), (size[:, None] / 60) + 0.5 * rng.standard_normal((n, 30))],
        axis=1,
    )
    import xarray as xr

    random = xr.DataArray(
        values,
        dims=("stimulus", "unit"),
        coords={"size": ("stimulus", size), "x": ("stimulus", x), "y": ("stimulus", y)},
    )
    table = unit_table(random, n_permutations=300)
    p = table["p_value"].values
    assert 0.01 <= np.mean(p[:100] < 0.05) <= 0.10
    assert np.mean(p[100:, 1] < 0.05) <= 0.15 and np.all(table["q_value"].values[100:, 0] < 0.05)


def test_within_stratum_statistic_and_p_value_match_an_explicit_loop():
    from scipy import special, stats

    acts = planted_units(
        kinds=("mixed", "noise"),
        n_units=4,
        noise=(0.5,),
        n_sizes=4,
        n_x=3,
        n_y=3,
        repeats=2,
        mix=(0.2,),
        seed=6,
    )
    table = unit_table(acts, n_permutations=300, seed=2)
    size, position = factor_codes(acts, "size"), factor_codes(acts, "position")
    strata = design_strata([size, position], ["size", "position"])
    perms = restricted_shuffles(position.codes, strata[1], 300, 2, "position")

    def eta(scores, codes):
        means = np.bincount(codes, weights=scores) / np.bincount(codes)
        between = (np.bincount(codes) * (means - scores.mean()) ** 2).sum()
        return between / ((scores - scores.mean()) ** 2).sum()

    for u in range(acts.sizes["unit"]):
        r = acts.values[:, u]
        scores = np.empty_like(r)
        for level in range(size.n_levels):  # position's strata are the sizes
            inside = size.codes == level
            ranks = stats.rankdata(r[inside])  # continuous responses: no ties
            scores[inside] = special.ndtri(ranks / (inside.sum() + 1))
        observed = eta(scores, position.codes)
        got = table["eta_squared_within"].sel(factor="position").values[u]
        np.testing.assert_allclose(got, observed, rtol=1e-10)
        # the shared null: the canonical unit's statistic under the same shuffles
        canonical = np.sort(scores)  # any arrangement within strata has the same null
        order = np.argsort(size.codes, kind="stable")
        canonical = np.empty_like(scores)
        canonical[order] = np.concatenate(
            [np.sort(scores[size.codes == g]) for g in range(size.n_levels)]
        )
        null = np.array([eta(canonical, p) for p in perms])
        p = (1 + np.sum(null >= observed - 1e-9)) / (1 + len(null))
        np.testing.assert_allclose(table["p_value"].sel(factor="position").values[u], p)


def test_plugin_null_mean_matches_sklearn_over_the_same_shuffles():
    from sklearn.metrics import mutual_info_score

    from factorprobe.analysis import quantize

    acts = planted_units(
        kinds=("size", "additive"), n_units=2, noise=(0.3,), n_sizes=4, n_x=3, n_y=3, seed=7
    )
    table = unit_table(acts, estimator="plugin", n_permutations=40, seed=1)
    bins = quantize(acts, n_bins=8).values
    size, position = factor_codes(acts, "size"), factor_codes(acts, "position")
    strata = design_strata([size, position], ["size", "position"])
    for k, (factor, s) in enumerate(((size, strata[0]), (position, strata[1]))):
        perms = restricted_shuffles(factor.codes, s, 40, 1, factor.name)
        for u in range(acts.sizes["unit"]):
            mean = np.mean([mutual_info_score(bins[u], p) for p in perms]) / np.log(2)
            np.testing.assert_allclose(table["mi_null_mean"].values[u, k], mean, rtol=1e-10)
            raw = mutual_info_score(bins[u], factor.codes) / np.log(2)
            np.testing.assert_allclose(table["mi"].values[u, k], raw - mean, atol=1e-12)


def test_strata_keep_every_crossed_factor_of_the_design():
    import xarray as xr

    base = planted_units(
        kinds=("size", "position", "mixed"),
        n_units=10,
        noise=(0.0,),
        n_sizes=5,
        n_x=4,
        n_y=4,
        mix=(0.05,),
        seed=8,
    )
    # four shapes per grid point, each shifting the response: a design factor not analysed
    shifts = np.where(base["kind"].values == "mixed", 1.0, 0.3)
    acts = xr.concat(
        [
            base.copy(data=base.values + 0.5 * k * shifts).assign_coords(
                shape=("stimulus", [name] * base.sizes["stimulus"])
            )
            for k, name in enumerate(["disc", "square", "triangle", "cross"])
        ],
        "stimulus",
    )
    table = unit_table(acts, factors=["size", "x", "y", "position"], n_permutations=300)
    assert table.attrs["null"] == (
        "size: within levels of (position, shape); x: within levels of (size, y, shape); "
        "y: within levels of (size, x, shape); position: within levels of (size, shape)"
    )
    kind = acts["kind"].values
    for k, uncoded in (("size", "position"), ("size", "x"), ("size", "y"), ("position", "size")):
        mi = table["mi"].sel(factor=uncoded).values[kind == k]
        assert abs(np.median(mi)) <= 0.02 and mi.min() >= -0.05, (k, uncoded, mi.min())
    assert np.all(table["q_value"].sel(factor="position").values[kind == "mixed"] < 0.05)
    # without the shapes as strata, shuffles break the grid's shape balance again
    free = unit_table(acts, null="free", n_permutations=300)
    assert np.median(free["mi"].sel(factor="position").values[kind == "size"]) < -0.05


def test_a_factor_determined_by_a_compared_one_is_not_stratified_by_it():
    acts = planted_units(
        kinds=("position", "size"), n_units=10, noise=(0.0,), n_sizes=4, n_x=5, n_y=5, seed=9
    )
    centre = 112.0
    eccentricity = np.hypot(acts["x"].values - centre, acts["y"].values - centre).round(3)
    acts = acts.assign_coords(eccentricity=("stimulus", eccentricity))
    table = unit_table(acts, factors=["size", "position", "eccentricity"], n_permutations=200)
    # eccentricity is shuffled within sizes, not within positions (where it cannot move)
    assert "eccentricity: within levels of size" in table.attrs["null"]
    position_units = acts["kind"].values == "position"
    assert np.mean(table["q_value"].sel(factor="eccentricity").values[position_units] < 0.05) > 0.5


def test_correction_shuffles_shrink_with_large_designs_and_analytic_tables_skip_them():
    from factorprobe.analysis._restricted import correction_permutations

    assert correction_permutations(1000, 294) == 100
    assert correction_permutations(1000, 2250) == 100
    assert correction_permutations(1000, 50_000) == 10
    assert correction_permutations(1000, 10**7) == 10
    assert correction_permutations(40, 294) == 40
    acts = planted_units(kinds=("size",), n_units=3, noise=(0.0,), n_sizes=4, n_x=3, n_y=3)
    analytic = unit_table(acts, correction="analytic", significance="gtest")
    assert np.isnan(analytic["eta_squared_within"].values).all()
    assert "correction_permutations" not in analytic.attrs
