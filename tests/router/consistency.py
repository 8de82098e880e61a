"""The ledger against everything derived from it: counters, node counters, customer volumes, service rows.

The reservations table is the truth. Every counter must equal what the active reservations add up to, so a
release counted twice, a lost release or a half-written placement shows up here as a mismatch.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime

from sqlalchemy import select

from placement.router.db import cluster_counters, customer_volumes, node_counters, reservations, services, volumes
from placement.router.store import open_store


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def check_consistency(url: str) -> dict[str, int]:
    """Assert that counters, rows and the ledger agree; return a few totals for the caller's own checks."""
    store = open_store(url, migrate=False)
    try:
        with store.engine.connect() as conn:
            ledger = conn.execute(select(reservations)).all()
            counters = {row.cluster_id: row for row in conn.execute(select(cluster_counters))}
            nodes = conn.execute(select(node_counters)).all()
            per_customer = {row.customer_id: row.volumes for row in conn.execute(select(customer_volumes))}
            service_ids = set(conn.execute(select(services.c.id)).scalars())
            volume_rows = Counter(conn.execute(select(volumes.c.service_id)).scalars())
    finally:
        store.dispose()

    active = [r for r in ledger if r.released_at is None]
    assert len({r.service_id for r in active}) == len(active), "a service id is active twice in the ledger"
    assert service_ids == {r.service_id for r in active}, "services rows differ from the active reservations"
    assert volume_rows == Counter({r.service_id: r.volumes for r in active if r.volumes}), "volume rows differ"

    expected_customers: Counter[str] = Counter()
    for r in active:
        expected_customers[r.customer_id] += r.volumes
    assert {c: v for c, v in per_customer.items() if v} == {c: v for c, v in expected_customers.items() if v}, (
        "customer volume counts differ from the ledger"
    )

    since: dict[str, list] = defaultdict(list)
    for r in active:
        observed = _aware(counters[r.cluster_id].observed_at)
        if observed is None or _aware(r.reserved_at) >= observed:
            since[r.cluster_id].append(r)
    for cluster_id, row in counters.items():
        mine = since[cluster_id]
        got = (row.reserved_volumes, row.reserved_services, row.reserved_customers, row.reserved_pods)
        want = (
            sum(r.volumes for r in mine),
            len(mine),
            sum(int(r.new_customer) for r in mine),
            sum(r.pods for r in mine),
        )
        assert got == want, f"{cluster_id}: counters (volumes, services, customers, pods) {got} != ledger {want}"
        assert row.reserved_objects == sum(r.objects for r in mine), f"{cluster_id}: etcd objects differ"
        assert row.reserved_disk == sum(r.disk_bytes for r in mine), f"{cluster_id}: raw disk differs"
    for node in nodes:
        mine = [r for r in since[node.cluster_id] if r.node_name == node.node_name]
        got = (node.reserved_ram, node.reserved_pods)
        want = (sum(r.ram_bytes for r in mine), sum(r.pods for r in mine))
        assert got == want, f"{node.cluster_id}/{node.node_name}: node counters {got} != ledger {want}"
    return {
        "active": len(active),
        "released": len(ledger) - len(active),
        "active_volumes": sum(r.volumes for r in active),
    }
