"""The unit table over dask arrays chunked along unit: lazy, chunk-invariant, cluster-ready."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr
from dask.callbacks import Callback

from factorprobe.analysis.planted import planted_units
from factorprobe.analysis.table import unit_table

FACTORS = ["size", "x", "y", "position"]
CONFIGS = [
    {"n_permutations": 100},
    {"estimator": "plugin", "n_permutations": 100},
    {"estimator": "plugin", "correction": "analytic", "significance": "gtest"},
    {"family_wise": True, "n_permutations": 50},
]


@pytest.fixture(scope="module")
def acts():
    a = planted_units(n_units=6, noise=(0.25, 1.0), n_sizes=5, n_x=6, n_y=5, seed=3)
    # ties (rectified units) exercise the copula's tie-breaking and per-profile plug-in nulls
    return a.where(a.index % 3 != 0, a.clip(min=float(a.mean())))


class _Counter(Callback):
    def __init__(self) -> None:
        super().__init__()
        self.tasks = 0

    def _pretask(self, key, dask, state) -> None:
        self.tasks += 1


@pytest.mark.parametrize("options", CONFIGS)
def test_chunked_tables_are_identical_to_the_in_memory_table(acts, options):
    memory = unit_table(acts, factors=FACTORS, **options)
    for chunk in (7, 64):
        lazy = unit_table(acts.chunk(unit=chunk), factors=FACTORS, **options)
        xr.testing.assert_identical(lazy.compute(), memory)


def test_copula_ties_do_not_depend_on_chunks_or_layer_selection(acts):
    two = xr.concat(
        [
            acts.assign_coords(layer=("unit", ["a"] * acts.sizes["unit"])),
            acts.assign_coords(layer=("unit", ["b"] * acts.sizes["unit"])),
        ],
        dim="unit",
    )
    full = unit_table(two, n_permutations=50)
    only_b = unit_table(two, layers="b", n_permutations=50)
    b = full.isel(unit=full.layer.values == "b")
    # q-values are per layer, so every variable agrees
    xr.testing.assert_identical(only_b, b)


def test_nothing_is_computed_before_it_is_asked_for(acts):
    # dask-backed responses, coordinates in memory (as open_activations gives them)
    responses = acts.copy(data=da.from_array(acts.values, chunks=(-1, 10)))
    counter = _Counter()
    with counter:
        lazy = unit_table(responses, factors=FACTORS, n_permutations=50)
    assert counter.tasks == 0
    assert all(
        dask.is_dask_collection(lazy[v].data) for v in lazy.data_vars if "unit" in lazy[v].dims
    )
    with counter:
        lazy["mi"].compute()
    assert counter.tasks > 0


def test_nan_in_a_chunk_raises_when_computed(acts):
    bad = acts.copy(data=acts.values.copy())
    bad[3, 2] = np.nan
    lazy = unit_table(bad.chunk(unit=5), n_permutations=20)
    with pytest.raises(
        ValueError, match=r"unit_table got NaN responses for 1 unit\(s\) of a chunk"
    ):
        lazy.compute()


def test_scheduler_option_computes_now(acts):
    memory = unit_table(acts, n_permutations=50)
    eager = unit_table(acts, n_permutations=50, scheduler="threads", unit_chunk=9)
    assert not dask.is_dask_collection(eager["mi"].data)
    xr.testing.assert_identical(eager, memory)


def test_scheduler_and_chunk_errors(acts):
    with pytest.raises(ValueError, match=r"'scheduler' parameter of unit_table must be one of"):
        unit_table(acts, scheduler="gpu")
    with pytest.raises(TypeError, match=r"'scheduler' parameter of unit_table must be None"):
        unit_table(acts, scheduler=3)
    with pytest.raises(ValueError, match=r"'unit_chunk' parameter of unit_table"):
        unit_table(acts, unit_chunk=0)


def test_a_local_cluster_gives_the_in_memory_table(acts):
    distributed = pytest.importorskip("distributed")
    memory = unit_table(acts, factors=FACTORS, n_permutations=50)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        remote = unit_table(
            acts,
            factors=FACTORS,
            n_permutations=50,
            unit_chunk=8,
            scheduler=cluster.scheduler_address,
        )
        with distributed.Client(cluster) as client:
            lazy = unit_table(acts.chunk(unit=5), factors=FACTORS, n_permutations=50)
            via_client = lazy.compute(scheduler=client)
    xr.testing.assert_identical(remote, memory)
    xr.testing.assert_identical(via_client, memory)


def test_store_to_table_equals_memory_to_table(tmp_path):
    import torch
    from torch import nn

    import factorprobe as fp

    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(32 * 32, 24), nn.SiLU(), nn.Linear(24, 4))
    model = fp.probing.load_model(net, input_size=32, mean=(0.0,), std=(1.0,))
    space = fp.stimuli.grid(size=[6, 10, 14], x=[12, 20], y=[12, 20], shape=["disc", "square"])
    stim = fp.stimuli.render(space, canvas=32)
    memory = fp.probing.capture(model, stim, layers=["1", "3"], batch_size=5, progress=False)
    stored = fp.probing.capture(
        model, stim, layers=["1", "3"], batch_size=5, store=tmp_path / "a.zarr", progress=False
    )
    kw = {"factors": ["size", "position"], "n_permutations": 50}
    xr.testing.assert_identical(unit_table(stored, **kw).compute(), unit_table(memory, **kw))


def test_mutual_information_agrees_with_the_table_for_any_chunking(acts):
    from factorprobe.analysis.information import mutual_information

    table = unit_table(acts, n_permutations=60, null="free")
    for data in (acts, acts.chunk(unit=7)):
        mi = mutual_information(data, "size", n_permutations=60).compute()
        np.testing.assert_array_equal(mi.values, table["mi"].sel(factor="size").values)
