"""Where a sweep's runs go: any ``concurrent.futures.Executor``. A local process pool is the default; Dask gives
a ``LocalCluster`` or an existing scheduler's workers. Every executor gives the same results."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
from collections.abc import Callable, Iterator
from multiprocessing import forkserver


def process_pool(
    workers: int | None = None,
    initializer: Callable[[], None] | None = None,
    *,
    start: bool = False,
    preload: tuple[str, ...] = (),
) -> cf.ProcessPoolExecutor:
    """The default executor: a local process pool (forkserver, so no thread state is forked); ``initializer`` runs
    once in each worker (e.g. ``sim.forecast.publish.background_priority``).

    ``preload``: modules the fork server imports once, before it forks any worker (the modules the tasks run), so
    that each worker starts with them imported instead of importing them itself; it applies when this process's
    fork server starts (its first pool) and stays with it. ``start``: start now, so that the start-up (a second or
    two of imports) overlaps what the caller does before it submits any task (a forecast's fit): with ``preload``
    the fork server starts importing and the workers are forked from it at the first tasks (starting one waits for
    the server's imports); without, every worker starts now and imports on its own."""
    count = workers or os.cpu_count() or 1
    context = multiprocessing.get_context("forkserver")
    if preload:
        context.set_forkserver_preload(["__main__", *preload])  # "__main__": multiprocessing's own default
    pool = cf.ProcessPoolExecutor(max_workers=count, mp_context=context, initializer=initializer)
    if start and preload:
        forkserver.ensure_running()  # returns at once; the server imports while the caller works
    elif start:
        for _ in range(count):  # the pool starts a worker for each task submitted while none is idle
            pool.submit(_nothing)
    return pool


def _nothing() -> None:
    """A task that does nothing (``process_pool(start=True)``)."""


class SchedulerError(RuntimeError):
    """A Dask scheduler that cannot be reached."""


@contextlib.contextmanager
def dask_executor(workers: int | None = None, scheduler: str | None = None) -> Iterator[cf.Executor]:
    """A ``concurrent.futures.Executor`` on Dask: an existing cluster at ``scheduler``, else a ``LocalCluster``."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler)
        except OSError as exc:  # unreachable, refused, timed out: distributed raises them all as OSError
            raise SchedulerError(f"Dask scheduler {scheduler}: cannot connect ({exc})") from exc
        with client:
            yield client.get_executor(pure=False)
        return
    # Each worker's statistical profiler samples the running task every 10 ms under the task's GIL: a cost with
    # no reader here (no dashboard). The nannies hand this config to the worker processes they start.
    with (
        dask.config.set({"distributed.worker.profile.enabled": False}),
        LocalCluster(
            n_workers=workers or os.cpu_count(), threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client.get_executor(pure=False)
