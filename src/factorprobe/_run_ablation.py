"""The ``[ablation]`` stage of a run: cumulative ablation ranked by the run's own unit table."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

from factorprobe._run_model import load_run_model
from factorprobe._run_stimuli import run_stimuli
from factorprobe.config import RunConfig
from factorprobe.files import load_netcdf

ABLATION_MODULE = "factorprobe.analysis.ablation"


def run_ablation(config: RunConfig, folder: Path, *, progress: bool) -> None:
    """Cumulative ablation of the configured layer, ranked by the run's own unit table."""
    if importlib.util.find_spec(ABLATION_MODULE) is None:
        raise ValueError(
            f"[ablation] needs {ABLATION_MODULE}, which this version does not have; remove the "
            f"[ablation] table."
        )
    ablation = importlib.import_module(ABLATION_MODULE)
    options = config.ablation
    assert options is not None  # checked by the caller
    model = load_run_model(config.model, base_dir=config.base_dir)
    _, source = run_stimuli(config, model)
    table = load_netcdf(folder / "units.nc")
    ablation.write_ablation(
        model,
        source,
        options.layer,
        list(options.rankings),
        folder / "ablation",
        plot=config.output.plots,
        table=table,
        factors=list(config.analysis.factors),
        directions=list(options.directions),
        grid=options.grid,
        n_random=options.n_random,
        method=options.method,
        decoder=options.decoder,
        n_splits=config.analysis.n_splits,
        activation=config.model.activation,
        batch_size=config.model.batch_size,
        device=config.model.device,
        seed=options.seed,
        progress=progress,
    )
