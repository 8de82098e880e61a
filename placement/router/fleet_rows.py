"""The fleet as the engine sees it, read from the router's rows: the clusters with their counters and run nodes,
and the customers' volume counts. ``Repository`` reads through these in threads; the event loop's placements
(``placement.router.loop_booking``) read the same statements on their own connections.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Text, bindparam, cast, func, select
from sqlalchemy.dialects import postgresql

from placement.model import NO_SNAPSHOT, Cluster, ClusterLoad, RunNode
from placement.router import counters
from placement.router.cache import Fleet
from placement.router.db import cluster_counters, clusters, customer_volumes, node_counters


def aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def cluster_from_row(row: Any) -> Cluster:
    return Cluster(**{name: getattr(row, name) for name in CLUSTER_COLUMNS}, created_at=aware(row.created_at))


CLUSTER_COLUMNS = ("id", "name", "region", "task_queue", "registry_url", "api_endpoint", "storage_provider", "status")
COUNTS = select(customer_volumes.c.customer_id, customer_volumes.c.volumes)
# PostgreSQL: the ids as one JSON array (``customer_ids_json``). As a text array, psycopg quoted each id in Python
# (a regular expression and an escape per id): ~1 ms of the event loop's time for a refill's 1,000 known customers.
COUNTS_OF_ANY = COUNTS.where(
    customer_volumes.c.customer_id.in_(
        select(func.jsonb_array_elements_text(cast(bindparam("customer_ids", type_=Text), postgresql.JSONB)))
    )
)


def customer_ids_json(customer_ids: list[str]) -> str:
    """``COUNTS_OF_ANY``'s parameter."""
    return json.dumps(customer_ids)


# Every run node as the engine sees it (counters.NODE_FIELDS), in each cluster's snapshot order.
NODES = select(node_counters.c.cluster_id, *counters.NODE_FIELDS.values()).order_by(
    node_counters.c.cluster_id, node_counters.c.position
)


# The fleet's clusters with their counters, by id (``fleet_from_rows``).
FLEET = (
    select(clusters, cluster_counters)
    .join(cluster_counters, cluster_counters.c.cluster_id == clusters.c.id)
    .order_by(clusters.c.id)
)


def fleet_from_rows(rows: Iterable[Any], node_rows: Iterable[Any]) -> Fleet:
    """The fleet from ``FLEET``'s rows (attributes and ``_mapping`` by column name) and ``NODES``' rows."""
    nodes: dict[str, list[RunNode]] = {}
    for cluster_id, *fields in node_rows:
        node = dict(zip(counters.NODE_FIELDS, fields, strict=True))
        node["schedulable"] = bool(node["schedulable"])  # SQLite keeps booleans as integers
        nodes.setdefault(cluster_id, []).append(RunNode(**node))
    fleet = []
    for row in rows:
        columns = row._mapping
        load = ClusterLoad(
            run_nodes=tuple(nodes.get(row.id, ())),
            ctrl_node_type=row.ctrl_node_type or NO_SNAPSHOT,
            observed_at=aware(row.observed_at),
            **{
                name: columns[f"base_{counter}"] + columns[f"reserved_{counter}"]
                for counter, name in counters.LOAD_NAMES.items()
            },
            **counters.capacities_of_row(columns),
        )
        fleet.append((cluster_from_row(row), load))
    return fleet


class FleetRows:
    """The fleet from ``FLEET``'s and ``NODES``' rows as plain tuples (``names``: ``FLEET``'s column names), read
    again and again: a cluster whose rows are the same as at the previous read keeps the ``(Cluster, ClusterLoad)``
    made then (both immutable), and only the clusters whose rows changed are made again (``fleet_from_rows``).
    A refill reads the whole fleet twice a second; made afresh it cost ~0.65 ms of the event loop's time for 10
    clusters, while between two refills only the clusters placed on change. One caller at a time."""

    def __init__(self) -> None:
        self._made: dict[Any, tuple[tuple[Any, ...], tuple[Any, ...], tuple[Cluster, ClusterLoad]]] = {}

    def fleet(self, names: list[str], rows: Iterable[tuple[Any, ...]], node_rows: Iterable[tuple[Any, ...]]) -> Fleet:
        nodes: dict[Any, list[tuple[Any, ...]]] = {}
        for node in node_rows:
            nodes.setdefault(node[0], []).append(node)
        at = names.index("id")
        made, before = {}, self._made
        fleet = []
        for row in rows:
            cluster_id = row[at]
            its_nodes = tuple(nodes.get(cluster_id, ()))
            previous = before.get(cluster_id)
            if previous is not None and previous[0] == row and previous[1] == its_nodes:
                pair = previous[2]
            else:
                pair = fleet_from_rows([_MappedRow(dict(zip(names, row, strict=True)))], its_nodes)[0]
            made[cluster_id] = (row, its_nodes, pair)
            fleet.append(pair)
        self._made = made
        return fleet


class _MappedRow:
    """A row read by name, as ``fleet_from_rows`` reads SQLAlchemy's: ``row.id``, ``row._mapping["id"]``."""

    __slots__ = ("_mapping",)

    def __init__(self, mapping: dict[str, Any]):
        self._mapping = mapping

    def __getattr__(self, name: str) -> Any:
        try:
            return self._mapping[name]
        except KeyError:
            raise AttributeError(name) from None


def counts_from_rows(customer_ids: list[str], rows: Iterable[Any]) -> dict[str, int]:
    """``COUNTS_OF_ANY``'s rows as each asked customer's count (a customer without a row has none)."""
    counts = dict.fromkeys(customer_ids, 0)
    counts.update((customer_id, int(volumes)) for customer_id, volumes in rows)
    return counts
