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
