"""One run at a time per results folder: a lock file beside it, held while the run writes.

``factorprobe run --out res`` holds ``.res.lock`` (an OS lock through :mod:`filelock`) from
before it looks at ``res`` or its work folder until it has published them. A second run into the
same folder does not wait: it refuses at once, in one line, so two runs never share a work
folder. The lock file is removed when the run ends; after ``kill -9`` it stays, unlocked (the
operating system releases the lock of a dead process), and the next run takes it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import filelock

LOCK = ".lock"
_RETRIES = 3  # a lock file removed by its last holder between our open and our lock


def lock_path(folder: Path) -> Path:
    """The lock file of the results folder ``folder``: ``.<name>.lock`` beside it."""
    folder = Path(os.path.abspath(folder))
    return folder.with_name(f".{folder.name}{LOCK}")


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold the lock of ``folder`` for the block; refuse at once if another run holds it.

    Raises
    ------
    BlockingIOError
        Another process holds the lock (one-line message naming the folder).
    FileExistsError
        The lock path is a symbolic link (never followed).
    """
    path = lock_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(_RETRIES):
        if path.is_symlink():
            raise FileExistsError(
                f"The lock file {str(path)!r} is a symbolic link; factorprobe never follows one: "
                f"move it away, or choose another --out."
            )
        lock = filelock.FileLock(str(path), timeout=0)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise BlockingIOError(
                f"Another factorprobe run is writing {str(folder)!r} (it holds {str(path)!r}); "
                f"wait for it to finish, or choose another --out."
            ) from None
        if _still_ours(lock, path):
            break
        lock.release()  # we locked a file its previous holder had just removed: take the new one
    else:  # pragma: no cover - needs three removals racing with us
        raise BlockingIOError(f"Cannot take the lock {str(path)!r}; try again.")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)  # while still holding it: a waiting opener sees it gone
        lock.release()


def _still_ours(lock: filelock.BaseFileLock, path: Path) -> bool:
    """Whether the file we locked is still the one at ``path`` (not removed in between)."""
    fd = getattr(getattr(lock, "_context", None), "lock_file_fd", None)
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    if not isinstance(fd, int):
        return True
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino)
