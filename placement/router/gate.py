"""Database calls off the event loop, with a deadline and a short circuit breaker.

Each call runs on a dedicated thread pool. Its deadline starts when a thread picks it up, so requests queued
behind a busy (but working) database are not failed; a database that refuses connections or stops answering
fails the call within the deadline. After a refused or broken connection the gate answers "unavailable" at
once for ``cool_down`` seconds, then lets calls through again, so the service recovers by itself when the database is
back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg
from sqlalchemy import exc as sa_exc

from placement.router.inline_work import Expired, InlineWork

T = TypeVar("T")
# Database calls in flight at once: threads, or the event loop's connections (``placement.router.loop_booking``).
DEFAULT_THREADS = 8


class DatabaseUnavailable(Exception):
    """The database refused the connection or did not answer in time."""


def is_unreachable(error: BaseException) -> bool:
    """Connection trouble, as opposed to an error in what was asked (those are bugs and stay visible)."""
    if isinstance(error, sa_exc.TimeoutError):  # no pooled connection came free in time
        return True
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError):
        return _connection_trouble(getattr(error.orig, "sqlstate", None))
    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):  # the event loop's own connections
        return _connection_trouble(error.sqlstate)
    return False


def _connection_trouble(sqlstate: str | None) -> bool:
    # PostgreSQL: class 08 is "connection exception", 57P0x the server shutting down or starting up.
    # No SQLSTATE at all means the client failed to talk to the server (or it is SQLite's "locked").
    return sqlstate is None or sqlstate.startswith("08") or sqlstate.startswith("57P")


class DatabaseGate:
    """``threads`` is small on purpose: the handlers' Python work shares one GIL, so more threads only make each
    call (and the row locks it holds) last longer; queued calls wait outside their deadline instead.

    The free threads are counted by a semaphore on the event loop, so a call that finds one free goes straight
    to it (one hop there and one back); only when every thread is busy does a call wait, in slices, for one.
    A thread is given back when its call really ends, even if the caller gave up on it earlier.
    """

    def __init__(
        self, deadline: float, threads: int = DEFAULT_THREADS, queue_deadline: float = 30.0, cool_down: float = 0.5
    ):
        self.deadline = deadline
        self.queue_deadline = queue_deadline
        self.cool_down = cool_down
        self.threads = threads
        self.executor: ThreadPoolExecutor | None = None
        self._free: asyncio.Semaphore | None = None
        self._closed_until = 0.0
        self._stuck = 0  # calls past their deadline whose thread is still blocked
        self.last_error = ""
        self.healthy = True  # the last call that ended got its answer from the database

    def _trip(self, reason: str) -> DatabaseUnavailable:
        self.healthy = False
        self._closed_until = time.monotonic() + self.cool_down
        self.last_error = reason
        return DatabaseUnavailable(reason)

    async def _take_thread(self, free: asyncio.Semaphore) -> None:
        queued_at = time.monotonic()
        while True:
            try:
                async with asyncio.timeout(0.25):
                    await free.acquire()
                return
            except TimeoutError:
                waited = time.monotonic() - queued_at
                # While earlier calls hang past their deadline, threads may never come free: wait only as long.
                if waited >= self.queue_deadline or (self._stuck and waited >= self.deadline):
                    self.healthy = False
                    raise DatabaseUnavailable("the database did not answer in time") from None

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        if time.monotonic() < self._closed_until:
            raise DatabaseUnavailable(f"the database is unavailable ({self.last_error})")
        if self.executor is None or self._free is None:
            self.executor = ThreadPoolExecutor(self.threads, thread_name_prefix="db")
            self._free = asyncio.Semaphore(self.threads)
        free = self._free
        if free.locked():
            await self._take_thread(free)
        else:
            await free.acquire()  # returns at once: a thread is free
        loop = asyncio.get_running_loop()
        running = self.executor.submit(fn, *args)
        state = {"stuck": False}

        def give_back(_done: Any) -> None:
            if state["stuck"]:
                self._stuck -= 1
            free.release()

        def hand_back(done: Any) -> None:
            # The loop owns the semaphore and the stuck count; after shutdown there is nothing to give back to.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(give_back, done)

        running.add_done_callback(hand_back)
        try:
            async with asyncio.timeout(self.deadline):
                answer = await asyncio.wrap_future(running)
            self.healthy = True
            return answer
        except TimeoutError as error:
            self.healthy = False
            if not running.done():
                state["stuck"] = True
                self._stuck += 1
            # Not a trip: a slow answer under load should not fail the requests behind it.
            raise DatabaseUnavailable("the database did not answer in time") from error
        except sa_exc.SQLAlchemyError as error:
            if is_unreachable(error):
                orig = getattr(error, "orig", None) or error
                raise self._trip(f"the database is unreachable: {type(orig).__name__}") from error
            raise

    async def call_on_loop(self, free: asyncio.Semaphore, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """``work`` on the event loop's own connections (``placement.router.loop_booking``), under the rules of
        ``call``: the breaker; ``free`` counts its connections as the threads are counted; the deadline starts once
        it has one. The work runs in the caller's task (``InlineWork``): its statement is sent in the caller's step
        and the caller goes on in the step that receives the answer, with no task made and no loop turn between.
        Past the deadline it goes on, cancelled, in a task of its own (psycopg cancels the query, or closes the
        connection) and the caller is answered "did not answer in time"; its connection is free once it ends. A
        caller cancelled from elsewhere cancels its work the same way."""
        if time.monotonic() < self._closed_until:
            raise DatabaseUnavailable(f"the database is unavailable ({self.last_error})")
        if free.locked():
            await self._take_thread(free)
        else:
            await free.acquire()
        stuck = False

        def ended() -> None:
            if stuck:
                self._stuck -= 1
            free.release()

        try:
            inline = InlineWork(work(), ended)
        except BaseException:
            free.release()
            raise
        deadline = asyncio.get_running_loop().call_later(self.deadline, inline.expire)
        try:
            answer = await inline
        except Expired:
            self.healthy = False
            stuck = True
            self._stuck += 1
            raise DatabaseUnavailable("the database did not answer in time") from None
        except psycopg.Error as error:
            if is_unreachable(error):
                raise self._trip(f"the database is unreachable: {type(error).__name__}") from error
            raise
        finally:
            deadline.cancel()
        self.healthy = True
        return answer

    def shutdown(self) -> None:
        """Stop the threads (at the app's shutdown); a later call starts new ones."""
        executor, self.executor, self._free = self.executor, None, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
