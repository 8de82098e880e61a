"""The router's cached fleet: the database's fleet, read once and kept current by what this process writes.

Each placement adds its footprint to the cache as its counters' UPDATEs added it to the database, so in one
process the cache is what the database holds. Any other write through this process drops it (a new
generation). Writes by other processes (a collector with ``--db``, another router worker) show after at most
``max_age_seconds``. A choice made on the cache is checked by the reservation's guards, and "nothing fits" is
always confirmed on a fresh read.

With the fleet it keeps the volume counts of the customers it has seen (the per-customer quota's "used"), read
from the database once per cached fleet and written through by placements (their guarded upsert returns the new
count). The quota's guard stays in the placement's transaction; the cache only saves the read.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from placement.footprint import Footprint
from placement.model import Cluster, ClusterLoad

Fleet = list[tuple[Cluster, ClusterLoad]]
MAX_CUSTOMERS = 10_000  # customer counts kept per cached fleet; beyond, they are read from the database
REREAD_CUSTOMERS = 1_000  # customer counts a refill reads again with the fleet (the latest seen)
# Bookings answered lately, kept to be added to a read that was under way when they were answered. A read takes a
# few milliseconds; one that saw more bookings answered than this is not installed (the next read is).
BOOKED_KEPT = 4_096


# The records made at every placement (these, the ledger's and the booking's) are plain slotted dataclasses that
# nothing assigns to once made, not frozen ones: a frozen dataclass's ``__init__`` sets each field through
# ``object.__setattr__``, a call per field, ~4 % of a placement's instructions in all (callgrind, the whole server).
@dataclass(slots=True)
class _Snapshot:
    generation: int  # the write generation when the read began
    read_at: float  # time.monotonic() when the read began
    fleet: Fleet
    version: int  # changes with every change of ``fleet``: answers built from it may be cached under it
    customer_volumes: dict[str, int] = field(default_factory=dict)
    # cluster id -> its index in ``fleet``, shared by every version of one read: a change replaces one pair
    positions: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Read:
    """A read of the fleet begun (``FleetCache.begin_read``)."""

    generation: int
    read_at: float
    customers: list[str]  # whose counts to read with it
    bookings: int  # the bookings answered before it began (``FleetCache.booked``)


@dataclass(slots=True)
class CachedFleet:
    fleet: Fleet
    version: int
    snapshot: _Snapshot

    def customer_volumes(self, customer_id: str) -> int | None:
        return self.snapshot.customer_volumes.get(customer_id)


class FleetCache:
    """Thread-safe. ``generation`` counts the writes that drop the cache."""

    def __init__(self, max_age_seconds: float = 1.0, refresh_after: float = 0.5, booked_kept: int = BOOKED_KEPT):
        self.max_age_seconds = max_age_seconds
        self.refresh_after = refresh_after
        self.generation = 0
        self._snapshot: _Snapshot | None = None
        self._versions = 0
        self._lock = threading.Lock()
        self._holds: set[Hold] = set()  # the bookings in flight (``hold``) not yet booked or let go
        self._bookings = 0  # bookings answered (``booked``)
        self._booked: deque[Hold] = deque(maxlen=booked_kept)  # the latest of them, the last answered last

    def drop(self) -> None:
        """Called after a write commits, so a fleet read before the commit is never taken as current."""
        self.generation += 1

    def fresh(self) -> CachedFleet | None:
        """The cached fleet, or None when it is stale or dropped."""
        snapshot = self._snapshot
        if (
            snapshot is not None
            and snapshot.generation == self.generation
            and time.monotonic() - snapshot.read_at < self.max_age_seconds
        ):
            return CachedFleet(snapshot.fleet, snapshot.version, snapshot)
        return None

    def refill(
        self, read: Callable[[], Fleet], read_customers: Callable[[list[str]], dict[str, int]] | None = None
    ) -> Fleet:
        """The fleet as ``read`` gives it, which becomes the cached fleet. ``read_customers``: reads the volume
        counts of the given customers (after the fleet), so the counts the cache held are kept current across
        refills instead of being read again one customer at a time."""
        begun = self.begin_read()
        fleet = read()
        customers = read_customers(begun.customers) if read_customers is not None and begun.customers else {}
        self.install(begun, fleet, customers)
        return fleet

    def begin_read(self) -> Read:
        """Before a read of the fleet (``refill``, or a caller reading it by other means, then ``install``)."""
        return Read(self.generation, time.monotonic(), self.known_customers(), self._bookings)  # see ``drop``

    def install(self, begun: Read, fleet: Fleet, customers: dict[str, int]) -> None:
        """The fleet read since ``begun``, with the counts of ``begun.customers``, becomes the cached fleet, with
        the bookings of this process it may have missed added to it.

        A read holds the bookings that committed before its statements ran. Those that did not are added here: the
        bookings still in flight (their holds, which stay open in the new read) and those answered since the read
        began. Before, both went missing until the next read: placements decided meanwhile chose a node's last slot
        that the database had already given away, lost the guard twice in a row and took the thread path (traced
        under paced load: every thread-path placement of a run). A booking the read holds as well is counted twice
        until the next read: the cache may refuse a slot the database would give, never the other way round."""
        with self._lock:
            answered_since = self._bookings - begun.bookings
            if answered_since > len(self._booked):
                return  # more answered during the read than are kept: the next read is installed instead
            self._versions += 1
            positions = {cluster.id: index for index, (cluster, _) in enumerate(fleet)}
            self._snapshot = _Snapshot(begun.generation, begun.read_at, fleet, self._versions, customers, positions)
            for index in range(len(self._booked) - answered_since, len(self._booked)):
                hold = self._booked[index]
                self._change(hold.cluster_id, hold.node_name, hold.footprint.add_to)
            for hold in self._holds:
                if self._change(hold.cluster_id, hold.node_name, hold.footprint.add_to) is not None:
                    hold.lineage = (begun.generation, begun.read_at)

    def known_customers(self, most: int = REREAD_CUSTOMERS) -> list[str]:
        """The customers whose counts the cache holds (the latest ``most`` of them)."""
        snapshot = self._snapshot
        return [] if snapshot is None else list(snapshot.customer_volumes)[-most:]

    def due(self) -> bool:
        """True when the cached fleet is still fresh but past ``refresh_after`` of its age: time to read it again
        ahead of its expiry, so requests never find it expired under a steady load."""
        snapshot = self._snapshot
        return (
            snapshot is not None
            and snapshot.generation == self.generation
            and time.monotonic() - snapshot.read_at >= self.max_age_seconds * self.refresh_after
        )

    def remember_customer(self, cached: CachedFleet, customer_id: str, volumes: int) -> None:
        """A customer's volume count read from the database while ``cached`` was the cached fleet (and after it
        was read), kept with it unless it has been replaced or dropped since."""
        with self._lock:
            snapshot = self._snapshot
            if snapshot is cached.snapshot and snapshot.generation == self.generation:
                if len(snapshot.customer_volumes) >= MAX_CUSTOMERS:
                    snapshot.customer_volumes.clear()
                snapshot.customer_volumes[customer_id] = volumes

    def add(
        self,
        cluster_id: str,
        node_name: str | None,
        footprint: Footprint,
        customer: tuple[str, int] | None = None,
    ) -> None:
        """What a committed placement reserved, added as its guarded UPDATEs added it to the counters;
        ``customer``: the customer's volume count after it, as its upsert returned it. Added to a read under way
        too (``install``)."""
        with self._lock:
            self._answered(Hold(cluster_id, node_name, footprint, None, open=False, booked=True))
            self._change(cluster_id, node_name, footprint.add_to, customer)

    def hold(self, cluster_id: str, node_name: str | None, footprint: Footprint) -> Hold:
        """Add what a booking about to be sent will reserve, from its decision on: decisions made in this process
        while it is in flight see that room taken. Without it, concurrent placements decided on the same fleet all
        chose a node's last slot, and all but one lost the guard and decided again. ``booked`` or ``let_go`` ends
        the hold."""
        with self._lock:
            snapshot = self._change(cluster_id, node_name, footprint.add_to)
            lineage = None if snapshot is None else (snapshot.generation, snapshot.read_at)
            hold = Hold(cluster_id, node_name, footprint, lineage)
            self._holds.add(hold)
        return hold

    def booked(self, hold: Hold, customer: tuple[str, int] | None = None) -> None:
        """The held booking committed: the customer's count after it, and its footprint where the fleet it was
        held in was dropped since, or it was let go (its caller stopped waiting before the answer). A read
        installed since holds it already (``install``). Once per hold."""
        with self._lock:
            if hold.booked:
                return
            held_here = hold.open and self._holds_in_current(hold)
            hold.open = False
            hold.booked = True
            self._holds.discard(hold)
            self._answered(hold)
            if not held_here or customer is not None:
                self._change(hold.cluster_id, hold.node_name, None if held_here else hold.footprint.add_to, customer)

    def let_go(self, hold: Hold) -> None:
        """The held booking did not commit, or its caller stopped waiting (its guard was lost, it failed, a 503):
        its footprint leaves the fleet it is held in (a read installed since holds it too). Nothing once ended;
        nothing in a fleet read after a drop, which never had it."""
        with self._lock:
            if not hold.open:
                return
            hold.open = False
            self._holds.discard(hold)
            if self._holds_in_current(hold):
                self._change(hold.cluster_id, hold.node_name, hold.footprint.remove_from)

    def _answered(self, booking: Hold) -> None:
        """A booking answered, kept for the reads under way (``install``). Under the lock."""
        self._bookings += 1
        self._booked.append(booking)

    def _holds_in_current(self, hold: Hold) -> bool:
        snapshot = self._snapshot
        return snapshot is not None and hold.lineage == (snapshot.generation, snapshot.read_at)

    def _change(
        self,
        cluster_id: str,
        node_name: str | None,
        change: Callable[[ClusterLoad, str | None], ClusterLoad] | None,
        customer: tuple[str, int] | None = None,
    ) -> _Snapshot | None:
        """The current fleet with ``change`` applied to the cluster's load and the customer's count set, as a new
        version (under the lock); None when the fleet is stale or dropped."""
        snapshot = self._snapshot
        if snapshot is None or snapshot.generation != self.generation:
            return None
        fleet = snapshot.fleet
        positions = snapshot.positions
        if change is not None:
            fleet = list(fleet)  # a copy: readers of the older version keep theirs as it was
            index = positions.get(cluster_id)
            if index is not None:
                cluster, load = fleet[index]
                fleet[index] = (cluster, change(load, node_name))
        customers = snapshot.customer_volumes
        if customer is not None:
            # In place, as remember_customer does: an older snapshot's reader sees the newer count, which is
            # the truer one. Copying the dict (up to MAX_CUSTOMERS entries) cost every placement with a volume.
            if len(customers) >= MAX_CUSTOMERS:
                customers.clear()
            customers[customer[0]] = customer[1]
        self._versions += 1
        self._snapshot = _Snapshot(snapshot.generation, snapshot.read_at, fleet, self._versions, customers, positions)
        return self._snapshot


@dataclass(slots=True, eq=False)  # one hold is one booking: compared and hashed by identity
class Hold:
    """An in-flight booking's footprint held in the cached fleet (``FleetCache.hold``), and in every fleet read
    while it is open (``FleetCache.install``)."""

    cluster_id: str
    node_name: str | None
    footprint: Footprint
    lineage: tuple[int, float] | None  # the generation and read of the fleet it was added to; None: none was
    open: bool = True  # held in the cached fleet: neither booked nor let go yet
    booked: bool = False
