"""Internals of the unit table: bit-packed counts, float32 quantile bins, thread independence."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from factorprobe.analysis import _kernels, _table_stages
from factorprobe.analysis._estimate import Estimation, Prepared, prepare
from factorprobe.analysis.design import FactorCodes
from factorprobe.analysis.planted import planted_units
from factorprobe.analysis.quantize import quantile_bins, quantile_bins_columns, quantize
from factorprobe.analysis.table import unit_table


def reference_counts(bins: np.ndarray, n_bins: int, codes: np.ndarray, n_levels: int):
    """Bins × levels counts ``(U, B, L)`` by unbuffered increments, one per response."""
    n_units, n = bins.shape
    out = np.zeros((n_units, n_bins, n_levels), dtype=np.int64)
    unit = np.repeat(np.arange(n_units), n)
    np.add.at(out, (unit, bins.reshape(-1).astype(np.int64), np.tile(codes, n_units)), 1)
    return out


def adversarial_bins(rng, n_bins: int, n: int, n_units: int = 5) -> np.ndarray:
    """Random bins plus units that fill the first, the last and one middle field entirely."""
    bins = rng.integers(0, n_bins, size=(n_units, n))
    bins[0] = 0
    bins[1] = n_bins - 1
    bins[2] = n_bins // 2
    return bins.astype(np.int8 if n_bins <= 127 else np.int16)


def level_codes(rng, top: int, n_levels: int) -> np.ndarray:
    """Shuffled codes where level 0 has exactly ``top`` stimuli and the others fewer."""
    others = rng.integers(1, max(2, top // 3), size=n_levels - 1)
    codes = np.repeat(np.arange(n_levels), np.concatenate([[top], others]))
    return rng.permutation(codes)


@pytest.mark.parametrize(
    ("n_bins", "top", "width", "words"),
    [
        (2, 1, 8, 1),
        (8, 255, 8, 1),  # a full 8-bit field: 255 = 2**8 - 1 must not carry
        (9, 255, 8, 2),
        (16, 255, 8, 2),
        (17, 255, None, 3),  # three words: counted by bincount instead
        (4, 256, 16, 1),
        (8, 65535, 16, 2),
        (9, 300, None, 3),
        (2, 65536, 32, 1),
        (4, 65536, 32, 2),
        (5, 65536, None, 3),
    ],
)
def test_packed_counts_equal_joint_counts(n_bins, top, width, words):
    rng = np.random.default_rng(top + n_bins)
    assert _kernels.field_bits(n_bins, top) == width
    codes = level_codes(rng, top, n_levels=4)
    assert np.bincount(codes).max() == top
    bins = adversarial_bins(rng, n_bins, len(codes))
    expected = reference_counts(bins, n_bins, codes, 4)
    np.testing.assert_array_equal(_kernels.joint_counts(bins, n_bins, codes, 4), expected)
    got = _kernels.level_counts(bins, n_bins, codes, 4)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expected)
    assert expected[0, 0, 0] == top and expected[1, n_bins - 1, 0] == top
    if width is not None:
        packed = _kernels.pack_bins(bins, n_bins, width)
        assert len(packed) == words
        summed = _kernels.packed_level_sums(packed, _kernels.level_onehot(codes, 4, np.uint64))
        np.testing.assert_array_equal(_kernels.unpack_counts(summed, n_bins, width), expected)


def test_field_bits_boundaries():
    assert _kernels.field_bits(8, 254) == 8
    assert _kernels.field_bits(8, 256) == 16
    assert _kernels.field_bits(4, (1 << 16) - 1) == 16
    assert _kernels.field_bits(2, (1 << 32) - 1) == 32
    assert _kernels.field_bits(2, 1 << 32) is None


def grid_factors(rng, n_x: int, n_y: int, repeats: int) -> list[FactorCodes]:
    """Position (x, y joint), x and y codes over a shuffled full grid."""
    x, y = np.meshgrid(np.arange(n_x), np.arange(n_y), indexing="ij")
    order = rng.permutation(n_x * n_y * repeats)
    x = np.repeat(x.ravel(), repeats)[order]
    y = np.repeat(y.ravel(), repeats)[order]

    def codes(name, c, n_levels):
        return FactorCodes(name, c.astype(np.int64), n_levels, tuple(range(n_levels)), (name,))

    return [codes("position", x * n_y + y, n_x * n_y), codes("x", x, n_x), codes("y", y, n_y)]


@pytest.mark.parametrize(
    ("n_bins", "repeats", "width"),
    [(8, 5, 8), (16, 20, 8), (8, 70, 16), (4, 13200, 32), (12, 70, None)],
)
def test_coarsened_packed_tables_equal_direct_counts(n_bins, repeats, width):
    """x and y tables summed from the packed position words, then unpacked, equal direct counts."""
    rng = np.random.default_rng(n_bins * repeats)
    factors = grid_factors(rng, n_x=3, n_y=5, repeats=repeats)
    n = len(factors[0].codes)
    plan = _table_stages.TablePlan.build(Estimation("plugin", n_bins=n_bins), factors, False)
    assert plan.field_bits == width
    # x and y are summed from position, not counted
    assert [(k, parent) for k, parent, _ in plan.steps] == [(0, -1), (2, 0), (1, 0)]
    bins = adversarial_bins(rng, n_bins, n, n_units=6)
    values = rng.normal(size=bins.shape)
    prepared = Prepared(bins, n_bins, np.zeros(len(bins), dtype=bool), None)
    columns = np.ascontiguousarray(values.T)
    tables = _table_stages._level_tables(prepared, columns, plan)
    unpacked = _table_stages._level_tables(prepared, columns, replace(plan, field_bits=None))
    for c, (counts, sums, _), (plain, plain_sums, _) in zip(factors, tables, unpacked, strict=True):
        expected = reference_counts(bins, n_bins, c.codes, c.n_levels)
        np.testing.assert_array_equal(counts, expected, err_msg=c.name)
        np.testing.assert_array_equal(plain, expected, err_msg=c.name)
        np.testing.assert_allclose(sums, plain_sums, rtol=1e-12)
        direct = np.stack([np.bincount(c.codes, weights=v, minlength=c.n_levels) for v in values])
        np.testing.assert_allclose(sums, direct, rtol=1e-12, atol=1e-12)


# --- float32 quantile bins ---------------------------------------------------------------------


def reference_bins(x: np.ndarray, n_bins: int) -> np.ndarray:
    """floor(c · n_bins / n) with c the number of values strictly below, per row, in float64."""
    n = x.shape[-1]
    below = (x[..., None, :] < x[..., :, None]).sum(axis=-1)
    return below * n_bins // n


F32_MAX = float(np.finfo(np.float32).max)
SPECIAL = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    1e300,
    -1e300,
    1e-300,
    -1e-300,
    5e-324,  # float64 denormal, 0 in float32
    -5e-324,
    1e-40,  # float32 denormal
    1.5e-45,
    F32_MAX,
    np.nextafter(F32_MAX, np.inf),  # rounds to F32_MAX (not past the half-way point)
    3.4028235677973366e38,  # rounds to inf in float32
    1.0 + 2.0**-24,  # half-way between 1 and the next float32: ties to even
    1.0 + 2.0**-23,
    0.1,
    float(np.float32(0.1)),
]


def shifted(value: float, ulps: int) -> float:
    """``value`` moved by up to ``ulps`` float64 steps, staying finite."""
    out = np.float64(value)
    for _ in range(abs(ulps)):
        with np.errstate(over="ignore"):
            step = np.nextafter(out, np.inf if ulps > 0 else -np.inf)
        out = step if np.isfinite(step) else out
    return float(out)


@st.composite
def adversarial_columns(draw):
    n = draw(st.integers(4, 60))
    n_units = draw(st.integers(1, 4))
    n_bins = draw(st.integers(2, max(2, n // 2)))
    anchor = st.one_of(
        st.sampled_from(SPECIAL), st.floats(allow_nan=False, allow_infinity=False, width=64)
    )
    units = []
    for _ in range(n_units):
        kind = draw(st.sampled_from(["near", "mixed", "constant"]))
        if kind == "constant":
            units.append([draw(anchor)] * n)
            continue
        bases = draw(st.lists(anchor, min_size=1, max_size=3))
        value = st.builds(shifted, st.sampled_from(bases), st.integers(-3, 3))
        if kind == "mixed":
            value = st.one_of(value, anchor)
        units.append(draw(st.lists(value, min_size=n, max_size=n)))
    return np.asarray(units, dtype=np.float64).T.copy(), n_bins


@settings(max_examples=50, deadline=None)
@given(adversarial_columns())
def test_quantile_bins_float32_path_equals_float64_reference(case):
    columns, n_bins = case
    assert np.isfinite(columns).all()
    expected = reference_bins(columns.T, n_bins).T
    bins, constant = quantile_bins_columns(columns, n_bins)
    np.testing.assert_array_equal(bins, expected)
    np.testing.assert_array_equal(constant, columns.min(axis=0) == columns.max(axis=0))
    np.testing.assert_array_equal(quantile_bins(columns.T, n_bins), expected.T)
    # what the unit table uses for plug-in quantile bins
    prepared = prepare(columns.T, Estimation("plugin", n_bins=n_bins), None, columns)
    np.testing.assert_array_equal(prepared.bins, expected.T)
    acts = xr.DataArray(columns, dims=("stimulus", "unit"))
    np.testing.assert_array_equal(quantize(acts, n_bins=n_bins).values, expected.T)


@pytest.mark.parametrize(
    "pair",
    [
        (1.0, np.nextafter(1.0, 2.0)),  # a float64 near-tie that float32 merges
        (-0.0, 0.0),  # signed zeros: equal, one bin
        (1e300, 2e300),  # both overflow to inf in float32
        (-2e300, -1e300),
        (1e-300, 2e-300),  # both 0 in float32
        (1e-45, 1.2e-45),  # float32 denormals
    ],
)
def test_near_ties_at_a_bin_edge(pair):
    """Both values of a pair sit at a quantile edge: float32 cannot separate them."""
    lo, hi = pair
    # 8 values, 4 bins: edges at sorted positions 1, 3, 5; the pair sits at positions 3 and 4
    column = np.array([-5.0, -4.0, -3.0, lo, hi, 3e300, 4e300, 5e300])
    if lo == -2e300:
        column = np.array([-5e300, -4e300, -3e300, lo, hi, 3.0, 4.0, 5.0])
    columns = np.stack([column, column[::-1], np.full(8, lo)], axis=1)
    bins, constant = quantile_bins_columns(columns, 4)
    np.testing.assert_array_equal(bins, reference_bins(columns.T, 4).T)
    np.testing.assert_array_equal(constant, [False, False, True])
    if lo < hi:
        assert bins[3, 0] == 1 and bins[4, 0] == 2
    else:
        assert bins[3, 0] == bins[4, 0] == 1


def test_single_unit_float32_bins():
    column = np.array([[0.0], [1.0], [0.0], [1.0]])
    bins, _ = quantile_bins_columns(column, 2)
    np.testing.assert_array_equal(bins, reference_bins(column.T, 2).T)


def test_single_unit_plugin_table_equals_its_row_in_a_larger_table():
    acts = planted_units(kinds=("size",), n_units=2, noise=(0.25,), seed=0)
    kwargs = {"estimator": "plugin", "n_permutations": 20}
    both = unit_table(acts, **kwargs)
    alone = unit_table(acts.isel(unit=[0]), **kwargs)
    np.testing.assert_array_equal(alone["mi"].values, both["mi"].values[:1])


def test_many_units_mixed_exact_and_fallback():
    """A wide block where most units take the float32 path and a few need float64."""
    rng = np.random.default_rng(5)
    columns = rng.normal(size=(400, 300))
    columns[:, 7] = np.round(columns[:, 7], 1)  # ties
    columns[:, 11] = 1.0 + rng.integers(0, 4, size=400) * 2.0**-40  # float32 merges them
    columns[:, 13] = rng.choice([1e300, -1e300, 0.0], size=400)
    columns[:, 17] = 0.0
    for n_bins in (2, 8, 24, 30):
        bins, constant = quantile_bins_columns(columns, n_bins)
        np.testing.assert_array_equal(bins, reference_bins(columns.T, n_bins).T)
        assert np.flatnonzero(constant).tolist() == [17]


# --- thread count ------------------------------------------------------------------------------


def force_threads(monkeypatch, n: int, block_values: int) -> None:
    monkeypatch.setattr(_table_stages, "n_threads", lambda: n)
    monkeypatch.setattr(_table_stages, "_POOL", [])
    monkeypatch.setattr(_table_stages, "UNIT_BLOCK_VALUES", block_values)


@pytest.fixture(scope="module")
def thread_units() -> xr.DataArray:
    """24 planted units over 1000 stimuli, half of them rounded (ties, broken by unit key)."""
    acts = planted_units(n_units=4, noise=(0.5,), seed=3)
    return acts.copy(data=np.where(acts["index"] % 2 == 1, acts.round(1), acts))


@pytest.mark.parametrize(
    ("estimator", "family_wise"), [("plugin", True), ("copula", False), ("copula", True)]
)
def test_unit_table_independent_of_threads(monkeypatch, thread_units, estimator, family_wise):
    kwargs = {
        "factors": ("size", "position", "x", "y"),
        "estimator": estimator,
        "n_permutations": 40,
        "family_wise": family_wise,
    }
    whole = unit_table(thread_units, **kwargs)  # one block: 24 000 values
    tables = []
    for threads in (1, 2):
        # 24 000 values in blocks of at most 3 500: 7 blocks on 1 thread, 8 on 2
        force_threads(monkeypatch, threads, 3500)
        tables.append(unit_table(thread_units, **kwargs))
        assert _table_stages._POOL[0]._max_workers == threads
    xr.testing.assert_identical(tables[0], tables[1])
    xr.testing.assert_identical(tables[0], whole)
    assert np.isfinite(whole["mi"].values).all()


def test_unit_blocks_follow_the_threads(monkeypatch):
    """The block count is rounded up to a multiple of the threads (each block once)."""
    seen = []

    def block(values, keys, plan):
        seen.append(len(values))
        return np.zeros((len(values), len(plan.factors), plan.n_variables))

    monkeypatch.setattr(_table_stages, "_unit_block", block)
    factors = grid_factors(np.random.default_rng(0), 2, 2, 5)[:1]
    plan = _table_stages.TablePlan.build(Estimation("plugin", correction="none"), factors, False)
    plan = replace(plan, nulls=(None,))
    values = np.zeros((23, 20))
    for threads, n_blocks in ((1, 5), (2, 6), (3, 6)):
        seen.clear()
        force_threads(monkeypatch, threads, 100)
        out = _table_stages.unit_statistics(values, None, plan)
        assert out.shape == (23, 1, plan.n_variables)
        assert len(seen) == n_blocks and sum(seen) == 23


@pytest.mark.parametrize(
    ("omp", "cores", "expected"),
    [
        (None, 2, 2),
        (None, 16, 8),  # capped at MAX_THREADS
        ("1", 16, 1),  # dask's nanny in a worker process
        ("3", 16, 3),
        ("3", 2, 2),  # never more than the cores
        ("100", 16, 8),
        ("4,2", 16, 4),  # nested OpenMP list: the outer level
        ("0", 16, 8),  # not a positive integer: ignored
        ("many", 2, 2),
        ("", 16, 8),
    ],
)
def test_threads_honour_omp_num_threads(monkeypatch, omp, cores, expected):
    if omp is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)
    monkeypatch.setattr(_table_stages.os, "sched_getaffinity", lambda pid: set(range(cores)))
    monkeypatch.setattr(_table_stages, "_POOL", [])
    assert _table_stages.n_threads() == expected
    # the shared pool is sized from it at its first use
    assert _table_stages._executor()._max_workers == expected
    _table_stages._executor().shutdown()
