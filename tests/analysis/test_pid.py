"""Partial information decomposition: dit's canonical examples, planted units, identities."""

from __future__ import annotations

import dit
import numpy as np
import pytest
import xarray as xr
from dit.pid import PID_WB

from factorprobe.analysis import co_information, partial_information
from factorprobe.analysis.planted import planted_units

ATOMS = {"red": ((0,), (1,)), "ua": ((0,),), "ub": ((1,),), "syn": ((0, 1),)}


def _acts(a, b, r) -> xr.DataArray:
    """One unit whose response is r on stimuli with factors a, b (one stimulus per outcome)."""
    return xr.DataArray(
        np.asarray(r, dtype=float)[:, None],
        dims=("stimulus", "unit"),
        coords={"a": ("stimulus", np.asarray(a)), "b": ("stimulus", np.asarray(b))},
    )


def _ours(a, b, r) -> dict[str, float]:
    n_values = len(np.unique(r))
    pid = partial_information(
        _acts(a, b, r), ("a", "b"), n_bins=n_values, quantizer="uniform", correction="none"
    )
    return {
        "red": float(pid["pid_redundancy"][0]),
        "ua": float(pid["pid_unique"][0, 0]),
        "ub": float(pid["pid_unique"][0, 1]),
        "syn": float(pid["pid_synergy"][0]),
    }


def _dits(a, b, r) -> dict[str, float]:
    outcomes, counts = np.unique(np.stack([a, b, r], axis=1), axis=0, return_counts=True)
    d = dit.Distribution([tuple(int(v) for v in o) for o in outcomes], list(counts / counts.sum()))
    pid = PID_WB(d, [[0], [1]], [2])
    return {k: float(pid.get_pi(node)) for k, node in ATOMS.items()}


def _table(rows, repeat=2):
    """Stimuli (a, b, r) from outcome rows, each repeated (so every bin has 2 stimuli)."""
    arr = np.repeat(np.asarray(rows), repeat, axis=0)
    return arr[:, 0], arr[:, 1], arr[:, 2]


CANONICAL = {
    # name: (outcome rows (a, b, r), the known atoms in bits)
    "xor": ([(0, 0, 0), (0, 1, 1), (1, 0, 1), (1, 1, 0)], {"syn": 1.0}),
    "unique_a": ([(0, 0, 0), (0, 1, 0), (1, 0, 1), (1, 1, 1)], {"ua": 1.0}),
    "rdn": ([(0, 0, 0), (1, 1, 1)], {"red": 1.0}),
    "and": (
        [(0, 0, 0), (0, 1, 0), (1, 0, 0), (1, 1, 1)],
        {"red": 0.311278, "syn": 0.5},  # Williams & Beer 2010, Fig. 4
    ),
}


@pytest.mark.parametrize("name", sorted(CANONICAL))
def test_canonical_examples_match_dit_and_the_known_answer(name):
    rows, known = CANONICAL[name]
    a, b, r = _table(rows)
    ours, theirs = _ours(a, b, r), _dits(a, b, r)
    for atom in ATOMS:
        assert ours[atom] == pytest.approx(theirs[atom], abs=1e-9), (name, atom)
        assert ours[atom] == pytest.approx(known.get(atom, 0.0), abs=1e-5), (name, atom)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_distributions_match_dit(seed):
    rng = np.random.default_rng(seed)
    # 3 x 4 source levels, 3 response values; random multiplicities 2..6 of each outcome
    rows = [(a, b, r) for a in range(3) for b in range(4) for r in range(3) if rng.random() < 0.6]
    reps = rng.integers(2, 7, len(rows))
    arr = np.repeat(np.asarray(rows), reps, axis=0)
    a, b, r = arr[:, 0], arr[:, 1], arr[:, 2]
    ours, theirs = _ours(a, b, r), _dits(a, b, r)
    for atom in ATOMS:
        assert ours[atom] == pytest.approx(theirs[atom], abs=1e-9), atom


def test_identities_and_co_information():
    acts = planted_units(kinds=("additive", "conjunctive"), n_units=3, noise=(0.3,),
                         n_sizes=4, n_x=3, n_y=3, repeats=4, seed=1)  # fmt: skip
    pid = partial_information(acts, correction="none")
    red, syn = pid["pid_redundancy"].values, pid["pid_synergy"].values
    unique, mi = pid["pid_unique"].values, pid["pid_mi"].values
    np.testing.assert_allclose(red[:, None] + unique, mi, atol=1e-12)
    np.testing.assert_allclose(red + unique.sum(1) + syn, pid["pid_mi_joint"].values, atol=1e-12)
    co = co_information(acts, estimator="plugin", correction="none", n_bins=8)
    np.testing.assert_allclose(syn - red, co.values, atol=1e-9)
    assert (red >= -1e-12).all() and (unique >= -1e-12).all() and (syn >= -1e-12).all()


def test_deterministic_planted_units_land_in_their_atom():
    # the real-network regime: one stimulus per cell, no noise
    acts = planted_units(kinds=("size", "position", "silent"), n_units=4, noise=(0.0,),
                         n_sizes=6, n_x=6, n_y=6)  # fmt: skip
    pid = partial_information(acts, n_permutations=50)
    kind = acts["kind"].values
    unique = pid["pid_unique"]
    size_units, position_units = kind == "size", kind == "position"
    # a size unit: its information is unique to size, nothing redundant or synergistic
    assert (unique.sel(factor="size").values[size_units] > 1.5).all()
    np.testing.assert_allclose(unique.sel(factor="position").values[size_units], 0, atol=1e-9)
    np.testing.assert_allclose(pid["pid_synergy"].values[size_units], 0, atol=1e-9)
    np.testing.assert_allclose(pid["pid_redundancy"].values[size_units], 0, atol=1e-9)
    assert (unique.sel(factor="position").values[position_units] > 1.0).all()
    np.testing.assert_allclose(unique.sel(factor="size").values[position_units], 0, atol=1e-9)
    # a constant unit carries nothing
    for name in ("pid_redundancy", "pid_synergy", "pid_mi_joint"):
        np.testing.assert_allclose(pid[name].values[kind == "silent"], 0, atol=1e-12)


def test_conjunctive_units_are_more_synergistic_than_additive_ones():
    acts = planted_units(kinds=("additive", "conjunctive"), n_units=10, noise=(0.0,),
                         n_sizes=6, n_x=6, n_y=6, seed=2)  # fmt: skip
    pid = partial_information(acts, n_permutations=50)
    kind = acts["kind"].values
    share = pid["pid_synergy"] / pid["pid_mi_joint"]
    assert float(share[kind == "conjunctive"].median()) > float(share[kind == "additive"].median())


def test_shuffle_correction_centres_noise_units_on_zero():
    acts = planted_units(kinds=("noise",), n_units=40, noise=(1.0,), n_sizes=4, n_x=3,
                         n_y=3, repeats=10, seed=3)  # fmt: skip
    raw = partial_information(acts, correction="none")
    corrected = partial_information(acts, n_permutations=100)
    for name in ("pid_redundancy", "pid_synergy", "pid_mi_joint"):
        assert float(raw[name].mean()) > 0.01  # plug-in bias
        assert abs(float(corrected[name].mean())) < 0.03, name
    assert abs(float(corrected["pid_unique"].mean())) < 0.02
    assert corrected.attrs["joint_correction"] == "(A, B) labels shuffled together"


def test_seeded_and_invariant_to_unit_order():
    acts = planted_units(kinds=("additive", "noise"), n_units=3, noise=(0.5,), n_sizes=4,
                         n_x=3, n_y=3, repeats=3)  # fmt: skip
    first = partial_information(acts, n_permutations=20, seed=5)
    again = partial_information(acts, n_permutations=20, seed=5)
    xr.testing.assert_identical(first, again)
    order = np.random.default_rng(0).permutation(acts.sizes["unit"])
    permuted = partial_information(acts.isel(unit=order), n_permutations=20, seed=5)
    np.testing.assert_allclose(
        permuted["pid_synergy"].values, first["pid_synergy"].values[order], atol=1e-12
    )


def test_labelled_contract():
    acts = planted_units(kinds=("size",), n_units=2, noise=(0.5,), n_sizes=4, n_x=3, n_y=3)
    pid = partial_information(acts, n_permutations=10)
    assert pid["pid_unique"].dims == ("unit", "factor")
    assert list(pid["factor"].values) == ["size", "position"]
    assert "layer" in pid.coords and "kind" in pid.coords
    for name in pid.data_vars:
        assert pid[name].attrs["units"] == "bits" and pid[name].attrs["description"]
    assert pid.attrs["measure"].startswith("Williams-Beer")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"factors": ("size",)}, ValueError, "must name 2 different factors"),
        ({"factors": ("size", "size")}, ValueError, "must name 2 different factors"),
        ({"factors": ("x", "position")}, ValueError, "share"),
        ({"factors": ("size", "colour")}, KeyError, "colour"),
        ({"correction": "analytic"}, ValueError, "correction"),
        ({"n_permutations": 0}, ValueError, "n_permutations"),
        ({"quantizer": "kmeans"}, ValueError, "quantizer"),
    ],
)
def test_errors_name_the_bad_value(kwargs, error, match):
    acts = planted_units(kinds=("size",), n_units=1, noise=(0.5,), n_sizes=4, n_x=3, n_y=3)
    with pytest.raises(error, match=match):
        partial_information(acts, **kwargs)
