"""The router's state in SQL, behind one object: ``Store`` joins the repository (clusters, snapshots, services,
the fleet), the cached fleet and the reservations (placements and releases).

See ``placement.router.reservation`` for how a placement reserves atomically, ``placement.router.cache`` for
how the fleet is cached, and ``placement.router.counters`` for the guards.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine

from placement.engine import Decision, select_cluster
from placement.model import Cluster, PlacementRequest
from placement.policy import Policy, default_policy
from placement.router.cache import CachedFleet, FleetCache
from placement.router.config import DEFAULT_MAX_CLOCK_SKEW_SECONDS
from placement.router.db import make_engine
from placement.router.exceptions import (
    ClusterExists,
    Contention,
    NothingFits,
    PlacementReleased,
    RequestIdReused,
    ServiceIdTaken,
    ServiceReleased,
    SnapshotFromTheFuture,
    TaskQueueInUse,
    UnknownCluster,
    UnknownPlacement,
    UnknownStorageProvider,
)
from placement.router.fleet_rows import NO_SNAPSHOT
from placement.router.ledger import PlacedService, PlacedVolume, Placement, PlacementOrder
from placement.router.releases import Releases
from placement.router.repository import Clock, Repository, ServiceRecord, utc_now
from placement.router.reservation import OPTIMISTIC_ATTEMPTS, Reservations
from placement.state import RequestIn

__all__ = [
    "NO_SNAPSHOT",
    "OPTIMISTIC_ATTEMPTS",
    "ClusterExists",
    "Contention",
    "NothingFits",
    "PlacedService",
    "PlacedVolume",
    "Placement",
    "PlacementOrder",
    "PlacementReleased",
    "RequestIdReused",
    "ServiceIdTaken",
    "ServiceReleased",
    "SnapshotFromTheFuture",
    "Store",
    "TaskQueueInUse",
    "UnknownCluster",
    "UnknownPlacement",
    "UnknownStorageProvider",
    "open_store",
    "utc_now",
]


class Store:
    """Clusters, snapshots and reservations in one database. Thread-safe: one instance per process."""

    def __init__(
        self,
        engine: Engine,
        policy: Policy | None = None,
        clock: Clock = utc_now,
        fleet_cache_seconds: float = 1.0,
        max_clock_skew_seconds: float = DEFAULT_MAX_CLOCK_SKEW_SECONDS,
    ):
        self.engine = engine
        self.policy = policy or default_policy()
        self.clock = clock
        self.backend = engine.dialect.name
        self.cache = FleetCache(fleet_cache_seconds)
        self.repository = Repository(engine, self.policy, clock, self.cache, timedelta(seconds=max_clock_skew_seconds))
        self.reservations = Reservations(self.repository, self.cache)
        repository = self.repository
        self.ping = repository.ping
        self.add_cluster = repository.add_cluster
        self.get_cluster = repository.get_cluster
        self.list_clusters = repository.list_clusters
        self.patch_cluster = repository.patch_cluster
        self.put_load = repository.put_load
        self.fleet = repository.fleet
        self.cluster_state = repository.cluster_state
        self.customer_volume_count = repository.customer_volume_count
        self.ledger_totals = repository.ledger_totals
        self.place = self.reservations.place
        self.refresh_fleet = self.reservations.refresh_fleet
        self.learn_customer = self.reservations.learn_customer
        self.release = Releases(repository).release

    def dispose(self) -> None:
        self.engine.dispose()

    def set_status(self, cluster_id: str, status: str) -> Cluster:
        return self.repository.patch_cluster(cluster_id, status=status)

    def service(self, service_id: str) -> ServiceRecord:
        return self.repository.service(service_id)

    def request_model(self, request: RequestIn) -> PlacementRequest:
        return self.reservations.request_model(request)

    def decide(
        self, request: RequestIn, now: datetime | None = None, model: PlacementRequest | None = None
    ) -> Decision:
        """The dry run: the engine's decision on the current fleet, without reserving anything. ``model``: the
        request as ``request_model`` gave it, when the caller has it already.

        The fleet (and the customer volume counts read with it) is cached for ``fleet_cache_seconds``. Writes
        through this store drop the cache or, for placements, add what they reserved to it, so only writes by
        other processes (a collector with ``--db``, another router worker) can take that long to show.
        """
        model = model or self.request_model(request)
        with self.engine.connect() as conn:
            counted, fleet = self.reservations.from_database(conn, request, model)
        return select_cluster(counted, fleet, self.policy, now=now or self.clock())

    def from_cache(
        self, request: RequestIn, model: PlacementRequest | None = None
    ) -> tuple[PlacementRequest, CachedFleet] | None:
        """The engine's request (its customer's volumes counted) and the fleet, when the cache holds both; None
        when the database must be read. Cheap enough for the event loop."""
        return self.reservations.from_cache(request, model or self.request_model(request))

    def decide_on(self, model: PlacementRequest, cached: CachedFleet, now: datetime | None = None) -> Decision:
        return select_cluster(model, cached.fleet, self.policy, now=now or self.clock())


def open_store(
    url: str,
    *,
    policy: Policy | None = None,
    clock: Clock = utc_now,
    migrate: bool = True,
    fleet_cache_seconds: float = 1.0,
    max_clock_skew_seconds: float = DEFAULT_MAX_CLOCK_SKEW_SECONDS,
) -> Store:
    """Connect to the router's database (a SQLite path or URL, or ``postgresql://``) and migrate it to head."""
    engine = make_engine(url)
    if migrate:
        from placement.router.migrate import upgrade

        upgrade(url, engine=engine)
    return Store(engine, policy, clock, fleet_cache_seconds, max_clock_skew_seconds)
