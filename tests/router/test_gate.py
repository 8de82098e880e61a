"""``DatabaseGate.call_on_loop``: the answer, or "did not answer in time" at the deadline while the late work is
cancelled in the background, its connection slot free once it ends."""

from __future__ import annotations

import asyncio

import pytest

from placement.router.gate import DatabaseGate, DatabaseUnavailable


def test_call_on_loop_answers_and_frees_its_slot():
    async def scenario():
        gate = DatabaseGate(deadline=5.0)
        free = asyncio.Semaphore(1)

        async def work():
            await asyncio.sleep(0)
            return "answer"

        assert await gate.call_on_loop(free, work) == "answer"
        await asyncio.sleep(0)  # the slot is given back by the work's done callback
        assert not free.locked()
        assert gate.healthy

    asyncio.run(scenario())


def test_call_on_loop_past_its_deadline_is_unavailable_and_the_late_work_is_cancelled():
    async def scenario():
        gate = DatabaseGate(deadline=0.05)
        free = asyncio.Semaphore(1)
        cancelled = asyncio.Event()

        async def hangs():
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        # The work would take a minute: its caller is answered at the deadline, not when the work ends.
        with pytest.raises(DatabaseUnavailable, match="did not answer in time"):
            await gate.call_on_loop(free, hangs)
        assert not gate.healthy
        assert asyncio.current_task().cancelling() == 0  # the deadline's cancellation was answered, not pending
        await cancelled.wait()
        await asyncio.sleep(0)
        assert not free.locked()  # its slot came back once the cancelled work ended
        assert gate._stuck == 0

    asyncio.run(scenario())


def test_call_on_loop_raises_the_works_error():
    async def scenario():
        gate = DatabaseGate(deadline=5.0)
        free = asyncio.Semaphore(1)

        async def fails():
            raise ValueError("a bug, not an outage")

        with pytest.raises(ValueError, match="a bug"):
            await gate.call_on_loop(free, fails)
        await asyncio.sleep(0)
        assert not free.locked()

    asyncio.run(scenario())


def test_call_on_loop_runs_the_work_in_the_callers_task_without_a_loop_turn():
    async def scenario():
        gate = DatabaseGate(deadline=5.0)
        free = asyncio.Semaphore(1)
        caller = asyncio.current_task()
        seen = []

        async def work():
            seen.append(asyncio.current_task() is caller)  # started in the caller's step, not a task's first turn
            return "answer"

        assert await gate.call_on_loop(free, work) == "answer"
        assert seen == [True]
        assert not free.locked()  # given back as the work ended

    asyncio.run(scenario())


def test_call_on_loop_gives_the_work_what_its_awaited_future_raised():
    async def scenario():
        gate = DatabaseGate(deadline=5.0)
        free = asyncio.Semaphore(1)

        async def work():
            failing = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(failing.set_exception, KeyError("from the future"))
            try:
                await failing
            except KeyError:
                return "handled by the work"

        assert await gate.call_on_loop(free, work) == "handled by the work"
        assert not free.locked()

    asyncio.run(scenario())


def test_a_caller_cancelled_from_elsewhere_cancels_its_work_in_the_background():
    async def scenario():
        gate = DatabaseGate(deadline=5.0)
        free = asyncio.Semaphore(1)
        cleaned_up = asyncio.Event()

        async def slow_to_cancel():
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                await asyncio.sleep(0.01)  # as psycopg cancels its query: awaited, in the work's own task
                cleaned_up.set()
                raise

        caller = asyncio.ensure_future(gate.call_on_loop(free, slow_to_cancel))
        await asyncio.sleep(0.01)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert not cleaned_up.is_set()  # the caller did not wait for the work's cancellation
        assert free.locked()  # the connection is still the work's
        await cleaned_up.wait()
        await asyncio.sleep(0)
        assert not free.locked()
        assert gate._stuck == 0

    asyncio.run(scenario())
