from __future__ import annotations

import numpy as np
import pytest

from factorprobe._validation import as_rng, check_choice, check_int, check_real


def test_check_choice_names_value_and_choices():
    check_choice("a", ("a", "b"), name="mode", where="f")
    with pytest.raises(
        ValueError,
        match=r"The 'mode' parameter of f must be one of 'a', 'b'; "
        r"got 'c'\.",
    ):
        check_choice("c", ("a", "b"), name="mode", where="f")


def test_check_int():
    assert check_int(np.int64(3), name="n_bins", where="entropy", minimum=2) == 3
    with pytest.raises(
        ValueError,
        match=r"'n_bins' parameter of entropy must be an int >= 2; "
        r"got 1\.",
    ):
        check_int(1, name="n_bins", where="entropy", minimum=2)
    with pytest.raises(TypeError, match=r"must be an int; got 2\.5 of type float"):
        check_int(2.5, name="n_bins", where="entropy")
    with pytest.raises(TypeError, match="got True of type bool"):
        check_int(True, name="n_bins", where="entropy")
    with pytest.raises(ValueError, match=r"in \[1, 3\]; got 4"):
        check_int(4, name="k", where="f", minimum=1, maximum=3)


def test_check_real():
    assert check_real(1, name="alpha", where="f", minimum=0, maximum=1) == 1.0
    with pytest.raises(ValueError, match=r"finite number in \[0, 1\]; got nan"):
        check_real(float("nan"), name="alpha", where="f", minimum=0, maximum=1)
    with pytest.raises(TypeError, match="must be a real number; got 'x'"):
        check_real("x", name="alpha", where="f")


def test_as_rng_is_explicit_and_reproducible():
    assert as_rng(3).integers(1 << 30) == as_rng(3).integers(1 << 30)
    gen = np.random.default_rng(0)
    assert as_rng(gen) is gen
    with pytest.raises(TypeError, match="'seed' must be an int, a numpy Generator or None"):
        as_rng(1.5)
