"""The ``[ablation]`` stage of a run: cumulative ablation ranked by the run's own unit table."""

from __future__ import annotations

from pathlib import Path

from factorprobe.io.files import load_netcdf
from factorprobe.pipeline._stage_model import load_run_model
from factorprobe.pipeline._stage_stimuli import run_stimuli
from factorprobe.pipeline.config import RunConfig


def run_ablation(config: RunConfig, folder: Path, *, progress: bool) -> None:
    """Cumulative ablation of the configured layer, ranked by the run's own unit table."""
    from factorprobe.pipeline.ablate import write_ablation

    options = config.ablation
    assert options is not None  # checked by the caller
    model = load_run_model(config.model, base_dir=config.base_dir)
    _, source = run_stimuli(config, model)
    table = load_netcdf(folder / "units.nc")
    write_ablation(
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
