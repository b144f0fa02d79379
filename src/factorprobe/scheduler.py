"""Where dask work runs: a local dask scheduler by name, or a dask.distributed cluster by address.

The analysis and capture build ordinary dask graphs; this module only picks who executes them.
``None`` and ``"threads"`` mean dask's local threaded scheduler; ``"synchronous"`` runs in the
calling thread (debugging); an address such as ``"tcp://10.0.0.5:8786"`` connects a
:class:`distributed.Client` to an existing cluster for the duration of the call (the optional
``distributed`` package is imported only then). A ``distributed.Client`` may be passed as is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

LOCAL_SCHEDULERS: tuple[str, ...] = ("threads", "synchronous")
ADDRESS_PREFIXES: tuple[str, ...] = ("tcp://", "tls://", "inproc://", "ucx://", "ws://", "wss://")
#: How long to try reaching a scheduler before giving up.
CONNECT_TIMEOUT = "30s"

__all__ = ["LOCAL_SCHEDULERS", "check_scheduler", "compute", "scheduler_for"]


_S = TypeVar("_S")


def check_scheduler(scheduler: _S, *, where: str) -> _S:
    """Validate a scheduler option: None, a local scheduler name, an address or a Client."""
    if scheduler is None or scheduler in LOCAL_SCHEDULERS:
        return scheduler
    if isinstance(scheduler, str):
        if scheduler.startswith(ADDRESS_PREFIXES):
            return scheduler
        raise ValueError(
            f"The 'scheduler' parameter of {where} must be one of "
            f"{', '.join(repr(s) for s in LOCAL_SCHEDULERS)} or a dask.distributed address "
            f"starting with {', '.join(repr(p) for p in ADDRESS_PREFIXES[:2])}; got {scheduler!r}."
        )
    if type(scheduler).__name__ == "Client":
        return scheduler
    raise TypeError(
        f"The 'scheduler' parameter of {where} must be None, a str or a distributed.Client; "
        f"got {type(scheduler).__name__}."
    )


@contextmanager
def scheduler_for(scheduler: object) -> Iterator[Any]:
    """What ``dask.compute(..., scheduler=...)`` takes; a Client connected for the block."""
    if scheduler is None:
        yield "threads"
        return
    if not isinstance(scheduler, str) or scheduler in LOCAL_SCHEDULERS:
        yield scheduler
        return
    try:
        from distributed import Client
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"Scheduler address {scheduler!r} needs the 'distributed' package "
            "(pip install distributed)."
        ) from err
    try:
        client = Client(scheduler, set_as_default=False, timeout=CONNECT_TIMEOUT)
    except OSError as err:
        raise OSError(f"Cannot reach the dask scheduler at {scheduler!r}: {err}") from err
    try:
        yield client
    finally:
        client.close()


def compute(*collections: Any, scheduler: object = None) -> tuple[Any, ...]:
    """``dask.compute`` of the collections on the chosen scheduler."""
    import dask

    with scheduler_for(scheduler) as chosen:
        return dask.compute(*collections, scheduler=chosen)
