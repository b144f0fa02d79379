"""``[analysis] pid``: the run's unit table gains the PID columns, described in the dictionary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factorprobe.pipeline import runner
from factorprobe.pipeline.config import AnalysisConfig

CONFIG = """
[stimuli]
size = [16, 32, 48]
x = [60, 112, 164]
y = [60, 164]

[model]
layers = ["fc2"]

[analysis]
n_permutations = 20
tuning = []
decode = []
cka = false
pid = ["size", "position"]

[output]
plots = false
"""
COLUMNS = ["pid_redundancy", "pid_unique_size", "pid_unique_position", "pid_synergy"]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pid")
    config = folder / "pid.toml"
    config.write_text(CONFIG)
    return runner.run(config, out=folder / "results", progress="none")


def test_units_csv_has_the_pid_columns(results):
    units = pd.read_csv(results / "units.csv")
    assert set(COLUMNS) <= set(units.columns)
    assert len(units) == 128 and np.isfinite(units[COLUMNS].to_numpy()).all()
    # unique + redundancy is the decomposition's I(R; F), at most log2(8 bins) = 3 bits
    assert (units["pid_unique_size"] + units["pid_redundancy"]).max() <= 3.0


def test_data_dictionary_describes_the_pid_columns(results):
    rows = pd.read_csv(results / "data_dictionary.csv").set_index("column")
    for column in COLUMNS:
        assert rows.loc[column, "units"] == "bits"
        assert "partial information decomposition" in rows.loc[column, "description"]


def test_the_pid_key_must_name_two_analysed_factors():
    message = r"The 'pid' key of \[analysis\] must be 2 of the analysed factors \['size', 'posi"
    with pytest.raises(ValueError, match=message + r"tion'\]; got \('size', 'shape'\)\.$"):
        AnalysisConfig(pid=["size", "shape"])
    with pytest.raises(ValueError, match=r"'pid' key of \[analysis\] must be 2 of the"):
        AnalysisConfig(pid="size")
    assert AnalysisConfig(pid=["position", "size"]).pid == ("position", "size")
    assert AnalysisConfig().pid is None
