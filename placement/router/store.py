"""The router's state in SQL: clusters, load snapshots, and atomic reservations.

A placement decides with ``placement.select_cluster`` on the fleet as the database shows it (each cluster's
last snapshot plus what was reserved since that snapshot was observed), then reserves in one transaction.
The fleet is read once and cached: each placement adds what it reserved to the cache, so in one process the
cache is what the database holds; a choice made on it is checked by the guards below, and "nothing fits" is
always confirmed on a fresh read. The transaction:

1. guarded conditional UPDATEs of the chosen node's RAM and pod counters, of the cluster's volume, pod,
   service, namespace and etcd-object counters (while the cluster is still active), and of the customer's volume
   count against the plan's quota. Each UPDATE only matches while the result still fits, so ``rowcount == 1``
   means reserved;
2. the ledger row (primary key: the request id, which makes the call idempotent), the service and its volumes.

Calls with the same request id take turns (a transaction-scoped advisory lock on PostgreSQL; on SQLite every
writing transaction starts with ``BEGIN IMMEDIATE``), so a retry never sees half of its twin's work.
If a guard does not match, someone else took the room since the read: the transaction rolls back and the
placement decides again on fresh state. After a few such losses it locks every cluster's counter row
(``FOR UPDATE``, in id order) before deciding, so no other placement can take the room under it.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Integer,
    and_,
    bindparam,
    cast,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from placement.catalogue import LIMITS
from placement.engine import Decision, select_cluster
from placement.footprint import Footprint
from placement.model import Cluster, ClusterLoad, PlacementRequest, RunNode
from placement.policy import Policy, default_policy
from placement.router.config import DEFAULT_MAX_CLOCK_SKEW_SECONDS
from placement.router.db import (
    cluster_counters,
    cluster_loads,
    clusters,
    customer_volumes,
    make_engine,
    node_counters,
    reservations,
    services,
    volumes,
)
from placement.state import ClusterLoadIn, RequestIn, volume_block
from placement.units import format_bytes

# Placements that lose a guard this many times in a row then decide under the locks.
OPTIMISTIC_ATTEMPTS = 3
NO_SNAPSHOT = "(no load snapshot)"
MAX_GUARD_LOSSES = 20
RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock detected

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class UnknownCluster(LookupError):
    """No cluster with this id."""


class ClusterExists(ValueError):
    """A cluster with this id or task queue exists already."""


class UnknownStorageProvider(ValueError):
    """A cluster names a storage provider the router's limits profile does not have."""


class SnapshotFromTheFuture(ValueError):
    """A load snapshot dated further ahead of the router's clock than the allowed clock skew."""


class UnknownPlacement(LookupError):
    """No placement with this service id."""


class ServiceReleased(LookupError):
    """The service was placed here once, and its placement has been released."""

    def __init__(self, service_id: str, released_at: datetime):
        super().__init__(service_id)
        self.service_id = service_id
        self.released_at = released_at


class TaskQueueInUse(ValueError):
    """A cluster's task queue cannot change while services live on it, nor become another cluster's."""


class NothingFits(Exception):
    """The engine found no cluster (or a quota refused the request) for ``request``. ``decision`` explains why."""

    def __init__(self, decision: Decision, request: RequestIn):
        super().__init__(decision.reason)
        self.decision = decision
        self.request = request


class Contention(RuntimeError):
    """Reservations kept losing their guards; the caller may retry with the same request id."""


class RequestIdReused(ValueError):
    """The request id was used before with a different body."""


class PlacementReleased(LookupError):
    """The request id's placement was released: replaying its answer would promise room nobody holds."""

    def __init__(self, request_id: str, service_id: str, released_at: datetime):
        super().__init__(
            f"the placement of request_id {request_id!r} (service_id {service_id!r}) was released at "
            f"{released_at.isoformat()}; place again with a new request_id"
        )
        self.service_id = service_id
        self.released_at = released_at


class ServiceIdTaken(ValueError):
    """A client-chosen service id belongs to an active placement."""

    def __init__(self, service_id: str):
        super().__init__(f"service_id {service_id!r} belongs to an active placement; release it first")
        self.service_id = service_id


@dataclass(frozen=True, slots=True)
class PlacementOrder:
    """What ``POST /v1/placements`` asks for: the engine request plus the service's identity."""

    request_id: str
    service_name: str
    request: RequestIn
    repo: str | None = None
    service_id: str | None = None

    def body_hash(self) -> str:
        request = self.request.model_dump(mode="json")
        if request.get("has_volume") is None:
            # Absent, the body hashes as it did before has_volume existed, so a retry across an upgrade replays.
            request.pop("has_volume", None)
        body = {
            "service_name": self.service_name,
            "repo": self.repo,
            "service_id": self.service_id,
            "request": request,
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Placement:
    response: dict[str, Any]
    replayed: bool
    decision: Decision | None  # None when replayed


class _GuardLost(Exception):
    """A guarded UPDATE matched no row: the room was taken since the read."""


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _cluster_from_row(row: Any) -> Cluster:
    return Cluster(
        id=row.id,
        name=row.name,
        region=row.region,
        task_queue=row.task_queue,
        registry_url=row.registry_url,
        api_endpoint=row.api_endpoint,
        storage_provider=row.storage_provider,
        status=row.status,
        created_at=_aware(row.created_at),
    )


@dataclass(frozen=True, slots=True)
class _CachedFleet:
    generation: int  # the store's write generation when the read began
    read_at: float  # time.monotonic() when the read began
    fleet: list[tuple[Cluster, ClusterLoad]]


@dataclass(frozen=True, slots=True)
class _Reserved:
    """What one placement added to its cluster's and node's counters: its footprint, on that node."""

    cluster_id: str
    node_name: str
    footprint: Footprint


class _Statements:
    """A placement's statements, built once with bound parameters: building SQLAlchemy expressions on every
    call cost more than running them."""

    def __init__(self) -> None:
        self._on_cluster: dict[tuple[bool, bool], Any] = {}
        node = node_counters.c
        self.reserve_on_node = (
            update(node_counters)
            .where(
                node.cluster_id == bindparam("match_cluster_id"),
                node.node_name == bindparam("match_node_name"),
                node.schedulable.is_(True),
                node.requested_ram + node.reserved_ram + bindparam("add_ram", type_=BigInteger) <= node.allocatable_ram,
                node.pods + node.reserved_pods
                < func.coalesce(node.max_pods, bindparam("default_max_pods", type_=BigInteger)),
            )
            .values(
                reserved_ram=node.reserved_ram + bindparam("add_ram", type_=BigInteger),
                reserved_pods=node.reserved_pods + bindparam("add_pods", type_=BigInteger),
            )
        )
        self.insert_reservation = insert(reservations)
        self.insert_service = insert(services)
        self.insert_volume = insert(volumes)

    def reserve_on_cluster(self, with_volumes: bool, new_customer: bool) -> Any:
        """The guarded UPDATE of a cluster's counters; the guards on volumes and namespaces only when they grow."""
        key = (with_volumes, new_customer)
        statement = self._on_cluster.get(key)
        if statement is None:
            counter = cluster_counters.c

            def grows(column_base: Any, column_reserved: Any, add: str, limit: str) -> Any:
                return column_base + column_reserved + bindparam(add, type_=BigInteger) <= bindparam(
                    limit, type_=BigInteger
                )

            guards = [
                counter.cluster_id == bindparam("match_cluster_id"),
                counter.ctrl_node_type == bindparam("match_ctrl_node_type"),
                # A cached fleet can be up to a second behind another process (another worker of
                # ``serve --workers N``, a collector with --db): a cluster drained there takes nothing here.
                exists().where(clusters.c.id == counter.cluster_id, clusters.c.status == "active"),
                grows(counter.base_pods, counter.reserved_pods, "add_pods", "max_pods"),
                counter.base_services + counter.reserved_services + 1 <= bindparam("max_services", type_=BigInteger),
                grows(counter.base_objects, counter.reserved_objects, "add_objects", "max_objects"),
            ]
            if with_volumes:
                guards.append(grows(counter.base_volumes, counter.reserved_volumes, "add_volumes", "max_volumes"))
            if new_customer:
                guards.append(
                    grows(counter.base_customers, counter.reserved_customers, "add_customers", "max_customers")
                )
            # It answers the cluster's task queue as committed, read under a share lock on the cluster's row, so a
            # concurrent task-queue change either finished before (this reads the new queue) or waits for this
            # placement's service and then refuses (see Store.patch_cluster). One statement, no extra round trip.
            task_queue = (
                select(clusters.c.task_queue)
                .where(clusters.c.id == counter.cluster_id)
                .with_for_update(read=True, key_share=True)
                .scalar_subquery()
            )
            statement = (
                update(cluster_counters)
                .where(*guards)
                .returning(task_queue)
                .values(
                    reserved_volumes=counter.reserved_volumes + bindparam("add_volumes", type_=BigInteger),
                    reserved_services=counter.reserved_services + 1,
                    reserved_customers=counter.reserved_customers + bindparam("add_customers", type_=BigInteger),
                    reserved_pods=counter.reserved_pods + bindparam("add_pods", type_=BigInteger),
                    reserved_objects=counter.reserved_objects + bindparam("add_objects", type_=BigInteger),
                )
            )
            self._on_cluster[key] = statement
        return statement


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
        self.fleet_cache_seconds = fleet_cache_seconds
        self.max_clock_skew = timedelta(seconds=max_clock_skew_seconds)
        self._generation = 0
        self._fleet_cache: _CachedFleet | None = None
        self._cache_lock = threading.Lock()
        self._statements = _Statements()
        self.engine = engine
        self.writer = engine.execution_options(write=True)
        self.policy = policy or default_policy()
        self.clock = clock
        self.backend = engine.dialect.name
        # SQLite's busy handler polls with growing sleeps, which starves some writers under load; queueing them
        # on a lock in this process first keeps waits short. BEGIN IMMEDIATE still guards other processes.
        self._local_writer_lock = threading.Lock() if self.backend == "sqlite" else nullcontext()

    @contextmanager
    def _write(self, *, drops_cache: bool = True) -> Iterator[Connection]:
        """A writing transaction. It drops the cached fleet, unless the caller patches the cache itself."""
        try:
            with self._local_writer_lock, self.writer.begin() as conn:
                yield conn
        finally:
            if drops_cache:
                self._generation += 1  # after the commit, so a cached fleet read before it is dropped

    # --- health ------------------------------------------------------------------------------------------

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def dispose(self) -> None:
        self.engine.dispose()

    # --- clusters ----------------------------------------------------------------------------------------

    def add_cluster(self, cluster: Cluster) -> Cluster:
        providers = self.policy.limits.storage
        if cluster.storage_provider not in providers:
            raise UnknownStorageProvider(
                f"storage_provider {cluster.storage_provider!r}: the limits profile {self.policy.limits.profile!r} "
                f"has {', '.join(providers)}"
            )
        created = _aware(cluster.created_at) or self.clock()
        try:
            with self._write() as conn:
                clash = conn.execute(
                    select(clusters.c.id).where(
                        or_(clusters.c.id == cluster.id, clusters.c.task_queue == cluster.task_queue)
                    )
                ).first()
                if clash is not None:
                    raise ClusterExists(f"a cluster with id {cluster.id!r} or task_queue {cluster.task_queue!r} exists")
                conn.execute(
                    insert(clusters).values(
                        id=cluster.id,
                        name=cluster.name,
                        region=cluster.region,
                        task_queue=cluster.task_queue,
                        api_endpoint=cluster.api_endpoint,
                        storage_provider=cluster.storage_provider,
                        registry_url=cluster.registry_url,
                        status=cluster.status,
                        created_at=created,
                    )
                )
                conn.execute(insert(cluster_counters).values(cluster_id=cluster.id))
        except IntegrityError as exc:
            raise ClusterExists(
                f"a cluster with id {cluster.id!r} or task_queue {cluster.task_queue!r} exists"
            ) from exc
        return replace(cluster, created_at=created)

    def get_cluster(self, cluster_id: str) -> Cluster:
        with self.engine.connect() as conn:
            row = conn.execute(select(clusters).where(clusters.c.id == cluster_id)).first()
        if row is None:
            raise UnknownCluster(cluster_id)
        return _cluster_from_row(row)

    def list_clusters(self) -> list[Cluster]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(clusters).order_by(clusters.c.id)).all()
        return [_cluster_from_row(row) for row in rows]

    def set_status(self, cluster_id: str, status: str) -> Cluster:
        return self.patch_cluster(cluster_id, status=status)

    def patch_cluster(self, cluster_id: str, status: str | None = None, task_queue: str | None = None) -> Cluster:
        """Set a cluster's status and/or task queue, all or nothing.

        The task queue is where the deploys of the cluster's services go, so it changes only while no service
        lives on the cluster, and never to another cluster's (``TaskQueueInUse``). The cluster's row is locked
        first: a placement reads the queue under a share lock on that row (its guarded UPDATE of the cluster's
        counters returns it), so it either committed its service before this looks for services, or waits and
        answers with the new queue.
        A database trigger (migration 0002) refuses the same change from any other writer.
        """
        with self._write() as conn:
            current = conn.execute(
                # FOR UPDATE only to change the queue: a status change (FOR NO KEY UPDATE) need not wait for
                # placements in flight, whose share lock on the row only guards the queue.
                select(clusters.c.task_queue)
                .where(clusters.c.id == cluster_id)
                .with_for_update(key_share=task_queue is None)
            ).first()
            if current is None:
                raise UnknownCluster(cluster_id)
            values: dict[str, str] = {}
            if task_queue is not None and task_queue != current.task_queue:
                live = conn.execute(select(func.count()).where(services.c.cluster_id == cluster_id)).scalar_one()
                if live:
                    raise TaskQueueInUse(
                        f"cluster {cluster_id!r} has {live} live service(s) on task_queue {current.task_queue!r}; "
                        "it cannot change until they are released"
                    )
                taken = conn.execute(select(clusters.c.id).where(clusters.c.task_queue == task_queue)).first()
                if taken is not None:
                    raise TaskQueueInUse(f"task_queue {task_queue!r} belongs to cluster {taken.id!r}")
                values["task_queue"] = task_queue
            if status is not None:
                values["status"] = status
            if values:
                try:
                    conn.execute(update(clusters).where(clusters.c.id == cluster_id).values(**values))
                except IntegrityError as error:
                    # Another writer took the queue, or placed a service, since the checks above.
                    raise TaskQueueInUse(f"task_queue of cluster {cluster_id!r} cannot change: {error.orig}") from None
        return self.get_cluster(cluster_id)

    # --- services ----------------------------------------------------------------------------------------

    def service(self, service_id: str) -> dict[str, Any]:
        """Where a live service is: its cluster, the cluster's task queue and region, its node and volumes.

        A draining cluster's services resolve like any other: their deploys must still reach it. A released
        service raises ``ServiceReleased``; an id never placed raises ``UnknownPlacement``.
        """
        with self.engine.connect() as conn:
            row = conn.execute(
                select(
                    services.c.id,
                    services.c.name,
                    services.c.customer_id,
                    services.c.cluster_id,
                    services.c.created_at,
                    clusters.c.task_queue,
                    clusters.c.region,
                    clusters.c.status,
                    reservations.c.node_name,
                )
                .join(clusters, clusters.c.id == services.c.cluster_id)
                .outerjoin(
                    reservations,
                    and_(reservations.c.service_id == services.c.id, reservations.c.released_at.is_(None)),
                )
                .where(services.c.id == service_id)
            ).first()
            if row is None:
                # The ledger keeps released placements (one id may have been placed and released several times).
                released_at = conn.execute(
                    select(func.max(reservations.c.released_at)).where(reservations.c.service_id == service_id)
                ).scalar()
                if released_at is not None:
                    raise ServiceReleased(service_id, _aware(released_at))
                raise UnknownPlacement(service_id)
            volume_rows = conn.execute(
                select(volumes.c.id, volumes.c.mount_path, volumes.c.size_bytes, volumes.c.node_name)
                .where(volumes.c.service_id == service_id)
                .order_by(volumes.c.id)
            ).all()
        return {
            "service_id": row.id,
            "name": row.name,
            "customer_id": row.customer_id,
            "cluster_id": row.cluster_id,
            "task_queue": row.task_queue,
            "region": row.region,
            "cluster_status": row.status,
            "node": row.node_name,
            "volumes": [
                {
                    "id": v.id,
                    "mount_path": v.mount_path,
                    "size": format_bytes(v.size_bytes),
                    "size_bytes": v.size_bytes,
                    "node": v.node_name,
                }
                for v in volume_rows
            ],
            "created_at": _aware(row.created_at),
        }

    # --- load snapshots ----------------------------------------------------------------------------------

    def put_load(self, cluster_id: str, load: ClusterLoad) -> None:
        """Record a load snapshot; ``observed_at`` defaults to now.

        The newest snapshot becomes the cluster's base load, and reservations made after it was observed stay
        on top of it (older ones are assumed to be in the snapshot). An out-of-order older snapshot is kept in
        the history but does not replace a newer one.

        A snapshot dated more than ``max_clock_skew`` ahead of this store's clock is refused
        (``SnapshotFromTheFuture``): it would pin the cluster, every real snapshot after it looking older. One
        dated ahead within the skew counts as observed when received, since it cannot hold a reservation made
        after that; otherwise the reservations of the next minutes would be taken as already in it.
        """
        now = self.clock()
        claimed = _aware(load.observed_at) or now
        if claimed > now + self.max_clock_skew:
            raise SnapshotFromTheFuture(
                f"observed_at {claimed.isoformat()} is more than {self.max_clock_skew.total_seconds():g} s ahead "
                f"of the router's clock ({now.isoformat()})"
            )
        observed = min(claimed, now)
        document = ClusterLoadIn.from_model(replace(load, observed_at=claimed)).model_dump(mode="json")
        with self._write() as conn:
            current = conn.execute(
                select(cluster_counters.c.observed_at)
                .where(cluster_counters.c.cluster_id == cluster_id)
                .with_for_update()  # see _release_once
            ).first()
            if current is None:
                raise UnknownCluster(cluster_id)
            load_id = conn.execute(
                insert(cluster_loads)
                .values(cluster_id=cluster_id, observed_at=claimed, received_at=now, snapshot=document)
                .returning(cluster_loads.c.id)
            ).scalar_one()
            # A current snapshot dated beyond the skew (accepted before it was checked) is not trusted as newer.
            current_at = _aware(current.observed_at)
            if current_at is not None and now + self.max_clock_skew >= current_at > observed:
                return
            since = and_(
                reservations.c.cluster_id == cluster_id,
                reservations.c.released_at.is_(None),
                reservations.c.reserved_at >= observed,
            )
            totals = conn.execute(
                select(
                    func.coalesce(func.sum(reservations.c.volumes), 0),
                    func.count(),
                    func.coalesce(func.sum(cast(reservations.c.new_customer, Integer)), 0),
                    func.coalesce(func.sum(reservations.c.pods), 0),
                    func.coalesce(func.sum(reservations.c.objects), 0),
                ).where(since)
            ).one()
            conn.execute(
                update(cluster_counters)
                .where(cluster_counters.c.cluster_id == cluster_id)
                .values(
                    load_id=load_id,
                    observed_at=observed,
                    ctrl_node_type=load.ctrl_node_type,
                    base_volumes=load.volumes,
                    base_services=load.services,
                    base_customers=load.customers,
                    base_pods=load.pods,
                    base_objects=load.etcd_objects,
                    reserved_volumes=totals[0],
                    reserved_services=totals[1],
                    reserved_customers=totals[2],
                    reserved_pods=totals[3],
                    reserved_objects=totals[4],
                )
            )
            per_node = {
                row.node_name: (row.ram, row.pods)
                for row in conn.execute(
                    select(
                        reservations.c.node_name,
                        func.sum(reservations.c.ram_bytes).label("ram"),
                        func.sum(reservations.c.pods).label("pods"),
                    )
                    .where(since)
                    .group_by(reservations.c.node_name)
                )
            }
            conn.execute(node_counters.delete().where(node_counters.c.cluster_id == cluster_id))
            if load.run_nodes:
                conn.execute(
                    insert(node_counters),
                    [
                        {
                            "cluster_id": cluster_id,
                            "node_name": node.name,
                            "position": position,
                            "allocatable_ram": node.allocatable_ram_bytes,
                            "requested_ram": node.requested_ram_bytes,
                            "pods": node.pods,
                            "max_pods": node.max_pods,
                            "schedulable": node.schedulable,
                            "reserved_ram": per_node.get(node.name, (0, 0))[0],
                            "reserved_pods": per_node.get(node.name, (0, 0))[1],
                        }
                        for position, node in enumerate(load.run_nodes)
                    ],
                )

    # --- the fleet as the engine sees it -----------------------------------------------------------------

    def fleet(self) -> list[tuple[Cluster, ClusterLoad]]:
        """Every cluster with its effective load: last snapshot plus reservations since, sorted by id."""
        with self.engine.connect() as conn:
            return self._fleet(conn)

    def _fleet(self, conn: Connection) -> list[tuple[Cluster, ClusterLoad]]:
        rows = conn.execute(
            select(clusters, cluster_counters)
            .join(cluster_counters, cluster_counters.c.cluster_id == clusters.c.id)
            .order_by(clusters.c.id)
        ).all()
        nodes: dict[str, list[RunNode]] = {}
        for node in conn.execute(select(node_counters).order_by(node_counters.c.cluster_id, node_counters.c.position)):
            nodes.setdefault(node.cluster_id, []).append(
                RunNode(
                    name=node.node_name,
                    allocatable_ram_bytes=node.allocatable_ram,
                    requested_ram_bytes=node.requested_ram + node.reserved_ram,
                    pods=node.pods + node.reserved_pods,
                    max_pods=node.max_pods,
                    schedulable=bool(node.schedulable),
                )
            )
        fleet = []
        for row in rows:
            load = ClusterLoad(
                run_nodes=tuple(nodes.get(row.id, ())),
                ctrl_node_type=row.ctrl_node_type or NO_SNAPSHOT,
                volumes=row.base_volumes + row.reserved_volumes,
                services=row.base_services + row.reserved_services,
                customers=row.base_customers + row.reserved_customers,
                pods=row.base_pods + row.reserved_pods,
                etcd_objects=row.base_objects + row.reserved_objects,
                observed_at=_aware(row.observed_at),
            )
            fleet.append((_cluster_from_row(row), load))
        return fleet

    def cluster_state(self, cluster_id: str) -> tuple[Cluster, ClusterLoad, dict[str, int]]:
        """One cluster, its effective load and what has been reserved on top of the snapshot."""
        with self.engine.connect() as conn:
            row = conn.execute(select(cluster_counters).where(cluster_counters.c.cluster_id == cluster_id)).first()
            if row is None:
                raise UnknownCluster(cluster_id)
            for cluster, load in self._fleet(conn):
                if cluster.id == cluster_id:
                    reserved = {
                        "volumes": row.reserved_volumes,
                        "services": row.reserved_services,
                        "customers": row.reserved_customers,
                        "pods": row.reserved_pods,
                        "etcd_objects": row.reserved_objects,
                    }
                    return cluster, load, reserved
        raise UnknownCluster(cluster_id)

    def customer_volume_count(self, customer_id: str, conn: Connection | None = None) -> int:
        def read(c: Connection) -> int:
            value = c.execute(
                select(customer_volumes.c.volumes).where(customer_volumes.c.customer_id == customer_id)
            ).scalar()
            return int(value or 0)

        if conn is not None:
            return read(conn)
        with self.engine.connect() as own:
            return read(own)

    def decide(self, request: RequestIn, now: datetime | None = None) -> Decision:
        """The dry run: the engine's decision on the current fleet, without reserving anything.

        The fleet is cached for ``fleet_cache_seconds``. Writes through this store drop the cache or, for
        placements, add what they reserved to it, so only writes by other processes (a collector with ``--db``,
        another router worker) can take that long to show.
        """
        with self.engine.connect() as conn:
            model = self._engine_request(conn, request)
            fleet = self._fresh_cached_fleet() or self._read_fleet(conn)
        return select_cluster(model, fleet, self.policy, now=now or self.clock())

    def decide_from_cache(self, request: RequestIn, now: datetime | None = None) -> Decision | None:
        """``decide`` when it needs no database at all (a fresh cached fleet and no volume quota to count);
        None otherwise. Cheap enough for the event loop."""
        model = self._request_model(request)
        if _counts_customer_volumes(request, model):
            return None
        fleet = self._fresh_cached_fleet()
        if fleet is None:
            return None
        return select_cluster(model, fleet, self.policy, now=now or self.clock())

    def _fresh_cached_fleet(self) -> list[tuple[Cluster, ClusterLoad]] | None:
        cached = self._fleet_cache
        if (
            cached is not None
            and cached.generation == self._generation
            and time.monotonic() - cached.read_at < self.fleet_cache_seconds
        ):
            return cached.fleet
        return None

    def _read_fleet(self, conn: Connection) -> list[tuple[Cluster, ClusterLoad]]:
        """The fleet from the database, which becomes the cached fleet."""
        generation, read_at = self._generation, time.monotonic()  # before the read: see _write
        fleet = self._fleet(conn)
        with self._cache_lock:
            self._fleet_cache = _CachedFleet(generation, read_at, fleet)
        return fleet

    def _add_to_cached_fleet(self, reserved: _Reserved) -> None:
        """What a committed placement reserved, added to the cached fleet as the counters' UPDATEs added it."""
        with self._cache_lock:
            cached = self._fleet_cache
            if cached is None or cached.generation != self._generation:
                return
            fleet = [
                (
                    cluster,
                    reserved.footprint.add_to(load, reserved.node_name) if cluster.id == reserved.cluster_id else load,
                )
                for cluster, load in cached.fleet
            ]
            self._fleet_cache = replace(cached, fleet=fleet)

    def _decide(
        self, conn: Connection, request: RequestIn, now: datetime, *, may_use_cache: bool
    ) -> tuple[Decision, PlacementRequest, list[tuple[Cluster, ClusterLoad]]]:
        model = self._engine_request(conn, request)
        fleet = self._fresh_cached_fleet() if may_use_cache else None
        if fleet is not None:
            decision = select_cluster(model, fleet, self.policy, now=now)
            # A choice made on the cache is checked by the guards; a refusal must come from the database itself.
            if decision.placed:
                return decision, model, fleet
        fleet = self._read_fleet(conn)
        return select_cluster(model, fleet, self.policy, now=now), model, fleet

    def _request_model(self, request: RequestIn) -> PlacementRequest:
        """The engine's request: what the request leaves out is its plan's default in this store's policy."""
        return request.to_model(self.policy.request_defaults(request.plan))

    def _engine_request(self, conn: Connection, request: RequestIn) -> PlacementRequest:
        # The request's customer_volume_count counts volumes made outside this router; ours come from the DB.
        model = self._request_model(request)
        if _counts_customer_volumes(request, model):
            known = self.customer_volume_count(model.customer_id, conn)
            model = replace(model, customer_volume_count=model.customer_volume_count + known)
        return model

    # --- placements --------------------------------------------------------------------------------------

    def place(self, order: PlacementOrder, now: datetime | None = None) -> Placement:
        """Decide and reserve atomically; the same request id always gets the same answer."""
        body_hash = order.body_hash()
        locked = False
        losses = 0
        while True:
            when = now or self.clock()
            try:
                with self._write(drops_cache=False) as conn:
                    self._lock_request_id(conn, order.request_id)
                    if locked:
                        self._lock_counters(conn)
                    replayed = self._replay(order.request_id, body_hash, conn)
                    if replayed is not None:
                        return replayed
                    if order.service_id is not None and self._service_id_active(conn, order.service_id):
                        raise ServiceIdTaken(order.service_id)
                    # After a lost guard the cache is behind the database: decide on a fresh read.
                    decision, model, fleet = self._decide(conn, order.request, when, may_use_cache=losses == 0)
                    if not decision.placed:
                        raise NothingFits(decision, order.request)
                    chosen = next(pair for pair in fleet if pair[0].id == decision.cluster_id)
                    response, reserved = self._reserve(conn, order, body_hash, decision, model, chosen, when)
                self._add_to_cached_fleet(reserved)
                return Placement(response, False, decision)
            except _GuardLost:
                losses += 1
                if losses > MAX_GUARD_LOSSES:
                    raise Contention(
                        f"gave up after {losses} lost reservations; retry with the same request id"
                    ) from None
                locked = losses >= OPTIMISTIC_ATTEMPTS
            except OperationalError as error:
                if getattr(error.orig, "sqlstate", None) not in RETRYABLE_SQLSTATES:
                    raise
                locked = True
            except IntegrityError:
                # A concurrent call won the ledger insert: one with the same request id, or another request that
                # took the same client-chosen service id.
                replayed = self._replay(order.request_id, body_hash)
                if replayed is not None:
                    return replayed
                if order.service_id is not None:
                    raise ServiceIdTaken(order.service_id) from None
                raise

    def _lock_request_id(self, conn: Connection, request_id: str) -> None:
        # Calls with the same request id take turns, so a twin sees the other's ledger row, never a half-made one.
        # SQLite: the write transaction began with BEGIN IMMEDIATE, which already excludes other writers.
        if self.backend == "postgresql":
            conn.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(request_id, 0))))

    def _lock_counters(self, conn: Connection) -> None:
        if self.backend == "postgresql":
            # Ordered, so two lockers never wait on each other in opposite orders.
            conn.execute(
                select(cluster_counters.c.cluster_id).order_by(cluster_counters.c.cluster_id).with_for_update()
            ).all()
        # SQLite: the write transaction began with BEGIN IMMEDIATE, which already excludes other writers.

    def _service_id_active(self, conn: Connection, service_id: str) -> bool:
        ledger = reservations.c
        query = select(ledger.request_id).where(ledger.service_id == service_id, ledger.released_at.is_(None))
        return conn.execute(query).first() is not None

    def _replay(self, request_id: str, body_hash: str, conn: Connection | None = None) -> Placement | None:
        """The answer given to ``request_id`` before, or None if it is new. A different body is refused
        (``RequestIdReused``), and so is a placement released since (``PlacementReleased``)."""
        ledger = reservations.c
        query = select(ledger.body_hash, ledger.response, ledger.service_id, ledger.released_at).where(
            ledger.request_id == request_id
        )
        if conn is not None:
            row = conn.execute(query).first()
        else:
            with self.engine.connect() as own:
                row = own.execute(query).first()
        if row is None:
            return None
        if row.body_hash != body_hash:
            raise RequestIdReused(f"request_id {request_id!r} was used before with a different body")
        if row.released_at is not None:
            raise PlacementReleased(request_id, row.service_id, _aware(row.released_at))
        return Placement(row.response, True, None)

    def _reserve(
        self,
        conn: Connection,
        order: PlacementOrder,
        body_hash: str,
        decision: Decision,
        request: PlacementRequest,
        chosen: tuple[Cluster, ClusterLoad],
        now: datetime,
    ) -> tuple[dict[str, Any], _Reserved]:
        limits = self.policy.limits
        cluster, load = chosen
        cluster_id, node_name = decision.cluster_id, decision.node_hint
        storage = limits.storage[cluster.storage_provider]
        footprint = Footprint.of(request, limits, cluster.storage_provider)
        ram, objects, volume_count = footprint.ram_bytes, footprint.etcd_objects, footprint.volumes
        # The guards re-check the catalogue's cluster limits against the counters, at the engine's capacities.
        ctrl = limits.control_plane_types[load.ctrl_node_type]
        capacity = {limit.key: limit.capacity(limits, cluster.storage_provider, ctrl) for limit in LIMITS}

        # Lock order: the cluster's counter row, then the node's, then the customer's (see _lock_counters).
        statements = self._statements
        reserved_on_cluster = conn.execute(
            statements.reserve_on_cluster(bool(volume_count), bool(footprint.namespaces)),
            {
                "match_cluster_id": cluster_id,
                "match_ctrl_node_type": load.ctrl_node_type,
                "add_volumes": volume_count,
                "add_customers": footprint.namespaces,
                "add_pods": footprint.pods,
                "add_objects": objects,
                "max_volumes": capacity["volumes"],
                "max_customers": capacity["k8s_namespaces"],
                "max_pods": capacity["k8s_pods_cluster"],
                "max_services": capacity["k8s_services"],
                "max_objects": min(capacity["control_plane_objects"], capacity["k8s_etcd_objects"]),
            },
        ).first()
        if reserved_on_cluster is None:
            raise _GuardLost
        task_queue = reserved_on_cluster[0]

        result = conn.execute(
            statements.reserve_on_node,
            {
                "match_cluster_id": cluster_id,
                "match_node_name": node_name,
                "add_ram": ram,
                "add_pods": footprint.pods,
                "default_max_pods": limits.max_pods_per_node,
            },
        )
        if result.rowcount != 1:
            raise _GuardLost

        if volume_count:
            self._reserve_customer_volumes(conn, order.request, volume_count)

        service_id = order.service_id or f"svc-{uuid.uuid4().hex}"
        blocks = [
            volume_block(
                v.size_bytes,
                v.mount_path,
                node_name,
                storage.replicas,
                "replicated" if storage.replicas > 1 else "single-copy",
            )
            for v in request.volumes
        ]
        response = {
            "request_id": order.request_id,
            "service_id": service_id,
            "cluster_id": cluster_id,
            "task_queue": task_queue,
            "node": node_name,
            "volume": blocks[0] if blocks else None,
            "volumes": blocks,
            "reason": decision.reason,
            "warnings": list(decision.warnings),
        }
        conn.execute(
            statements.insert_reservation,
            {
                "request_id": order.request_id,
                "body_hash": body_hash,
                "service_id": service_id,
                "cluster_id": cluster_id,
                "node_name": node_name,
                "customer_id": request.customer_id,
                "ram_bytes": ram,
                "pods": footprint.pods,
                "volumes": volume_count,
                "objects": objects,
                "new_customer": bool(footprint.namespaces),
                "reserved_at": now,
                "response": response,
            },
        )
        conn.execute(
            statements.insert_service,
            {
                "id": service_id,
                "cluster_id": cluster_id,
                "customer_id": request.customer_id,
                "name": order.service_name,
                "repo": order.repo,
                "ram_bytes": request.ram_bytes,
                "pods": request.pods,
                "created_at": now,
            },
        )
        if request.volumes:
            conn.execute(
                statements.insert_volume,
                [
                    {
                        "id": f"{service_id}-vol-{index}",
                        "service_id": service_id,
                        "cluster_id": cluster_id,
                        "mount_path": volume.mount_path,
                        "size_bytes": volume.size_bytes,
                        "node_name": node_name,
                        "created_at": now,
                    }
                    for index, volume in enumerate(request.volumes)
                ],
            )
        reserved = _Reserved(cluster_id, node_name, footprint)
        return response, reserved

    def _reserve_customer_volumes(self, conn: Connection, request: RequestIn, count: int) -> None:
        quota = self.policy.quota(request.plan)
        allowed = quota.max_volumes_per_customer - request.customer_volume_count
        if self.backend == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert
        if count > allowed:
            raise _GuardLost
        row = customer_volumes.c
        statement = upsert(customer_volumes).values(customer_id=request.customer_id, volumes=count)
        result = conn.execute(
            statement.on_conflict_do_update(
                index_elements=[row.customer_id],
                set_={"volumes": row.volumes + count},
                where=row.volumes + count <= allowed,
            ).returning(row.volumes)
        )
        if result.first() is None:
            raise _GuardLost

    def release(self, service_id: str) -> bool:
        """Give back what a placement reserved. False when it was released before (releasing is idempotent).

        Exactly once under any concurrency: the ledger row is marked released by an UPDATE guarded by
        ``released_at IS NULL``, and only the call whose UPDATE matched gives the counters back. PostgreSQL
        re-checks the guard on the row it locked, so a concurrent twin waits and then matches nothing; SQLite's
        writers take turns (``BEGIN IMMEDIATE``).
        """
        for _ in range(MAX_GUARD_LOSSES):
            try:
                return self._release_once(service_id)
            except OperationalError as error:
                if getattr(error.orig, "sqlstate", None) not in RETRYABLE_SQLSTATES:
                    raise
        raise Contention(f"gave up releasing {service_id!r} after {MAX_GUARD_LOSSES} deadlocks; retry")

    def _release_once(self, service_id: str) -> bool:
        ledger = reservations.c
        with self._write() as conn:
            row = conn.execute(
                update(reservations)
                .where(ledger.service_id == service_id, ledger.released_at.is_(None))
                .values(released_at=self.clock())
                .returning(*reservations.c)
            ).first()
            if row is None:
                if conn.execute(select(ledger.request_id).where(ledger.service_id == service_id)).first() is None:
                    raise UnknownPlacement(service_id)
                return False
            # Locked before it is read, so a snapshot arriving now (put_load locks this row first too) either
            # counted this reservation and sees it given back here, or recounts the ledger after this commits.
            observed = conn.execute(
                select(cluster_counters.c.observed_at)
                .where(cluster_counters.c.cluster_id == row.cluster_id)
                .with_for_update()
            ).scalar()
            # A reservation older than the snapshot is inside the snapshot's figures; the next snapshot drops it.
            if observed is None or _aware(row.reserved_at) >= _aware(observed):
                counter = cluster_counters.c
                conn.execute(
                    update(cluster_counters)
                    .where(counter.cluster_id == row.cluster_id)
                    .values(
                        reserved_volumes=counter.reserved_volumes - row.volumes,
                        reserved_services=counter.reserved_services - 1,
                        reserved_customers=counter.reserved_customers - int(row.new_customer),
                        reserved_pods=counter.reserved_pods - row.pods,
                        reserved_objects=counter.reserved_objects - row.objects,
                    )
                )
                node = node_counters.c
                conn.execute(
                    update(node_counters)
                    .where(node.cluster_id == row.cluster_id, node.node_name == row.node_name)
                    .values(reserved_ram=node.reserved_ram - row.ram_bytes, reserved_pods=node.reserved_pods - row.pods)
                )
            if row.volumes:
                conn.execute(
                    update(customer_volumes)
                    .where(customer_volumes.c.customer_id == row.customer_id)
                    .values(volumes=customer_volumes.c.volumes - row.volumes)
                )
            conn.execute(volumes.delete().where(volumes.c.service_id == service_id))
            conn.execute(services.delete().where(services.c.id == service_id))
        return True

    def ledger_totals(self) -> dict[str, dict[str, int]]:
        """Active reservations summed per cluster (the ledger is the truth the counters are checked against)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    reservations.c.cluster_id,
                    func.count(),
                    func.coalesce(func.sum(reservations.c.ram_bytes), 0),
                    func.coalesce(func.sum(reservations.c.volumes), 0),
                )
                .where(reservations.c.released_at.is_(None))
                .group_by(reservations.c.cluster_id)
            ).all()
        return {r[0]: {"services": int(r[1]), "ram_bytes": int(r[2]), "volumes": int(r[3])} for r in rows}


def _counts_customer_volumes(request: RequestIn, model: PlacementRequest) -> bool:
    """The customer's volume quota needs their volume count from the database (not for a dry run without one)."""
    return request.customer_id is not None and bool(model.volumes or model.customer_volume_count)


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
