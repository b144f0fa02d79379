"""Factor spaces: grids, random designs, the fit rule and every validation message."""

from __future__ import annotations

import numpy as np
import pytest

import factorprobe as fp
from factorprobe.stimuli import FactorSpace, grid, random_design

CONTRACT = dict(
    size=(16, 64),
    x=(40, 184),
    y=(40, 184),
    shape=["disc", "square", "triangle", "cross"],
    rotation=(0, 360),
    contrast=(0.2, 1.0),
)


def test_grid_is_the_full_factorial_last_factor_fastest():
    space = grid(size=[16, 32, 48], x=[60, 112, 164], y=[60, 112, 164], shape="disc")
    assert isinstance(space, FactorSpace)
    assert len(space) == 27 and space.factors == ("size", "x", "y", "shape")
    np.testing.assert_array_equal(space["size"][:4], [16, 16, 16, 16])
    np.testing.assert_array_equal(space["y"][:4], [60, 112, 164, 60])
    assert space["shape"].dtype.kind == "U" and space["size"].dtype == np.float64
    assert space.levels["x"] == (60.0, 112.0, 164.0)
    assert space.to_dataframe().shape == (27, 4)


def test_space_arrays_are_read_only_and_inputs_untouched():
    sizes = np.array([16.0, 32.0])
    space = grid(size=sizes, x=[60, 112], y=112)
    with pytest.raises(ValueError, match="read-only"):
        space["size"][0] = 1.0
    sizes[0] = 99.0
    assert space["size"][0] == 16.0


def test_random_design_is_deterministic_for_a_seed_and_uses_the_ranges():
    a = random_design(500, seed=3, **CONTRACT)
    b = random_design(500, seed=np.random.default_rng(3), **CONTRACT)
    c = random_design(500, seed=4, **CONTRACT)
    for name in a.factors:
        np.testing.assert_array_equal(a[name], b[name])
    assert not np.array_equal(a["x"], c["x"])
    assert a.seed == 3 and b.seed == "generator"
    assert set(np.unique(a["shape"])) == {"disc", "square", "triangle", "cross"}
    assert a["size"].min() >= 16 and a["size"].max() < 64
    assert a["contrast"].min() >= 0.2 and a["contrast"].max() < 1.0
    assert len(a) == 500 and a.design == "random"


def test_random_design_without_seed_records_a_reproducible_seed():
    a = random_design(20, size=(8, 16), x=(30, 90), y=(30, 90))
    b = random_design(20, size=(8, 16), x=(30, 90), y=(30, 90), seed=int(a.seed))
    np.testing.assert_array_equal(a["x"], b["x"])


def test_random_design_does_not_touch_the_global_rng():
    state = np.random.get_state()[1].copy()  # noqa: NPY002 (the global RNG is the subject)
    random_design(50, size=(8, 16), x=(30, 90), y=(30, 90), seed=1)
    random_design(50, size=(8, 16), x=(30, 90), y=(30, 90))
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002


def test_random_design_resamples_misfits_so_all_fit():
    space = random_design(2000, seed=0, **CONTRACT)
    limit = fp.stimuli.largest_size(space["shape"], space["x"], space["y"],
                                    rotation=space["rotation"])  # fmt: skip
    assert np.all(space["size"] <= limit + 1e-9)


def test_random_design_raise_and_drop():
    with pytest.raises(ValueError, match=r"does not fit on a 224 px canvas; largest size there"):
        random_design(500, seed=0, on_misfit="raise", **CONTRACT)
    with pytest.warns(UserWarning, match=r"Dropped \d+ of 500 points"):
        space = random_design(500, seed=0, on_misfit="drop", **CONTRACT)
    assert len(space) + len(space.dropped) == 500


def test_random_design_that_can_never_fit():
    with pytest.raises(ValueError, match=r"still after 100 rounds of resampling: narrow the"):
        random_design(5, size=(100, 120), x=(10, 20), y=(10, 20), seed=0)


def test_misfit_error_names_the_point_and_the_largest_size():
    msg = (
        r"^Object of size 120 px at x=20, y=112 \(disc, stimulus 0\) does not fit on a 224 px "
        r"canvas; largest size there is 40 px \(1 of 2 points do not fit; pass "
        r"on_misfit='drop' to drop them\)\.$"
    )
    with pytest.raises(ValueError, match=msg):
        grid(size=120, x=[20, 112], y=112)


def test_misfit_error_for_rotated_shapes_and_non_square_canvas():
    msg = r"square rotated 45 deg, stimulus 0\) does not fit on a 64x128 px canvas; largest "
    with pytest.raises(ValueError, match=msg + r"size there is 45\.25 px"):
        grid(size=60, x=64, y=32, shape="square", rotation=45, canvas=(64, 128))


def test_drop_reports_and_keeps_the_dropped_points():
    with pytest.warns(UserWarning, match=r"^Dropped 2 of 6 points .* FactorSpace\.dropped\.$"):
        space = grid(size=[16, 90, 100], x=[40, 112], y=112, on_misfit="drop")
    assert len(space) == 4
    np.testing.assert_array_equal(space.dropped["size"], [90, 100])
    np.testing.assert_array_equal(space.dropped["x"], [40, 40])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(size=16, x=60), ValueError, r"needs the factors 'size', 'x' and 'y' .* missing 'y'"),
        (dict(size=16, x=60, y=60, colour="red"), ValueError, r"Unknown factor 'colour' for grid"),
        (dict(size=16, x=60, y=60, shape="disk"), ValueError, r"Unknown shape 'disk' .*'disc'"),
        (dict(size=16, x=60, y=60, shape="sprite:"), ValueError, r"Unknown shape 'sprite:'"),
        (dict(size=16, x=60, y=60, color="reddish"), ValueError, r"Unknown color 'reddish'"),
        (dict(size=[16, -1], x=60, y=60), ValueError, r"'size' of grid must be > 0 px; got -1"),
        (dict(size=16, x=60, y=60, contrast=1.5), ValueError, r"in \[0, 1\]; got 1\.5"),
        (dict(size=16, x="60", y=60), TypeError, r"Factor 'x' of grid takes numbers; got '60'"),
        (dict(size=16, x=60, y=60, shape=3), TypeError, r"takes non-empty strings; got 3"),
        (dict(size=[16, 16], x=60, y=60), ValueError, r"repeats a level; got \[16, 16\]"),
        (dict(size=[], x=60, y=60), ValueError, r"Factor 'size' of grid has no levels"),
        (dict(size=16, x=60, y=float("nan")), ValueError, r"'y' of grid must be finite; got nan"),
        (dict(size=16, x=60, y=60, on_misfit="clip"), ValueError, r"'raise', 'drop'; got 'clip'"),
        (dict(size=16, x=60, y=60, canvas=0), ValueError, r"'canvas' parameter of grid"),
    ],
)
def test_grid_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        grid(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(size=(16, 8)), ValueError, r"must have low < high; got \(16, 8\)"),
        (dict(size=(16, 24, 32)), ValueError, r"takes a \(low, high\) tuple .* got \(16, 24, 32\)"),
        (dict(shape=("disc", "square")), ValueError, r"Factor 'shape' of random_design takes"),
        (dict(size={16}), TypeError, r"of type set"),
        (dict(n=0), ValueError, r"'n' parameter of random_design must be an int >= 1; got 0"),
        (dict(seed=1.5), TypeError, r"'seed' must be an int, a numpy Generator or None"),
    ],
)
def test_random_design_errors(kwargs, error, match):
    args = dict(n=10, size=(16, 24), x=(40, 184), y=(40, 184), seed=0) | kwargs
    with pytest.raises(error, match=match):
        random_design(args.pop("n"), **args)


def test_unknown_factor_lookup():
    with pytest.raises(KeyError, match=r"Unknown factor 'rotation'; this space has 'size'"):
        grid(size=16, x=60, y=60)["rotation"]


def test_take_keeps_design_information():
    space = random_design(10, size=(8, 16), x=(30, 90), y=(30, 90), seed=5)
    part = space.take(slice(2, 5))
    assert len(part) == 3 and part.seed == 5
    np.testing.assert_array_equal(part["x"], space["x"][2:5])
    assert "3 stimuli" in repr(part)


def test_values_and_defaults():
    space = grid(size=[16, 32], x=60, y=60)
    assert list(space.values) == ["size", "x", "y"]
    np.testing.assert_array_equal(space.values["size"], [16, 32])
    assert list(space.get("shape")) == ["disc", "disc"]
    np.testing.assert_array_equal(space.get("rotation"), [0.0, 0.0])
    with pytest.raises(KeyError, match=r"Unknown factor 'color'; this space has 'size', 'x'"):
        space.get("color")
