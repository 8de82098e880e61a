"""Placements: decide on the fleet, then reserve atomically (releases: ``placement.router.releases``).

A placement decides with ``placement.select_cluster`` on the fleet as the database shows it (each cluster's last
snapshot plus what was reserved since that snapshot was observed; usually the cached fleet), then reserves in one
transaction:

1. guarded conditional UPDATEs that add the placement's ``Footprint`` to the chosen node's RAM and pod counters,
   to the cluster's counters (while the cluster is still active; ``placement.router.counters`` has the guards the
   catalogue sets), and to the customer's volume count against the plan's quota. Each UPDATE only matches while
   the result still fits, so a match means reserved;
2. the ledger row (primary key: the request id, which makes the call idempotent), the service and its volumes.

Calls with the same request id take turns (a transaction-scoped advisory lock on PostgreSQL; on SQLite every
writing transaction starts with ``BEGIN IMMEDIATE``), so a retry never sees half of its twin's work.
If a guard does not match, someone else took the room since the read: the transaction rolls back and the
placement decides again on fresh state. After a few such losses it locks every cluster's counter row
(``FOR UPDATE``, in id order) before deciding, so no other placement can take the room under it.

The ledger keeps what was placed (``placement.router.ledger.PlacedService``), not an HTTP answer: the API shapes
both the first answer and every replay from it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Text, bindparam, func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from placement.engine import Decision, select_cluster
from placement.footprint import Footprint
from placement.limits import ControlPlaneType
from placement.model import PlacementRequest
from placement.router import counters
from placement.router.booking import Booking, BookingRows, BookingStatements
from placement.router.cache import CachedFleet, Fleet, FleetCache
from placement.router.db import (
    cluster_counters,
    reservations,
)
from placement.router.exceptions import (
    Contention,
    NothingFits,
    PlacementReleased,
    RequestIdReused,
    ServiceIdTaken,
)
from placement.router.ledger import PLACED, PlacedService, PlacedVolume, Placement, PlacementOrder, placed_json
from placement.router.repository import Repository, aware
from placement.state import RequestIn

# Placements that lose a guard this many times in a row then decide under the locks.
OPTIMISTIC_ATTEMPTS = 3
MAX_GUARD_LOSSES = 20
RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock detected


# Built once: a statement built per call costs its construction and cache key every time.
_LEDGER = reservations.c
_LEDGER_ROW = select(_LEDGER.body_hash, _LEDGER.response, _LEDGER.service_id, _LEDGER.released_at).where(
    _LEDGER.request_id == bindparam("request_id")
)
_ACTIVE_SERVICE_ID = select(_LEDGER.request_id).where(
    _LEDGER.service_id == bindparam("service_id"), _LEDGER.released_at.is_(None)
)
_LOCK_REQUEST_ID = select(func.pg_advisory_xact_lock(func.hashtextextended(bindparam("request_id", type_=Text), 0)))
_LOCK_COUNTERS = select(cluster_counters.c.cluster_id).order_by(cluster_counters.c.cluster_id).with_for_update()


MAX_FOOTPRINTS = 1024  # footprints whose bound values are kept (``Reservations._footprint_values``)


@dataclass(frozen=True, slots=True)
class _FootprintValues:
    """What a footprint binds in a booking: the same for every placement of that footprint (never changed)."""

    binding: tuple[str, ...]  # counters.guards_that_bind
    ledger: dict[str, Any]  # counters.ledger_values
    on_cluster: dict[str, int]  # counters.cluster_additions
    on_node: dict[str, int]  # counters.node_guard_capacities and node_additions
    # (provider, control-plane type) -> the PostgreSQL statement's parameters they fix (``_fixed_params``)
    fixed: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


class _GuardLost(Exception):
    """A guarded UPDATE matched no row: the room was taken since the read."""


def _counts_customer_volumes(request: RequestIn, model: PlacementRequest) -> bool:
    """The customer's volume quota needs their volume count from the database (not for a dry run without one)."""
    return request.customer_id is not None and bool(model.volumes or model.customer_volume_count)


class Reservations:
    """Decisions on the fleet and the transactions that reserve and release. Thread-safe."""

    def __init__(self, repository: Repository, cache: FleetCache):
        self.repository = repository
        self.cache = cache
        self.policy = repository.policy
        self.statements = BookingStatements(repository.backend)
        # The booking statement is its own transaction (PostgreSQL): no BEGIN, no COMMIT, no idle transaction.
        self._at_once = repository.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._capacities: dict[tuple[str, str], dict[str, int]] = {}
        self._footprints: dict[Footprint, _FootprintValues] = {}

    # --- decisions ---------------------------------------------------------------------------------------

    def request_model(self, request: RequestIn) -> PlacementRequest:
        """The engine's request: what the request leaves out is its plan's default in this store's policy."""
        return request.to_model(self.policy.request_defaults(request.plan))

    def counted(self, request: RequestIn, model: PlacementRequest, known: int | None) -> PlacementRequest | None:
        """``model`` with the customer's volumes made through this router (``known``) added to the request's
        own count (which counts volumes made elsewhere). None when the quota needs a count that is not known."""
        if not _counts_customer_volumes(request, model):
            return model
        if known is None:
            return None
        if not known:
            return model  # the same request (``replace`` is Python, and a customer new to the cache is common)
        return replace(model, customer_volume_count=model.customer_volume_count + known)

    def from_cache(self, request: RequestIn, model: PlacementRequest) -> tuple[PlacementRequest, CachedFleet] | None:
        """The engine's request and the fleet, both from the cache; None when either needs the database."""
        cached = self.cache.fresh()
        if cached is None:
            return None
        counted = self.counted(request, model, cached.customer_volumes(model.customer_id))
        return None if counted is None else (counted, cached)

    def from_database(
        self, conn: Connection, request: RequestIn, model: PlacementRequest, *, fresh_fleet: bool = False
    ) -> tuple[PlacementRequest, Fleet]:
        """The engine's request with the customer's volume count read now, and the fleet (the cached one, unless
        stale, dropped or ``fresh_fleet``). The count is kept with the cached fleet it was read under."""
        cached = None if fresh_fleet else self.cache.fresh()
        if cached is None:
            fleet = self.cache.refill(lambda: self.repository.read_fleet(conn))
            cached = self.cache.fresh()
        else:
            fleet = cached.fleet
        if not _counts_customer_volumes(request, model):
            return model, fleet
        known = self.repository.customer_volume_count(model.customer_id, conn)
        if cached is not None:
            self.cache.remember_customer(cached, model.customer_id, known)
        return self.counted(request, model, known), fleet

    def refresh_fleet(self) -> None:
        """Read the fleet into the cache now, with the volume counts of the customers the cache knew."""
        repository = self.repository
        # PostgreSQL: autocommitted (READ COMMITTED gives each statement its own snapshot either way), so a refill
        # sends no BEGIN or ROLLBACK and never sits idle in a transaction. SQLite: one snapshot for all the reads.
        reader = self._at_once if self.statements.in_one_statement else repository.engine
        with reader.connect() as conn:
            self.cache.refill(
                lambda: repository.read_fleet(conn), lambda known: repository.customer_volume_counts(known, conn)
            )

    def learn_customer(self, customer_id: str) -> None:
        """Read one customer's volume count into the cached fleet (kept only if that fleet is still current)."""
        cached = self.cache.fresh()
        if cached is None:
            return
        known = self.repository.customer_volume_count(customer_id)
        self.cache.remember_customer(cached, customer_id, known)

    def _decide(
        self, conn: Connection, request: RequestIn, now: datetime, *, may_use_cache: bool
    ) -> tuple[Decision, PlacementRequest, Fleet]:
        on_cache = self._decide_on_cache(request, now) if may_use_cache else None
        if on_cache is not None:
            return on_cache
        counted, fleet = self.from_database(conn, request, self.request_model(request), fresh_fleet=True)
        return select_cluster(counted, fleet, self.policy, now=now), counted, fleet

    def _decide_on_cache(self, request: RequestIn, now: datetime) -> tuple[Decision, PlacementRequest, Fleet] | None:
        """A placement's choice on the cached fleet; None when the fleet is not cached or nothing fits on it."""
        cached = self.cache.fresh()
        if cached is None:
            return None
        model = self.request_model(request)
        # A customer the cache has not seen counts as having no volumes yet: the quota's guard in the booking
        # holds the line, and a lost guard decides again on what the database reads.
        known = cached.customer_volumes(model.customer_id)
        counted = self.counted(request, model, 0 if known is None else known)
        decision = select_cluster(counted, cached.fleet, self.policy, now=now)
        # A choice made on the cache is checked by the guards; a refusal must come from the database itself.
        return (decision, counted, cached.fleet) if decision.placed else None

    def booked_on_cache(self, order: PlacementOrder, now: datetime) -> Booking | None:
        """The booking statement's values for ``order`` decided on the cached fleet, for a caller that sends the
        statement itself (``placement.router.loop_booking``); None when only ``place`` can place it (SQLite, the
        fleet not cached, nothing fits on it, the cached quota count refuses it)."""
        if not self.statements.in_one_statement:
            return None
        on_cache = self._decide_on_cache(order.request, now)
        if on_cache is None:
            return None
        decision, model, fleet = on_cache
        try:
            return self._booking_for(order, order.body_hash(), decision, model, fleet, now)
        except _GuardLost:
            return None

    # --- placements --------------------------------------------------------------------------------------

    def place(self, order: PlacementOrder, now: datetime | None = None) -> Placement:
        """Decide and reserve atomically; the same request id always gets the same answer."""
        body_hash = order.body_hash()
        locked = False
        losses = 0
        while True:
            when = now or self.repository.clock()
            try:
                if self.statements.in_one_statement and not locked:
                    return self._place_at_once(order, body_hash, when, losses)
                return self._place_in_transaction(order, body_hash, when, locked, losses)
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
                # took the same client-chosen service id. Or, on the statement's path, an earlier call did.
                replayed = self._replay(order.request_id, body_hash)
                if replayed is not None:
                    return replayed
                if order.service_id is not None:
                    raise ServiceIdTaken(order.service_id) from None
                raise

    def _place_at_once(self, order: PlacementOrder, body_hash: str, when: datetime, losses: int) -> Placement:
        """Decide outside any transaction, then book in one statement that is its own transaction
        (``placement.router.booking``). The request id's ledger row is its primary key: a call whose id was placed
        before (or is being placed now) fails that INSERT, after the other's commit, and answers as a replay."""
        with self._at_once.connect() as conn:
            # After a lost guard the cache is behind the database: decide on a fresh read.
            decision, model, fleet = self._decide(conn, order.request, when, may_use_cache=losses == 0)
            if not decision.placed:
                # A request id placed before answers as then, even when nothing fits now.
                replayed = self._replay(order.request_id, body_hash, conn)
                if replayed is not None:
                    return replayed
                raise NothingFits(decision, order.request)
            placed, footprint, customer = self._reserve(
                conn, self._booking_for(order, body_hash, decision, model, fleet, when)
            )
        self.cache.add(placed.cluster_id, placed.node, footprint, customer)
        return Placement(placed, False, decision)

    def _place_in_transaction(
        self, order: PlacementOrder, body_hash: str, when: datetime, locked: bool, losses: int
    ) -> Placement:
        """The request id's lock and ledger read, then the decision and the booking, in one transaction (SQLite,
        and PostgreSQL after ``OPTIMISTIC_ATTEMPTS`` lost guards, deciding under every cluster counter's lock)."""
        with self.repository.write(drops_cache=False) as conn:
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
            placed, footprint, customer = self._reserve(
                conn, self._booking_for(order, body_hash, decision, model, fleet, when)
            )
        self.cache.add(placed.cluster_id, placed.node, footprint, customer)
        return Placement(placed, False, decision)

    def _lock_request_id(self, conn: Connection, request_id: str) -> None:
        # Calls with the same request id take turns, so a twin sees the other's ledger row, never a half-made one.
        # SQLite: the write transaction began with BEGIN IMMEDIATE, which already excludes other writers.
        if self.repository.backend == "postgresql":
            conn.execute(_LOCK_REQUEST_ID, {"request_id": request_id})

    def _lock_counters(self, conn: Connection) -> None:
        if self.repository.backend == "postgresql":
            # Ordered, so two lockers never wait on each other in opposite orders.
            conn.execute(_LOCK_COUNTERS).all()
        # SQLite: the write transaction began with BEGIN IMMEDIATE, which already excludes other writers.

    def _service_id_active(self, conn: Connection, service_id: str) -> bool:
        return conn.execute(_ACTIVE_SERVICE_ID, {"service_id": service_id}).first() is not None

    def _replay(self, request_id: str, body_hash: str, conn: Connection | None = None) -> Placement | None:
        """The placement made for ``request_id`` before, or None if it is new. A different body is refused
        (``RequestIdReused``), and so is a placement released since (``PlacementReleased``)."""
        params = {"request_id": request_id}
        if conn is not None:
            row = conn.execute(_LEDGER_ROW, params).first()
        else:
            with self.repository.engine.connect() as own:
                row = own.execute(_LEDGER_ROW, params).first()
        if row is None:
            return None
        if row.body_hash != body_hash:
            raise RequestIdReused(f"request_id {request_id!r} was used before with a different body")
        if row.released_at is not None:
            raise PlacementReleased(request_id, row.service_id, aware(row.released_at))
        return Placement(PLACED.validate_python(row.response), True, None)

    def _reserve(self, conn: Connection, booking: Booking) -> tuple[PlacedService, Footprint, tuple[str, int] | None]:
        """Book ``booking``; also returns the customer's volume count after it, when it changed.

        Everything is computed before the first write (``_booking_for``), and the guarded counter UPDATEs run last
        (``placement.router.booking``), so the cluster's counter row is held only from its UPDATE to the COMMIT.
        """
        booked = self.statements.book(conn, booking)
        if not booked.holds(booking):
            raise _GuardLost
        return booking.placed, booking.footprint, booking.customer_after(booked)

    def _booking_for(
        self,
        order: PlacementOrder,
        body_hash: str,
        decision: Decision,
        request: PlacementRequest,
        fleet: Fleet,
        now: datetime,
    ) -> Booking:
        limits = self.policy.limits
        cluster, load = next(pair for pair in fleet if pair[0].id == decision.cluster_id)
        cluster_id, node_name = cluster.id, decision.node_hint
        # The footprint the engine judged on this cluster (``request`` is the one it decided), not made again.
        footprint = decision.footprint(len(load.run_nodes))
        adds = self._footprint_values(footprint)
        ctrl = limits.control_plane_types.get(load.ctrl_node_type)
        customer = None
        if footprint.volumes:
            quota = self.policy.quota(order.request.plan)
            allowed = quota.max_volumes_per_customer - order.request.customer_volume_count
            if footprint.volumes > allowed:
                raise _GuardLost
            customer = (request.customer_id, footprint.volumes, allowed)

        replicas = limits.storage[cluster.storage_provider].replicas_on(len(load.run_nodes))
        placed = PlacedService(
            request_id=order.request_id,
            service_id=order.service_id or f"svc-{uuid4_hex()}",
            cluster_id=cluster_id,
            # As the fleet shows it; the cluster's guarded UPDATE returns the queue as committed (read under a
            # share lock on the cluster's row) and a different one loses the guard.
            task_queue=cluster.task_queue,
            node=node_name,
            volumes=tuple(PlacedVolume(v.mount_path, v.size_bytes, replicas) for v in request.volumes),
            reason=decision.reason,
            warnings=tuple(decision.warnings),
        )
        booking = Booking(adds.binding, placed.task_queue, len(request.volumes), customer, placed, footprint, decision)
        statements = self.statements
        if statements.in_one_statement:
            # The one statement's parameters, built directly (the ledger's JSON written once, by pydantic).
            fixed = self._fixed_params(adds, cluster.storage_provider, load.ctrl_node_type, ctrl)
            booking.params = statements.statement_params(
                fixed,
                placed,
                body_hash,
                request.customer_id,
                now,
                placed_json(placed),
                (order.service_name, order.repo, request.ram_bytes, request.pods),
                [(volume.mount_path, volume.size_bytes) for volume in request.volumes],
                customer,
                order.request.region,
            )
            return booking
        capacities = self._guard_capacities(cluster.storage_provider, load.ctrl_node_type, ctrl)
        booking.rows = BookingRows.of(
            placed,
            body_hash,
            request.customer_id,
            now,
            PLACED.dump_python(placed, mode="json"),
            (order.service_name, order.repo, request.ram_bytes, request.pods),
            [(volume.mount_path, volume.size_bytes) for volume in request.volumes],
            adds.ledger,
            {"match_ctrl_node_type": load.ctrl_node_type, **adds.on_cluster, **capacities},
            adds.on_node,
            order.request.region,
        )
        return booking

    def _fixed_params(
        self, adds: _FootprintValues, provider: str, ctrl_name: str, ctrl: ControlPlaneType | None
    ) -> dict[str, Any]:
        """The statement's parameters every booking of a footprint (``adds``) on a cluster of this provider and
        control-plane type binds alike (``BookingStatements.fixed_params``), worked out once each, kept with it."""
        key = (provider, ctrl_name)
        fixed = adds.fixed.get(key)
        if fixed is None:
            on_cluster = {
                "match_ctrl_node_type": ctrl_name,
                **adds.on_cluster,
                **self._guard_capacities(provider, ctrl_name, ctrl),
            }
            fixed = adds.fixed[key] = self.statements.fixed_params(adds.ledger, on_cluster, adds.on_node)
        return fixed

    def _footprint_values(self, footprint: Footprint) -> _FootprintValues:
        # A handful of footprints recur (a plan's default request, with or without a volume): their bound values
        # are worked out once each (at most MAX_FOOTPRINTS kept), not at every placement.
        values = self._footprints.get(footprint)
        if values is None:
            if len(self._footprints) >= MAX_FOOTPRINTS:
                self._footprints.clear()
            values = self._footprints[footprint] = _FootprintValues(
                binding=counters.guards_that_bind(footprint),
                ledger=counters.ledger_values(footprint),
                on_cluster=counters.cluster_additions(footprint),
                on_node={**counters.node_guard_capacities(self.policy.limits), **counters.node_additions(footprint)},
            )
        return values

    def _guard_capacities(self, provider: str, ctrl_name: str, ctrl: ControlPlaneType | None) -> dict[str, int]:
        # The policy's limits never change: the capacities are worked out once per provider and node type.
        key = (provider, ctrl_name)
        capacities = self._capacities.get(key)
        if capacities is None:
            capacities = self._capacities[key] = counters.guard_capacities(self.policy.limits, provider, ctrl)
        return capacities


def uuid4_hex() -> str:
    """``uuid.uuid4().hex``: 16 random bytes with the version (4) and variant (RFC 4122) bits set as ``uuid.UUID``
    sets them, without making a ``UUID`` (its ``__init__`` is Python, a few microseconds a placement)."""
    n = int.from_bytes(os.urandom(16), "big")
    n = (n & ~(0xC000 << 48)) | (0x8000 << 48)
    n = (n & ~(0xF000 << 64)) | (4 << 76)
    return f"{n:032x}"
