"""How a run shows its progress: bars on a terminal, plain log lines elsewhere, or nothing.

``"auto"`` (the default) draws tqdm bars when standard error is a terminal and otherwise prints
plain lines (a log, a pipe, ``nohup``, CI): one per finished stage, with the run's name, its
number in a sweep and the capture's batches, and every :data:`HEARTBEAT_S` seconds of a long
capture the batches done so far. Notes a user should see in every mode but
``"none"`` (a finished run reused, or recomputed and why) are lines in both.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from tqdm.auto import tqdm

ProgressMode = Literal["auto", "bars", "lines", "none"]
PROGRESS_MODES: tuple[str, ...] = ("auto", "bars", "lines", "none")
#: seconds between the lines that report a long stage's progress (lines mode)
HEARTBEAT_S = 10.0


def resolve_mode(progress: str, quiet: bool) -> str:
    """``"bars"``, ``"lines"`` or ``"none"`` for a ``progress`` choice (``quiet`` wins).

    Raises
    ------
    ValueError
        ``progress`` is not one of :data:`PROGRESS_MODES`.
    """
    if progress not in PROGRESS_MODES:
        raise ValueError(
            f"The 'progress' parameter of run must be one of "
            f"{', '.join(map(repr, PROGRESS_MODES))}; got {progress!r}."
        )
    if quiet or progress == "none":
        return "none"
    if progress == "auto":
        return "bars" if sys.stderr.isatty() else "lines"
    return progress


@dataclass(frozen=True)
class Progress:
    """Where one run reports: its mode and its label (``"name"``, or ``"[2/3] name"``)."""

    mode: str = "none"
    label: str = ""

    @property
    def bars(self) -> bool:
        """Whether to draw progress bars."""
        return self.mode == "bars"

    def start(self, text: str) -> None:
        """The run's header above its bars (bars mode only: lines name the run on each line)."""
        if self.mode == "bars":
            self._write(text)

    def stage(self, text: str) -> None:
        """A finished stage, as a log line (lines mode only: bars show it already)."""
        if self.mode == "lines":
            self._write(text)

    @contextmanager
    def watch(self, what: str, count: Callable[[], tuple[int, int]]) -> Iterator[None]:
        """While the block runs, every :data:`HEARTBEAT_S` seconds a line ``what: done/total
        batches`` (lines mode only), from ``count()`` (read from what the stage saved)."""
        if self.mode != "lines":
            yield
            return
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(HEARTBEAT_S):
                done, total = count()
                if total:
                    self._write(f"{what}: {done}/{total} batches")

        thread = threading.Thread(target=beat, name="factorprobe-progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def note(self, text: str) -> None:
        """Something the user should know whatever the display (not with ``"none"``)."""
        if self.mode != "none":
            self._write(text)

    def _write(self, text: str) -> None:
        tqdm.write(f"{self.label}: {text}" if self.label else text, file=sys.stderr)
