"""Atomic output: every file is written under a temporary name and renamed when complete.

A crash, an exception or ``kill -9`` therefore never leaves a half-written output behind
(DESIGN.md section 9); at worst a hidden ``.NAME.tmp-*`` file remains, which the next write
of the same output replaces.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block succeeds.

    Parameters
    ----------
    path : path-like
        The final output (a file, or a directory such as a zarr store). Its parent directory
        is created if missing. An existing output is replaced only once the new one is complete.

    Yields
    ------
    Path
        Where to write. On error the temporary output is removed and the error re-raised.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "table.csv"
    >>> with atomic_output(out) as tmp:
    ...     _ = tmp.write_text("a,b\\n1,2\\n")
    >>> out.read_text()
    'a,b\\n1,2\\n'
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        _remove(tmp)
        raise


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
