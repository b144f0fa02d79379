"""The report stage: (re)make a results folder's figures and, when available, its HTML report.

:func:`make_report` is the seam between a run and its presentation. It draws the figures of
:mod:`factorprobe.report.figures`, then, if the module :mod:`factorprobe.report.html` exists,
calls its ``write_html(results)`` to write ``results/report.html``. It reads only the files the
analysis saved, so ``factorprobe report RESULTS`` reruns it on finished results.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path

from factorprobe.report.figures import write_figures

__all__ = ["make_report"]

HTML_MODULE = "factorprobe.report.html"


def make_report(results: str | os.PathLike[str], *, quiet: bool = False) -> Path:
    """Draw the figures of a results folder into ``plots/`` and write its HTML report.

    Parameters
    ----------
    results : path-like
        A folder written by :func:`factorprobe.pipeline.runner.run` or
        :func:`factorprobe.pipeline.runner.analyze`, or a sweep's folder (its runs' reports
        are redrawn and ``report.html`` puts the runs side by side,
        :mod:`factorprobe.report.sweep`).
    quiet : bool, default=False
        Passed to the HTML writer (the figures print nothing).

    Returns
    -------
    Path
        ``results/report.html`` when the HTML writer is available, else ``results/plots``.

    Raises
    ------
    FileNotFoundError
        If ``results`` is not a results folder (no ``units.nc``).
    """
    results = Path(results)
    runs = sorted(p.parent for p in results.glob("*/units.nc"))
    if not (results / "units.nc").is_file() and runs:  # a sweep's folder: its runs side by side
        from factorprobe.report.sweep import write_sweep_html

        for run in runs:
            make_report(run, quiet=quiet)
        return write_sweep_html(results, runs)
    write_figures(results)
    if importlib.util.find_spec(HTML_MODULE) is None:
        return results / "plots"
    html = importlib.import_module(HTML_MODULE)
    return Path(html.write_html(results, quiet=quiet))
