"""Where replications run: in this process, on a local process pool, or on a Dask cluster.

Every executor takes the same tasks and returns the same results; the runner sorts them by
(point, replication), so the tables are identical, byte for byte, whichever executor ran them.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any, Protocol

Job = tuple[Any, tuple[Any, ...]]
"""(key, arguments): the key comes back with the result."""


class Executor(Protocol):
    """Where replications run: every executor takes the same jobs and yields the same
    results, in the order they finish."""

    name: str
    workers: int

    def run(self, fn: Callable[..., Any], jobs: Iterable[Job]) -> Iterator[tuple[Any, Any]]:
        """Yield ``(key, fn(*arguments))`` for every job, in the order they finish."""
        ...

    def close(self) -> None:
        """Release the workers (after the last run, or on an interruption)."""
        ...


class StudyOptionError(ValueError):
    """An option of a study that cannot work (no jobs, an unknown executor, ...)."""


class ExecutorUnavailable(RuntimeError):
    """The executor asked for cannot start here (a missing package, an unreachable cluster)."""


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Serial(Executor):
    """Every run in this process, one after another."""

    name = "serial"
    workers = 1

    def run(self, fn: Callable[..., Any], jobs: Iterable[Job]) -> Iterator[tuple[Any, Any]]:
        for key, args in jobs:
            yield key, fn(*args)

    def close(self) -> None:
        pass


def _ignore_interrupts() -> None:
    """Workers leave Ctrl-C to the parent, which cancels what is left and keeps what is done."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class LocalPool(Executor):
    """A process pool on this machine; at most ``2 x workers`` jobs are queued at a time, so an
    interruption leaves little work to cancel."""

    name = "processes"

    def __init__(self, workers: int):
        from concurrent.futures import ProcessPoolExecutor  # multiprocessing: only when used

        self.workers = workers
        self._pool = ProcessPoolExecutor(max_workers=workers, initializer=_ignore_interrupts)

    def run(self, fn: Callable[..., Any], jobs: Iterable[Job]) -> Iterator[tuple[Any, Any]]:
        pending: dict[Future[Any], Any] = {}
        queue = iter(jobs)
        try:
            for key, args in queue:
                pending[self._pool.submit(fn, *args)] = key
                if len(pending) >= 2 * self.workers:
                    break
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    key = pending.pop(future)
                    result = future.result()
                    for next_key, args in queue:
                        pending[self._pool.submit(fn, *args)] = next_key
                        break
                    yield key, result
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskCluster(Executor):
    """A Dask distributed cluster: an existing one (``scheduler`` address) or a local one."""

    name = "dask"

    def __init__(self, scheduler: str | None, workers: int):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ExecutorUnavailable(
                "the Dask executor needs the 'dask' extra: pip install 'delivery-sim[dask]'"
            ) from None
        self._cluster = None
        try:
            if scheduler:
                self._client = Client(scheduler, timeout="10s")
            else:
                self._cluster = LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
                )
                self._client = Client(self._cluster)
        except (OSError, TimeoutError) as exc:
            raise ExecutorUnavailable(
                f"cannot reach the Dask scheduler {scheduler}: {exc}"
            ) from None
        self.workers = max(1, len(self._client.scheduler_info().get("workers", {})))

    def run(self, fn: Callable[..., Any], jobs: Iterable[Job]) -> Iterator[tuple[Any, Any]]:
        from distributed import as_completed

        keys = {}
        futures = []
        for key, args in jobs:
            future = self._client.submit(fn, *args, pure=False)
            keys[future.key] = key
            futures.append(future)
        try:
            for future in as_completed(futures):
                yield keys[future.key], future.result()
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(
    jobs: int | None = None, executor: str | None = None, scheduler: str | None = None
) -> Executor:
    """``executor``: ``serial``, ``processes`` or ``dask`` (a ``scheduler`` implies Dask);
    by default a process pool on ``jobs`` cores (all of them), serial for one."""
    workers = jobs if jobs is not None else cores()
    if workers < 1:
        raise StudyOptionError(f"jobs ({workers}) must be at least 1")
    if scheduler or executor == "dask":
        return DaskCluster(scheduler, workers)
    if executor == "serial" or (executor is None and workers == 1):
        return Serial()
    if executor not in (None, "processes"):
        raise StudyOptionError(f"unknown executor {executor!r}: expected serial, processes or dask")
    return LocalPool(workers)
