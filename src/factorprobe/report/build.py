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
        :func:`factorprobe.pipeline.runner.analyze`.
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
    write_figures(results)
    if importlib.util.find_spec(HTML_MODULE) is None:
        return results / "plots"
    html = importlib.import_module(HTML_MODULE)
    return Path(html.write_html(results, quiet=quiet))
