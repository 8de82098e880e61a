"""Keeping the cached fleet filled from the event loop: one database read per refill, not one per request.

The cached fleet lasts ``fleet_cache_seconds``. Without care, every request that arrives between its expiry and
the refill reads the fleet through its own database thread, all at once, and the tail latency shows it. So:

- **single flight:** when the fleet (or a customer's volume count) must be read, one read runs and every request
  that needs it awaits that same read;
- **read ahead:** a request that finds the fleet past half its age starts that one read in the background and is
  answered from the fleet it found, so under a steady load the fleet is read again before it expires and no
  request waits for it.

The reads go through the database gate (its deadline and its 503), and only while the gate is healthy: an outage
is reported by the requests' own calls, as before. On PostgreSQL the fleet is read through the event loop's own
connections (``LoopPlacements.refill``), not a database thread, so a refill does not take turns on the GIL from the
placements in flight; a customer's count, and a fleet read whose reused connection went bad, take the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from placement.model import PlacementRequest
from placement.router.cache import CachedFleet
from placement.router.gate import DatabaseGate
from placement.router.loop_booking import LoopPlacements
from placement.router.store import Store
from placement.state import RequestIn


class CacheFiller:
    """Runs on the event loop only."""

    def __init__(self, store: Store, gate: DatabaseGate, placing: LoopPlacements | None = None):
        self.store = store
        self.gate = gate
        self.placing = placing  # reads the fleet through the event loop's connections (PostgreSQL)
        self._fleet: asyncio.Future[Any] | None = None
        self._customers: dict[str, asyncio.Future[Any]] = {}

    def _shared(self, current: asyncio.Future[Any] | None, read: Callable[..., Any], *args: Any) -> asyncio.Future:
        if current is not None and not current.done():
            return current
        running = asyncio.ensure_future(self.gate.call(read, *args))
        # Read in the background, nobody may await it: its failure is the gate's business, not an unseen error.
        running.add_done_callback(lambda done: done.cancelled() or done.exception())
        return running

    def _reading_fleet(self) -> asyncio.Future[Any]:
        current = self._fleet
        if current is not None and not current.done():
            return current
        running = asyncio.ensure_future(self._read_fleet())
        running.add_done_callback(lambda done: done.cancelled() or done.exception())  # as ``_shared``'s
        return running

    async def _read_fleet(self) -> None:
        placing = self.placing
        on_loop = placing is not None and placing.connections is not None
        if on_loop and await self.gate.call_on_loop(placing.connections.free, placing.refill):
            return
        await self.gate.call(self.store.refresh_fleet)

    async def fleet(self) -> None:
        """Wait for the fleet to be read (this request's read, or the one already running)."""
        self._fleet = self._reading_fleet()
        await asyncio.shield(self._fleet)  # one caller leaving does not cancel the others' read

    def read_ahead(self) -> None:
        """Start reading the fleet if it is due, without waiting for it."""
        if self.gate.healthy and self.store.cache.due():
            self._fleet = self._reading_fleet()

    async def ready(self) -> None:
        """Make sure a fresh fleet is cached before a placement's transaction, which then need not read it."""
        if not self.gate.healthy:
            return
        if self.store.cache.fresh() is None:
            await self.fleet()
        else:
            self.read_ahead()

    async def from_cache(
        self, request: RequestIn, model: PlacementRequest
    ) -> tuple[PlacementRequest, CachedFleet] | None:
        """The engine's request and the fleet from the cache, reading what it lacks (once for all requests
        waiting on it); None when the gate is unhealthy or the cache was dropped meanwhile."""
        if not self.gate.healthy:
            return None
        store = self.store
        hit = store.from_cache(request, model)
        if hit is not None:
            self.read_ahead()
            return hit
        if store.cache.fresh() is None:
            await self.fleet()
            hit = store.from_cache(request, model)
            if hit is not None or store.cache.fresh() is None:
                return hit
        customer_id = model.customer_id
        if customer_id is None:
            return None
        reading = self._shared(self._customers.get(customer_id), store.learn_customer, customer_id)
        if self._customers.get(customer_id) is not reading:
            self._customers[customer_id] = reading
            reading.add_done_callback(lambda done: self._forget(customer_id, done))
        await asyncio.shield(reading)
        hit = store.from_cache(request, model)
        if hit is not None:
            self.read_ahead()
        return hit

    def _forget(self, customer_id: str, done: asyncio.Future[Any]) -> None:
        if self._customers.get(customer_id) is done:
            del self._customers[customer_id]

    def close(self) -> None:
        for running in [self._fleet, *self._customers.values()]:
            if running is not None:
                with contextlib.suppress(Exception):
                    running.cancel()
