"""Layer-level decoding of the embedded model on the default run's grid: labels and values.

Renders the grid of ``examples/default.toml`` (6 sizes x 7 x 7 positions, one disc each: 294
stimuli), captures the embedded model's layers and prints, per layer and factor:

- ``acc``, ``chance``: held-out accuracy of the logistic decoder (C chosen by inner
  cross-validation on each training fold) and of guessing the most frequent level;
- ``V C=1``, ``V cv``: V-information (bits) with the fixed C = 1 that ``factorprobe run`` passes
  by default (``decode_c``), and with C chosen by inner cross-validation (``decoding``'s default);
- ``R2``, ``RMSE``, ``MAE``, ``sd``: the ridge read-out of the values (position: x and y jointly,
  R² the mean of the two, errors Euclidean), in pixels, beside the factor's standard deviation;
- ``R2 |x-112|``, ``R2 |y-112|``: the same read-out of the distance from the canvas centre
  along x and y, which tells a mirror-symmetric position code from a missing one.

Then the time of ``decoding`` with C chosen by inner cross-validation over that with C = 1,
both on the same activations in this process.

Run: ``nice .venv/bin/python benchmarks/bench_decoding.py`` (about 3 minutes on two shared cores).
"""

from __future__ import annotations

import time
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from factorprobe.analysis import decoding
from factorprobe.probing import capture, load_model
from factorprobe.stimuli import grid, render

CONFIG = Path(__file__).resolve().parents[1] / "examples" / "default.toml"
FACTORS = ["size", "x", "y", "position"]
CENTRE = 112.0  # px, of the 224 px canvas
SEED = 0


def measure() -> tuple[pd.DataFrame, float, float]:
    """The per-(layer, factor) table, and the seconds of decoding with C by inner CV and C = 1."""
    stimuli = tomllib.loads(CONFIG.read_text())["stimuli"]
    space = grid(**{k: stimuli[k] for k in ("size", "x", "y", "shape")})
    acts = capture(load_model("embedded"), render(space, canvas=224), progress=False)

    start = time.perf_counter()
    chosen = decoding(acts, FACTORS, seed=SEED)
    t_cv = time.perf_counter() - start
    start = time.perf_counter()
    fixed = decoding(acts, FACTORS, C=1.0, seed=SEED)
    t_fixed = time.perf_counter() - start
    centred = acts.assign_coords(
        {f"|{f}-112|": ("stimulus", np.abs(acts[f].values - CENTRE)) for f in ("x", "y")}
    )
    distance = decoding(centred, ["|x-112|", "|y-112|"], C=1.0, seed=SEED)["r2"]

    frame = pd.DataFrame(
        {
            "acc": chosen["accuracy"].to_series(),
            "chance": chosen["chance"].to_series(),
            "V C=1": fixed["v_information"].to_series(),
            "V cv": chosen["v_information"].to_series(),
            "R2": chosen["r2"].to_series(),
            "RMSE": chosen["rmse"].to_series(),
            "MAE": chosen["mae"].to_series(),
            "sd": chosen["sd_factor"].to_series(),
        }
    )
    by_layer = distance.to_pandas()  # layer x factor
    for f in ("x", "y"):
        frame[f"R2 |{f}-112|"] = frame.index.get_level_values("layer").map(by_layer[f"|{f}-112|"])
        frame.loc[frame.index.get_level_values("factor") != f, f"R2 |{f}-112|"] = np.nan
    return frame, t_cv, t_fixed


def main() -> None:
    warnings.filterwarnings("ignore", category=ConvergenceWarning)  # large C on separable size
    frame, t_cv, t_fixed = measure()
    with pd.option_context("display.width", 140, "display.max_columns", 20):
        print(frame.round(3).to_string(na_rep=""))
    print(
        f"\ndecoding of {', '.join(FACTORS)} from {frame.index.levshape[0]} layers: "
        f"C by inner CV {t_cv:.1f} s, C = 1 {t_fixed:.1f} s (ratio {t_cv / t_fixed:.1f})"
    )


if __name__ == "__main__":
    main()
