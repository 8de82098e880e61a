"""The counter rows as footprints: which counter each footprint field grows, and the guards the catalogue sets.

A reservation adds a placement's ``Footprint`` to its cluster's and node's counters, a release adds it scaled by
-1, and a new snapshot re-adds the footprints reserved since it was observed. The guards are the catalogue's
limits read against the counters (``used + needed <= capacity``): its cluster limits against the cluster's row,
its per-node limits' ``NodeRule`` against the node's row. Adding a limit to the catalogue with a counter behind
it adds its guard here. The SQL only applies numbers the footprint and the catalogue give.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import BigInteger, bindparam, exists, func, literal_column, select, update

from placement.catalogue import LIMITS, NODE_LIMITS, UNBOUNDED, Limit
from placement.footprint import FIELDS, Footprint
from placement.limits import ControlPlaneType, Limits
from placement.router.db import cluster_counters, clusters, node_counters

# cluster_counters' base_<name>/reserved_<name> pairs, and the footprint field each one counts.
CLUSTER_COUNTERS = {
    "volumes": "volumes",
    "services": "services",
    "customers": "namespaces",
    "pods": "pods",
    "objects": "etcd_objects",
    "disk": "disk_bytes",
}
# cluster_counters' capacity_<name> columns: a limit whose capacity the cluster holds (``Limit.on_load``), and the
# load's field it is (NULL: not known, no guard binds).
CAPACITY_COLUMNS = {"disk": "disk_capacity_bytes"}
# node_counters' requested_<name>/reserved_<name> pairs ("pods" has no "requested_" prefix in the snapshot).
NODE_COUNTERS = {"ram": "ram_bytes", "pods": "pods"}
_COUNTER_OF_FIELD = {field: counter for counter, field in CLUSTER_COUNTERS.items()}

_NODE_COUNTER_OF_FIELD = {field: counter for counter, field in NODE_COUNTERS.items()}


def node_fields(node: Any) -> dict[str, Any]:
    """A run node's ``RunNode`` fields from its counter row (``node``: ``node_counters`` or an alias of it): the
    snapshot's figures plus what was reserved on the node since. The fleet the engine decides on is read through
    these, and the node guard compares the same expressions."""
    row = node.c
    return {
        "name": row.node_name,
        "allocatable_ram_bytes": row.allocatable_ram,
        "requested_ram_bytes": row.requested_ram + row.reserved_ram,
        "pods": row.pods + row.reserved_pods,
        "max_pods": row.max_pods,
        "schedulable": row.schedulable,
    }


NODE_FIELDS = node_fields(node_counters)

# The catalogue's limits a cluster's counters can check: each one's level is a counter, its need a footprint field.
GUARDED_LIMITS: tuple[Limit, ...] = tuple(
    limit for limit in LIMITS if not limit.per_node and limit.needed in _COUNTER_OF_FIELD
)


def total(footprints: Iterable[Footprint], provider: str) -> Footprint:
    """The sum of ``footprints`` (nothing: the zero footprint)."""
    sums = dict.fromkeys(FIELDS, 0)
    for footprint in footprints:
        for name in FIELDS:
            sums[name] += getattr(footprint, name)
    return Footprint(provider, **sums)


def ledger_values(footprint: Footprint) -> dict[str, Any]:
    """A footprint as the ledger row keeps it (one service each, so ``services`` is implied)."""
    return {
        "ram_bytes": footprint.ram_bytes,
        "pods": footprint.pods,
        "volumes": footprint.volumes,
        "objects": footprint.etcd_objects,
        "new_customer": bool(footprint.namespaces),
        "disk_bytes": footprint.disk_bytes,
    }


def ledger_footprint(row: Any, provider: str) -> Footprint:
    """The footprint a ledger row reserved (``ledger_values`` read back)."""
    return Footprint(
        provider, row.ram_bytes, row.pods, 1, int(row.new_customer), row.volumes, 0, row.objects, row.disk_bytes
    )


def cluster_additions(footprint: Footprint) -> dict[str, int]:
    """The bound parameters of ``add_to_cluster``/``reserve_on_cluster``: what the footprint adds to each counter."""
    return {f"add_{counter}": getattr(footprint, field) for counter, field in CLUSTER_COUNTERS.items()}


def node_additions(footprint: Footprint) -> dict[str, int]:
    return {f"add_{counter}": getattr(footprint, field) for counter, field in NODE_COUNTERS.items()}


def reserved_values(footprint: Footprint) -> dict[str, int]:
    """The cluster row's reserved_* columns holding exactly ``footprint`` (a snapshot's recount)."""
    return {f"reserved_{counter}": getattr(footprint, field) for counter, field in CLUSTER_COUNTERS.items()}


def _added(table: Any, names: Iterable[str]) -> dict[str, Any]:
    return {
        f"reserved_{name}": table.c[f"reserved_{name}"] + bindparam(f"add_{name}", type_=BigInteger) for name in names
    }


def _matching_cluster(counter: Any) -> Any:
    return counter.c.cluster_id == bindparam("match_cluster_id")


def _matching_node(node: Any) -> Any:
    row = node.c
    return (row.cluster_id == bindparam("match_cluster_id")) & (row.node_name == bindparam("match_node_name"))


# Unguarded: a release adds its footprint scaled by -1.
ADD_TO_CLUSTER = (
    update(cluster_counters)
    .where(_matching_cluster(cluster_counters))
    .values(**_added(cluster_counters, CLUSTER_COUNTERS))
)
ADD_TO_NODE = update(node_counters).where(_matching_node(node_counters)).values(**_added(node_counters, NODE_COUNTERS))


def guards_that_bind(footprint: Footprint) -> tuple[str, ...]:
    """The keys of the guarded limits this placement grows (a limit that only binds when it grows is left out)."""
    return tuple(limit.key for limit in GUARDED_LIMITS if not limit.grows_only or getattr(footprint, limit.needed))


def guard_capacities(limits: Limits, provider: str, ctrl: ControlPlaneType | None) -> dict[str, int]:
    """The guards' bound capacities, as the engine's filters read them (an unknown node type matches nothing).
    A capacity the cluster holds is its counter row's (``CAPACITY_COLUMNS``), not a bound parameter."""
    return {
        f"cap_{limit.key}": limit.capacity_row_entry(limits, provider, ctrl)
        for limit in GUARDED_LIMITS
        if limit.on_load is None
    }


def reserve_on_cluster(binding: tuple[str, ...]) -> Any:
    """The guarded UPDATE of a cluster's counters: it matches only while every limit in ``binding`` still holds
    and the cluster is active, and returns the cluster's task queue."""
    # Aliased, as the node's: a booking is one statement, kept short enough for psycopg to cache its parsing.
    aliased = cluster_counters.alias("cc")
    counter = aliased.c
    guards = [
        _matching_cluster(aliased),
        counter.ctrl_node_type == bindparam("match_ctrl_node_type"),
        # A cached fleet can be up to a second behind another process (another worker of ``serve --workers N``,
        # a collector with --db): a cluster drained there takes nothing here.
        exists().where(clusters.c.id == counter.cluster_id, clusters.c.status == literal_column("'active'")),
    ]
    for limit in GUARDED_LIMITS:
        if limit.key in binding:
            name = _COUNTER_OF_FIELD[limit.needed]
            used = counter[f"base_{name}"] + counter[f"reserved_{name}"]
            capacity = bindparam(f"cap_{limit.key}", type_=BigInteger)
            if limit.on_load is not None:  # the cluster's own, as the collector measured it; NULL: never binds
                capacity = func.coalesce(counter[f"capacity_{name}"], literal_column(str(UNBOUNDED), BigInteger))
            guards.append(used + bindparam(f"add_{name}", type_=BigInteger) <= capacity)
    # The cluster's task queue as committed, read under a share lock on the cluster's row, so a concurrent
    # task-queue change either finished before (this reads the new queue) or waits for this placement's service
    # and then refuses (see Repository.patch_cluster). One statement, no extra round trip.
    task_queue = (
        select(clusters.c.task_queue)
        .where(clusters.c.id == counter.cluster_id)
        .with_for_update(read=True, key_share=True)
        .scalar_subquery()
    )
    return update(aliased).where(*guards).returning(task_queue).values(**_added(aliased, CLUSTER_COUNTERS))


def node_guard_capacities(limits: Limits) -> dict[str, int]:
    """The node guard's bound capacities: each node rule's default, for a node without a capacity of its own."""
    return {f"cap_{limit.key}": limit.node.default(limits) for limit in NODE_LIMITS if limit.node.default is not None}


def reserve_on_node() -> Any:
    """The guarded UPDATE of a run node's counters: it matches only while the node takes the placement by every
    per-node limit's rule in the catalogue (``NodeRule``: the engine's ram-fit and pods-per-node filters), read
    on the node the decision hints."""
    aliased = node_counters.alias("nc")
    fields = node_fields(aliased)
    required, checks = {}, []
    for limit in NODE_LIMITS:
        rule = limit.node
        capacity = fields[rule.capacity]
        if rule.default is not None:
            capacity = func.coalesce(capacity, bindparam(f"cap_{limit.key}", type_=BigInteger))
        needed = (
            literal_column("1", BigInteger)
            if rule.needed is None
            else bindparam(f"add_{_NODE_COUNTER_OF_FIELD[rule.needed]}", type_=BigInteger)
        )
        required[rule.requires] = fields[rule.requires].is_(True)
        checks.append(fields[rule.used] + needed <= capacity)
    guards = [_matching_node(aliased), *required.values(), *checks]
    return update(aliased).where(*guards).values(**_added(aliased, NODE_COUNTERS))


# The cluster counters by the names a load gives them (``ClusterLoad``'s fields).
LOAD_NAMES = {
    "volumes": "volumes",
    "services": "services",
    "customers": "customers",
    "pods": "pods",
    "objects": "etcd_objects",
    "disk": "disk_bytes",
}


def load_capacities(load: Any) -> dict[str, Any]:
    """The cluster row's capacity_* columns from a snapshot (``CAPACITY_COLUMNS``)."""
    return {f"capacity_{counter}": getattr(load, name) for counter, name in CAPACITY_COLUMNS.items()}


def capacities_of_row(row: Any) -> dict[str, Any]:
    """A cluster row's capacity_* columns as the load's fields."""
    return {name: row[f"capacity_{counter}"] for counter, name in CAPACITY_COLUMNS.items()}


def reserved_view(row: Mapping[str, Any]) -> dict[str, int]:
    """What was reserved on top of the snapshot, by the load's names (``GET /v1/clusters/{id}``)."""
    return {name: row[f"reserved_{counter}"] for counter, name in LOAD_NAMES.items()}
