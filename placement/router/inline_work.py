"""A coroutine run inside the task that awaits it, handed to a task of its own only if it must outlive the wait.

``DatabaseGate.call_on_loop`` answers "did not answer in time" at its deadline while the late work goes on (psycopg,
cancelled, cancels its query or closes the connection, which may take seconds). It used to start every call as a
task of its own and wake its caller from it: a task made per call, its first step a loop turn after the call, and
the caller's wake-up another turn after the work's last step. On the shared event loop each turn lets every
callback that is ready run first, so a placement's statement was sent, and its answer written, behind the other
requests' work.

``InlineWork`` runs the work's steps in the caller's task instead, as a plain ``await`` does: the statement is sent
in the caller's step, and the caller goes on with the answer in the step that receives it. When the caller's task
is cancelled (the gate's deadline cancels it, ``expire``) while the work waits, the work is not cancelled in the
caller's task: it goes on in a task of its own (``adopted``), cancelled there, and the caller is free at once. The
task's cancellation reached the future the work was waiting on, as ``Task.cancel`` on the work's own task did
before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Generator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Expired(Exception):
    """The work was past its deadline: it goes on, cancelled, in ``InlineWork.adopted``."""


class InlineWork(Generic[T]):
    """``await InlineWork(coro, on_end)``: ``coro``'s answer, run in the awaiting task; ``on_end`` is called once
    ``coro`` has ended, however it ended (in the caller's step, or in the adopting task's done callback). Awaited
    once. ``expire()`` (from a timer) ends the wait with ``Expired``; a cancellation of the caller's task from
    elsewhere ends it with ``CancelledError``, as any await would; in both cases ``coro`` is cancelled in
    ``adopted``."""

    __slots__ = ("_coro", "_expired", "_on_end", "_task", "adopted")

    def __init__(self, coro: Coroutine[Any, Any, T], on_end: Callable[[], None]) -> None:
        self._coro = coro
        self._on_end = on_end
        self._task: asyncio.Task[Any] | None = None
        self._expired = False
        self.adopted: asyncio.Task[T] | None = None

    def expire(self) -> None:
        """Past the deadline: the caller stops waiting (with ``Expired``) at its next wake-up, now if it waits."""
        task = self._task
        if task is not None and not self._expired:
            self._expired = True
            task.cancel()

    def __await__(self) -> Generator[Any, Any, T]:
        coro = self._coro
        self._task = asyncio.current_task()
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = coro.send(value) if error is None else coro.throw(error)
            except StopIteration as stop:  # a generator must not let StopIteration out (PEP 479)
                self._on_end()
                return stop.value
            except BaseException:
                self._on_end()
                raise
            try:
                value, error = (yield step), None
            except asyncio.CancelledError as cancelled:
                # The caller's task was cancelled while the work waited: the work goes on in a task of its own.
                self._adopt()
                if self._expired:
                    task = self._task
                    if task is not None:
                        task.uncancel()  # the deadline's cancellation, answered as Expired, not the caller's
                    raise Expired from cancelled
                raise
            except BaseException as thrown:  # the future the work waited on failed: the work sees it
                value, error = None, thrown

    def _adopt(self) -> None:
        loop = asyncio.get_running_loop()
        self.adopted = adopted = loop.create_task(_cancelled(self._coro))
        on_end = self._on_end

        def ended(done: asyncio.Task[Any]) -> None:
            on_end()
            if not done.cancelled():
                done.exception()  # seen: a cancelled call's error is nobody's to raise

        adopted.add_done_callback(ended)


async def _cancelled(coro: Coroutine[Any, Any, T]) -> T:
    """The rest of ``coro``, which was waiting when its caller was cancelled: it sees that cancellation first."""
    return await _Resumed(coro)


class _Resumed(Generic[T]):
    __slots__ = ("_coro",)

    def __init__(self, coro: Coroutine[Any, Any, T]) -> None:
        self._coro = coro

    def __await__(self) -> Generator[Any, Any, T]:
        coro = self._coro
        try:
            step = coro.throw(asyncio.CancelledError())
            while True:
                try:
                    value = yield step
                except BaseException as error:
                    step = coro.throw(error)
                else:
                    step = coro.send(value)
        except StopIteration as stop:  # a generator must not let StopIteration out (PEP 479)
            return stop.value
