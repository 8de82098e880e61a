"""Releases: what a placement reserved, given back exactly once.

Split from ``placement.router.reservation`` (one module, one job): placing and releasing share only the ledger
and the counters' guards (``placement.router.counters``).
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from placement.router import counters
from placement.router.db import cluster_counters, clusters, customer_volumes, reservations, services, volumes
from placement.router.exceptions import Contention, UnknownPlacement
from placement.router.repository import Repository, aware
from placement.router.reservation import MAX_GUARD_LOSSES, RETRYABLE_SQLSTATES


class Releases:
    """Thread-safe."""

    def __init__(self, repository: Repository):
        self.repository = repository

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
        with self.repository.write() as conn:
            row = conn.execute(
                update(reservations)
                .where(ledger.service_id == service_id, ledger.released_at.is_(None))
                .values(released_at=self.repository.clock())
                .returning(*reservations.c)
            ).first()
            if row is None:
                if conn.execute(select(ledger.request_id).where(ledger.service_id == service_id)).first() is None:
                    raise UnknownPlacement(service_id)
                return False
            # Locked before it is read, so a snapshot arriving now (put_load locks this row first too) either
            # counted this reservation and sees it given back here, or recounts the ledger after this commits.
            counter = conn.execute(
                select(cluster_counters.c.observed_at, clusters.c.storage_provider)
                .join(clusters, clusters.c.id == cluster_counters.c.cluster_id)
                .where(cluster_counters.c.cluster_id == row.cluster_id)
                .with_for_update(of=cluster_counters)
            ).one()
            footprint = counters.ledger_footprint(row, counter.storage_provider)
            # A reservation older than the snapshot is inside the snapshot's figures; the next snapshot drops it.
            if counter.observed_at is None or aware(row.reserved_at) >= aware(counter.observed_at):
                taken_back = footprint.scaled(-1)
                match = {"match_cluster_id": row.cluster_id, "match_node_name": row.node_name}
                conn.execute(counters.ADD_TO_CLUSTER, {**match, **counters.cluster_additions(taken_back)})
                conn.execute(counters.ADD_TO_NODE, {**match, **counters.node_additions(taken_back)})
            if footprint.volumes:
                conn.execute(
                    update(customer_volumes)
                    .where(customer_volumes.c.customer_id == row.customer_id)
                    .values(volumes=customer_volumes.c.volumes - footprint.volumes)
                )
            conn.execute(volumes.delete().where(volumes.c.service_id == service_id))
            conn.execute(services.delete().where(services.c.id == service_id))
        return True
