"""The router's cached fleet: the database's fleet, read once and kept current by what this process writes.

Each placement adds its footprint to the cache as its counters' UPDATEs added it to the database, so in one
process the cache is what the database holds. Any other write through this process drops it (a new
generation). Writes by other processes (a collector with ``--db``, another router worker) show after at most
``max_age_seconds``. A choice made on the cache is checked by the reservation's guards, and "nothing fits" is
always confirmed on a fresh read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from placement.footprint import Footprint
from placement.model import Cluster, ClusterLoad

Fleet = list[tuple[Cluster, ClusterLoad]]


@dataclass(frozen=True, slots=True)
class _Snapshot:
    generation: int  # the write generation when the read began
    read_at: float  # time.monotonic() when the read began
    fleet: Fleet
    version: int  # changes with every change of ``fleet``: answers built from it may be cached under it


class FleetCache:
    """Thread-safe. ``generation`` counts the writes that drop the cache."""

    def __init__(self, max_age_seconds: float = 1.0):
        self.max_age_seconds = max_age_seconds
        self.generation = 0
        self._snapshot: _Snapshot | None = None
        self._versions = 0
        self._lock = threading.Lock()

    def drop(self) -> None:
        """Called after a write commits, so a fleet read before the commit is never taken as current."""
        self.generation += 1

    def fresh(self) -> tuple[Fleet, int] | None:
        """The cached fleet and its version, or None when it is stale or dropped."""
        snapshot = self._snapshot
        if (
            snapshot is not None
            and snapshot.generation == self.generation
            and time.monotonic() - snapshot.read_at < self.max_age_seconds
        ):
            return snapshot.fleet, snapshot.version
        return None

    def refill(self, read: Callable[[], Fleet]) -> Fleet:
        """The fleet as ``read`` gives it, which becomes the cached fleet."""
        generation, read_at = self.generation, time.monotonic()  # before the read: see ``drop``
        fleet = read()
        with self._lock:
            self._versions += 1
            self._snapshot = _Snapshot(generation, read_at, fleet, self._versions)
        return fleet

    def add(self, cluster_id: str, node_name: str | None, footprint: Footprint) -> None:
        """What a committed placement reserved, added as its guarded UPDATEs added it to the counters."""
        with self._lock:
            snapshot = self._snapshot
            if snapshot is None or snapshot.generation != self.generation:
                return
            fleet = [
                (cluster, footprint.add_to(load, node_name) if cluster.id == cluster_id else load)
                for cluster, load in snapshot.fleet
            ]
            self._versions += 1
            self._snapshot = _Snapshot(snapshot.generation, snapshot.read_at, fleet, self._versions)
