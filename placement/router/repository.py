"""The router's rows: clusters, load snapshots and services (the fleet the engine sees is read in ``fleet_rows``).

Every writing transaction goes through ``Repository.write``, which drops the cached fleet once it commits
(unless the writer patches the cache itself, as a placement does). SQLite writers start with ``BEGIN IMMEDIATE``;
on PostgreSQL the rows a write depends on are locked in a fixed order: a cluster's counter row first.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import Connection, Engine, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from placement.model import Cluster, ClusterLoad
from placement.policy import Policy
from placement.router import counters
from placement.router.cache import Fleet, FleetCache
from placement.router.db import (
    cluster_counters,
    cluster_loads,
    clusters,
    customer_volumes,
    node_counters,
    reservations,
    services,
    volumes,
)
from placement.router.exceptions import (
    ClusterExists,
    ServiceReleased,
    SnapshotFromTheFuture,
    TaskQueueInUse,
    UnknownCluster,
    UnknownPlacement,
    UnknownStorageProvider,
)
from placement.router.fleet_rows import (
    CLUSTER_COLUMNS,
    COUNTS,
    COUNTS_OF_ANY,
    FLEET,
    NODES,
    aware,
    cluster_from_row,
    counts_from_rows,
    customer_ids_json,
    fleet_from_rows,
)
from placement.state import ClusterLoadIn
from placement.units import format_bytes

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ServiceVolume:
    id: str
    mount_path: str
    size_bytes: int
    node: str | None

    @property
    def size(self) -> str:
        """The size as a Kubernetes quantity (10Gi)."""
        return format_bytes(self.size_bytes)


@dataclass(frozen=True, slots=True)
class ServiceRecord:
    """Where a live service is (the design document's ``getClusterForService``)."""

    service_id: str
    name: str
    customer_id: str
    cluster_id: str
    task_queue: str
    region: str
    cluster_status: str
    node: str | None
    volumes: tuple[ServiceVolume, ...]
    created_at: datetime


class Repository:
    """Thread-safe: one instance per process."""

    def __init__(self, engine: Engine, policy: Policy, clock: Clock, cache: FleetCache, max_clock_skew: timedelta):
        self.engine = engine
        self.writer = engine.execution_options(write=True)
        self.policy = policy
        self.clock = clock
        self.cache = cache
        self.max_clock_skew = max_clock_skew
        self.backend = engine.dialect.name
        # SQLite's busy handler polls with growing sleeps, which starves some writers under load; queueing them
        # on a lock in this process first keeps waits short. BEGIN IMMEDIATE still guards other processes.
        self._local_writer_lock = threading.Lock() if self.backend == "sqlite" else nullcontext()

    @contextmanager
    def write(self, *, drops_cache: bool = True) -> Iterator[Connection]:
        """A writing transaction. It drops the cached fleet, unless the caller patches the cache itself."""
        try:
            with self._local_writer_lock, self.writer.begin() as conn:
                yield conn
        finally:
            if drops_cache:
                self.cache.drop()  # after the commit, so a fleet read before it is dropped

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    # --- clusters ----------------------------------------------------------------------------------------

    def add_cluster(self, cluster: Cluster) -> Cluster:
        providers = self.policy.limits.storage
        if cluster.storage_provider not in providers:
            raise UnknownStorageProvider(
                f"storage_provider {cluster.storage_provider!r}: the limits profile {self.policy.limits.profile!r} "
                f"has {', '.join(providers)}"
            )
        created = aware(cluster.created_at) or self.clock()
        exists_message = f"a cluster with id {cluster.id!r} or task_queue {cluster.task_queue!r} exists"
        try:
            with self.write() as conn:
                clash = conn.execute(
                    select(clusters.c.id).where(
                        or_(clusters.c.id == cluster.id, clusters.c.task_queue == cluster.task_queue)
                    )
                ).first()
                if clash is not None:
                    raise ClusterExists(exists_message)
                row = {name: getattr(cluster, name) for name in CLUSTER_COLUMNS}
                conn.execute(insert(clusters).values(**row, created_at=created))
                conn.execute(insert(cluster_counters).values(cluster_id=cluster.id))
        except IntegrityError as exc:
            raise ClusterExists(exists_message) from exc
        return replace(cluster, created_at=created)

    def get_cluster(self, cluster_id: str) -> Cluster:
        with self.engine.connect() as conn:
            row = conn.execute(select(clusters).where(clusters.c.id == cluster_id)).first()
        if row is None:
            raise UnknownCluster(cluster_id)
        return cluster_from_row(row)

    def list_clusters(self) -> list[Cluster]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(clusters).order_by(clusters.c.id)).all()
        return [cluster_from_row(row) for row in rows]

    def patch_cluster(self, cluster_id: str, status: str | None = None, task_queue: str | None = None) -> Cluster:
        """Set a cluster's status and/or task queue, all or nothing.

        The task queue is where the deploys of the cluster's services go, so it changes only while no service
        lives on the cluster, and never to another cluster's (``TaskQueueInUse``). The cluster's row is locked
        first: a placement reads the queue under a share lock on that row (its guarded UPDATE of the cluster's
        counters returns it), so it either committed its service before this looks for services, or waits and
        answers with the new queue.
        A database trigger (migration 0002) refuses the same change from any other writer.
        """
        with self.write() as conn:
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

    def service(self, service_id: str) -> ServiceRecord:
        """Where a live service is: its cluster, the cluster's task queue and region, its node and volumes.

        A draining cluster's services resolve like any other: their deploys must still reach it. A released
        service raises ``ServiceReleased``; an id never placed raises ``UnknownPlacement``.
        """
        with self.engine.connect() as conn:
            row = conn.execute(
                select(
                    services.c.id.label("service_id"),
                    services.c.name,
                    services.c.customer_id,
                    services.c.cluster_id,
                    services.c.created_at,
                    clusters.c.task_queue,
                    clusters.c.region,
                    clusters.c.status.label("cluster_status"),
                    reservations.c.node_name.label("node"),
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
                    raise ServiceReleased(service_id, aware(released_at))
                raise UnknownPlacement(service_id)
            volume_rows = conn.execute(
                select(volumes.c.id, volumes.c.mount_path, volumes.c.size_bytes, volumes.c.node_name.label("node"))
                .where(volumes.c.service_id == service_id)
                .order_by(volumes.c.id)
            ).all()
        record = dict(row._mapping, created_at=aware(row.created_at))
        return ServiceRecord(**record, volumes=tuple(ServiceVolume(**v._mapping) for v in volume_rows))

    # --- load snapshots ----------------------------------------------------------------------------------

    def put_load(self, cluster_id: str, load: ClusterLoad, document: dict[str, Any] | None = None) -> None:
        """Record a load snapshot; ``observed_at`` defaults to now. ``document``: the snapshot as received
        (``ClusterLoadIn`` as JSON), when the caller has it already.

        The newest snapshot becomes the cluster's base load, and reservations made after it was observed stay
        on top of it (older ones are assumed to be in the snapshot). An out-of-order older snapshot is kept in
        the history but does not replace a newer one.

        A snapshot dated more than ``max_clock_skew`` ahead of this store's clock is refused
        (``SnapshotFromTheFuture``): it would pin the cluster, every real snapshot after it looking older. One
        dated ahead within the skew counts as observed when received, since it cannot hold a reservation made
        after that; otherwise the reservations of the next minutes would be taken as already in it.
        """
        now = self.clock()
        claimed = aware(load.observed_at) or now
        if claimed > now + self.max_clock_skew:
            raise SnapshotFromTheFuture(
                f"observed_at {claimed.isoformat()} is more than {self.max_clock_skew.total_seconds():g} s ahead "
                f"of the router's clock ({now.isoformat()})"
            )
        observed = min(claimed, now)
        if document is None:
            document = ClusterLoadIn.from_model(load).model_dump(mode="json")
        document = {**document, "observed_at": to_jsonable_python(claimed)}
        with self.write() as conn:
            current = conn.execute(
                select(cluster_counters.c.observed_at, clusters.c.storage_provider)
                .join(clusters, clusters.c.id == cluster_counters.c.cluster_id)
                .where(cluster_counters.c.cluster_id == cluster_id)
                .with_for_update(of=cluster_counters)  # see Reservations.release
            ).first()
            if current is None:
                raise UnknownCluster(cluster_id)
            load_id = conn.execute(
                insert(cluster_loads)
                .values(cluster_id=cluster_id, observed_at=claimed, received_at=now, snapshot=document)
                .returning(cluster_loads.c.id)
            ).scalar_one()
            # A current snapshot dated beyond the skew (accepted before it was checked) is not trusted as newer.
            current_at = aware(current.observed_at)
            if current_at is not None and now + self.max_clock_skew >= current_at > observed:
                return
            # The footprints reserved since the snapshot was observed stay on top of it.
            ledger = reservations.c
            since = conn.execute(
                select(
                    ledger.node_name,
                    ledger.ram_bytes,
                    ledger.pods,
                    ledger.volumes,
                    ledger.objects,
                    ledger.new_customer,
                    ledger.disk_bytes,
                ).where(ledger.cluster_id == cluster_id, ledger.released_at.is_(None), ledger.reserved_at >= observed)
            ).all()
            provider = current.storage_provider
            per_node: dict[str, list] = defaultdict(list)
            for row in since:
                per_node[row.node_name].append(counters.ledger_footprint(row, provider))
            on_cluster = counters.total((fp for fps in per_node.values() for fp in fps), provider)
            conn.execute(
                update(cluster_counters)
                .where(cluster_counters.c.cluster_id == cluster_id)
                .values(
                    load_id=load_id,
                    observed_at=observed,
                    ctrl_node_type=load.ctrl_node_type,
                    **{f"base_{counter}": getattr(load, name) for counter, name in counters.LOAD_NAMES.items()},
                    **counters.reserved_values(on_cluster),
                    **counters.load_capacities(load),
                )
            )
            conn.execute(node_counters.delete().where(node_counters.c.cluster_id == cluster_id))
            if load.run_nodes:
                rows = []
                for position, node in enumerate(load.run_nodes):
                    on_node = counters.total(per_node.get(node.name, ()), provider)
                    added = counters.node_additions(on_node)
                    rows.append(
                        {
                            "cluster_id": cluster_id,
                            "node_name": node.name,
                            "position": position,
                            "allocatable_ram": node.allocatable_ram_bytes,
                            "requested_ram": node.requested_ram_bytes,
                            "pods": node.pods,
                            "max_pods": node.max_pods,
                            "schedulable": node.schedulable,
                            **{f"reserved_{name}": added[f"add_{name}"] for name in counters.NODE_COUNTERS},
                        }
                    )
                conn.execute(insert(node_counters), rows)

    # --- the fleet as the engine sees it -----------------------------------------------------------------

    def fleet(self) -> Fleet:
        """Every cluster with its effective load: last snapshot plus reservations since, sorted by id."""
        with self.engine.connect() as conn:
            return self.read_fleet(conn)

    def read_fleet(self, conn: Connection) -> Fleet:
        return fleet_from_rows(conn.execute(FLEET).all(), conn.execute(NODES))

    def customer_volume_counts(self, customer_ids: list[str], conn: Connection) -> dict[str, int]:
        """Several customers' volume counts in one read (a customer without a row has none)."""
        if self.backend == "postgresql":
            # One array parameter, not one parameter per customer: the statement stays one cached statement and a
            # refill's read costs ~1 ms of the GIL instead of ~10 ms with a thousand parameters.
            rows = conn.execute(COUNTS_OF_ANY, {"customer_ids": customer_ids_json(customer_ids)}).all()
        else:
            rows = conn.execute(COUNTS.where(customer_volumes.c.customer_id.in_(customer_ids))).all()
        return counts_from_rows(customer_ids, rows)

    def cluster_state(self, cluster_id: str) -> tuple[Cluster, ClusterLoad, dict[str, int]]:
        """One cluster, its effective load and what has been reserved on top of the snapshot."""
        with self.engine.connect() as conn:
            row = conn.execute(select(cluster_counters).where(cluster_counters.c.cluster_id == cluster_id)).first()
            if row is None:
                raise UnknownCluster(cluster_id)
            for cluster, load in self.read_fleet(conn):
                if cluster.id == cluster_id:
                    return cluster, load, counters.reserved_view(row._mapping)
        raise UnknownCluster(cluster_id)

    def customer_volume_count(self, customer_id: str, conn: Connection | None = None) -> int:
        query = select(customer_volumes.c.volumes).where(customer_volumes.c.customer_id == customer_id)
        if conn is not None:
            return int(conn.execute(query).scalar() or 0)
        with self.engine.connect() as own:
            return int(own.execute(query).scalar() or 0)

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
