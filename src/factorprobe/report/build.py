"""The report stage: (re)make a results folder's figures and, when available, its HTML report.

:func:`make_report` is the seam between a run and its presentation. It draws the figures of
:mod:`factorprobe.report.figures`, then, if the module :mod:`factorprobe.report.html` exists,
calls its ``write_html(results)`` to write ``results/report.html``. It reads only the files the
analysis saved, so ``factorprobe report RESULTS`` reruns it on finished results.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
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
    if not (results / "units.nc").is_file():
        raise FileNotFoundError(f"{str(results)!r} is not a results folder: it has no units.nc.")
    if importlib.util.find_spec(HTML_MODULE) is None:
        write_figures(results)
        return results / "plots"
    html = importlib.import_module(HTML_MODULE)
    with drawing_pool() as pool:
        # a second process draws plots/*.png and then the unit cards while this one draws
        # the page's layers (figures are independent; drawing is nearly all of the time)
        figures = pool.submit(write_figures, results) if pool is not None else None
        path = Path(html.write_html(results, quiet=quiet, pool=pool))
        if figures is None:
            write_figures(results)
        else:
            figures.result()
    return path


@contextlib.contextmanager
def drawing_pool() -> Iterator[Executor | None]:
    """One worker process (spawned: the caller may hold torch's threads) when the machine has
    two CPUs or more and ``FACTORPROBE_REPORT_WORKERS`` is not ``1``; else None (serial)."""
    serial = os.environ.get("FACTORPROBE_REPORT_WORKERS", "") == "1"
    if serial or (os.cpu_count() or 1) < 2:
        yield None
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        yield pool
