"""The pipeline: everything ``factorprobe run`` needs, and nothing else imports.

:func:`run` reads a configuration (:mod:`factorprobe.pipeline.config`) and writes one results
folder per run through three stages that each read only what the stage before saved: capture
(stimuli and model), analysis, report. :func:`analyze` reruns the analysis on a saved folder.
The private modules hold the run's stages (``_stage_*``), its work folder and resume logic, its
manifest, fingerprints and lock.
"""

from __future__ import annotations

from factorprobe.pipeline.config import RunConfig, load_config, parse_config
from factorprobe.pipeline.runner import analyze, capture_run, combine_runs, run

__all__ = [
    "RunConfig",
    "analyze",
    "capture_run",
    "combine_runs",
    "load_config",
    "parse_config",
    "run",
]
