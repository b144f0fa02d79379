"""unit_table(pid=...): the partial information decomposition as optional unit-table columns."""

from __future__ import annotations

import dask
import numpy as np
import pytest
import xarray as xr
from dask.base import is_dask_collection

from factorprobe.analysis import partial_information, unit_table
from factorprobe.analysis._table_variables import VARIABLES
from factorprobe.analysis.planted import planted_units
from factorprobe.io.tables import data_dictionary, unit_dataframe

PID = ("size", "position")
PID_VARS = ["pid_redundancy", "pid_unique", "pid_synergy"]


@pytest.fixture(scope="module")
def acts():
    # replicates: every (size, position) cell holds 2 stimuli, so the joint term is corrected too
    kinds = ("size", "position", "conjunctive", "noise")
    return planted_units(kinds=kinds, n_units=3, noise=(0.1,), n_sizes=4, n_x=3, n_y=3,
                         repeats=2, seed=1)  # fmt: skip


@pytest.fixture(scope="module")
def table(acts):
    return unit_table(acts, n_permutations=40, pid=PID)


def _assert_matches(table, pid):
    np.testing.assert_array_equal(table["pid_redundancy"].values, pid["pid_redundancy"].values)
    np.testing.assert_array_equal(table["pid_synergy"].values, pid["pid_synergy"].values)
    for f in PID:
        np.testing.assert_array_equal(
            table["pid_unique"].sel(factor=f).values, pid["pid_unique"].sel(factor=f).values
        )


def test_columns_are_partial_informations_output(acts, table):
    # the table's 40 permutations give min(40, 100) = 40 shuffles per PID null
    pid = partial_information(acts, PID, n_permutations=40, seed=0)
    _assert_matches(table, pid)
    assert table.attrs["pid_n_permutations"] == 40
    assert table.attrs["pid_joint_correction"] == "(A, B) labels shuffled together"
    assert table.attrs["pid_factors"] == "size,position"
    # planted size units: unique size dominates; position units: unique position
    kind = table["kind"].values
    unique = table["pid_unique"]
    assert (unique.sel(factor="size")[kind == "size"] > 0.5).all()
    assert (unique.sel(factor="position")[kind == "position"] > 0.5).all()
    assert float(unique.sel(factor="size")[kind == "position"].max()) < 0.2


def test_uncorrected_table_matches_uncorrected_pid(acts):
    table = unit_table(acts, correction="none", significance="gtest", n_permutations=0, pid=PID)
    _assert_matches(table, partial_information(acts, PID, correction="none"))
    assert table.attrs["pid_correction"] == "none"
    # a table drawing no shuffles still shuffle-corrects the PID (100 shuffles)
    analytic = unit_table(acts, correction="analytic", significance="gtest", pid=PID)
    _assert_matches(analytic, partial_information(acts, PID, n_permutations=100))


def test_other_factors_get_nan_unique_columns(acts):
    table = unit_table(acts, factors=["size", "x", "position"], n_permutations=20, pid=PID)
    assert np.isnan(table["pid_unique"].sel(factor="x").values).all()
    assert np.isfinite(table["pid_unique"].sel(factor=list(PID)).values).all()
    frame = unit_dataframe(table)
    assert {"pid_redundancy", "pid_synergy", "pid_unique_size", "pid_unique_position"} <= set(
        frame.columns
    )


def test_default_off_leaves_the_table_unchanged(acts, table):
    plain = unit_table(acts, n_permutations=40)
    assert not [v for v in plain.data_vars if v.startswith("pid")]
    assert not [k for k in plain.attrs if k.startswith("pid")]
    with_pid = table.drop_vars(PID_VARS)
    with_pid.attrs = {k: v for k, v in table.attrs.items() if not k.startswith("pid")}
    xr.testing.assert_identical(with_pid, plain)
    explicit = unit_table(acts, n_permutations=40, pid=None)
    xr.testing.assert_identical(explicit, plain)


def test_data_dictionary_describes_the_pid_columns(table):
    rows = data_dictionary(table).set_index("column")
    for column, variable in (
        ("pid_redundancy", "pid_redundancy"),
        ("pid_synergy", "pid_synergy"),
        ("pid_unique_size", "pid_unique"),
        ("pid_unique_position", "pid_unique"),
    ):
        assert rows.loc[column, "units"] == "bits"
        assert rows.loc[column, "description"].startswith(VARIABLES[variable][0])
    assert "Williams-Beer I_min" in rows.loc["pid_redundancy", "description"]
    assert rows.loc["pid_unique_size", "factor"] == "size"


def test_lazy_table_computes_pid_block_by_block(acts, table):
    lazy = unit_table(acts.chunk(unit=5), n_permutations=40, pid=PID)
    for name in PID_VARS:
        assert is_dask_collection(lazy[name].data)
    with dask.config.set(scheduler="synchronous"):
        computed = lazy.compute()
    xr.testing.assert_identical(computed, table)


@pytest.mark.parametrize(
    ("pid", "message"),
    [
        (("size", "shape"), r"'pid' parameter of unit_table must name 2 different factors of the "
                            r"table \('size', 'position'\) or be None; got \('size', 'shape'\)"),
        (("size", "size"), r"'pid' parameter of unit_table .* got \('size', 'size'\)"),
        ("size", r"'pid' parameter of unit_table .* got 'size'"),
        (("size", "position", "x"), r"'pid' parameter of unit_table .* got"),
        (3, r"'pid' parameter of unit_table .* got 3"),
    ],
)  # fmt: skip
def test_bad_pid_factors_raise_one_line_errors(acts, pid, message):
    with pytest.raises(ValueError, match=message) as err:
        unit_table(acts, n_permutations=10, pid=pid)
    assert "\n" not in str(err.value)


def test_pid_sources_sharing_a_member_raise(acts):
    with pytest.raises(ValueError, match=r"share \['x'\]; name two factors that share no"):
        unit_table(acts, factors=["position", "x"], n_permutations=10, pid=("position", "x"))
