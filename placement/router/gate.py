"""Database calls off the event loop, with a deadline and a short circuit breaker.

Each call runs on a dedicated thread pool. Its deadline starts when a thread picks it up, so requests queued
behind a busy (but working) database are not failed; a database that refuses connections or stops answering
fails the call within the deadline. After a refused or broken connection the gate answers "unavailable" at
once for ``cool_down`` seconds, then lets calls through again, so the service recovers by itself when the database is
back.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import exc as sa_exc

T = TypeVar("T")


class DatabaseUnavailable(Exception):
    """The database refused the connection or did not answer in time."""


def is_unreachable(error: BaseException) -> bool:
    """Connection trouble, as opposed to an error in what was asked (those are bugs and stay visible)."""
    if isinstance(error, sa_exc.TimeoutError):  # no pooled connection came free in time
        return True
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError):
        # PostgreSQL: class 08 is "connection exception", 57P0x the server shutting down or starting up.
        # No SQLSTATE at all means the client failed to talk to the server (or it is SQLite's "locked").
        sqlstate = getattr(error.orig, "sqlstate", None)
        return sqlstate is None or sqlstate.startswith("08") or sqlstate.startswith("57P")
    return False


class DatabaseGate:
    """``threads`` is small on purpose: the handlers' Python work shares one GIL, so more threads only make each
    call (and the row locks it holds) last longer; queued calls wait outside their deadline instead."""

    def __init__(self, deadline: float, threads: int = 8, queue_deadline: float = 30.0, cool_down: float = 0.5):
        self.deadline = deadline
        self.queue_deadline = queue_deadline
        self.cool_down = cool_down
        self.threads = threads
        self.executor: ThreadPoolExecutor | None = None
        self._closed_until = 0.0
        self._lock = threading.Lock()
        self._stuck = 0  # calls past their deadline whose thread is still blocked
        self.last_error = ""

    def _trip(self, reason: str) -> DatabaseUnavailable:
        self._closed_until = time.monotonic() + self.cool_down
        self.last_error = reason
        return DatabaseUnavailable(reason)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        if time.monotonic() < self._closed_until:
            raise DatabaseUnavailable(f"the database is unavailable ({self.last_error})")
        loop = asyncio.get_running_loop()
        started = asyncio.Event()
        state = {"done": False, "stuck": False}

        def run() -> T:
            loop.call_soon_threadsafe(started.set)
            try:
                return fn(*args)
            finally:
                with self._lock:
                    state["done"] = True
                    if state["stuck"]:
                        self._stuck -= 1

        if self.executor is None:
            self.executor = ThreadPoolExecutor(self.threads, thread_name_prefix="db")
        future = loop.run_in_executor(self.executor, run)
        queued_at = time.monotonic()
        while not started.is_set():
            try:
                await asyncio.wait_for(started.wait(), 0.25)
            except TimeoutError:
                waited = time.monotonic() - queued_at
                # While earlier calls hang past their deadline, threads may never come free: wait only as long.
                if waited >= self.queue_deadline or (self._stuck and waited >= self.deadline):
                    future.cancel()
                    raise DatabaseUnavailable("the database did not answer in time") from None
        try:
            return await asyncio.wait_for(future, self.deadline)
        except TimeoutError as error:
            with self._lock:
                if not state["done"]:
                    state["stuck"] = True
                    self._stuck += 1
            # Not a trip: a slow answer under load should not fail the requests behind it.
            raise DatabaseUnavailable("the database did not answer in time") from error
        except sa_exc.SQLAlchemyError as error:
            if is_unreachable(error):
                orig = getattr(error, "orig", None) or error
                raise self._trip(f"the database is unreachable: {type(orig).__name__}") from error
            raise

    @property
    def stuck_calls(self) -> int:
        return self._stuck

    def shutdown(self) -> None:
        """Stop the threads (at the app's shutdown); a later call starts new ones."""
        executor, self.executor = self.executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
