"""The decision table: for every limit, when it first binds, at how many customers, and what the operator did.

A limit *binds* the first time a cluster reaches the level at which it forces an action (the operator's
threshold for it) or the engine rejects a placement on a cluster because of it, whichever comes first.
The daily check is vectorised over clusters; rejections are attributed through the engine's filter names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from placement.catalogue import LIMITS, Rejection

VOLUMES_PREFIX = "volumes:"

# (key, human name); the order is the table's order. ``volumes:<provider>`` rows follow the limits profile's
# storage providers (``limit_rows``).
LIMITS_BEFORE_VOLUMES: tuple[tuple[str, str], ...] = (
    ("ram_per_run_node", "RAM per run node"),
    ("pods_per_node", "pods per run node"),
    ("disk", "raw disk of the replicas (run nodes' disks)"),
    ("control_plane_objects", "control-plane etcd objects (current rung)"),
    ("control_plane_ladder_top", "control-plane ladder exhausted"),
)
LIMITS_AFTER_VOLUMES: tuple[tuple[str, str], ...] = (
    ("max_run_nodes_per_cluster", "operator's max run nodes per cluster"),
    ("shard_nodes", "shard trigger: run nodes per cluster"),
    ("shard_pods", "shard trigger: pods per cluster"),
    ("shard_etcd_objects", "shard trigger: etcd objects per cluster"),
    # The catalogue's Kubernetes limits on a whole cluster, in its order.
    *(
        (limit.key, f"k8s {'threshold' if limit.soft else 'limit'}: {limit.label} per cluster")
        for limit in LIMITS
        if limit.filter == "k8s-thresholds"
    ),
)
SHARD_LIMITS = (
    "control_plane_ladder_top",
    "max_run_nodes_per_cluster",
    "shard_nodes",
    "shard_pods",
    "shard_etcd_objects",
)


def volume_limit(provider: str) -> str:
    """The decision-table key of a storage provider's volumes per cluster."""
    return VOLUMES_PREFIX + provider


def limit_rows(providers: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """Every row of the decision table for a profile with these storage providers, in the table's order."""
    volumes = tuple((volume_limit(p), f"{p} volumes per cluster") for p in providers)
    return LIMITS_BEFORE_VOLUMES + volumes + LIMITS_AFTER_VOLUMES


REGION_DEMAND = "region_demand"  # not a limit: a region's new customers had no open cluster (a shard's reason)
# Not a limit either: a live start's cluster the source lists as provisioning, ordered before the run began.
ON_ORDER_AT_START = "on_order_at_start"
NOT_LIMITS = frozenset({REGION_DEMAND, ON_ORDER_AT_START})


def limit_name(limit: str) -> str:
    if limit == REGION_DEMAND:
        return "a region's demand (its customers had no open cluster nearby)"
    if limit == ON_ORDER_AT_START:
        return "on order at the start (the source lists it as provisioning)"
    if limit.startswith(VOLUMES_PREFIX):
        return f"{limit[len(VOLUMES_PREFIX) :]} volumes per cluster"
    return dict(LIMITS_BEFORE_VOLUMES + LIMITS_AFTER_VOLUMES)[limit]


def is_shard_limit(limit: str) -> bool:
    """Limits the operator answers by closing the cluster to new customers (a new cluster takes them)."""
    return limit in SHARD_LIMITS or limit.startswith(("k8s_", VOLUMES_PREFIX))


def limit_of_rejection(rejection: Rejection, provider: str) -> str | None:
    """The decision-table row a filter rejection belongs to (None for status, region and snapshot age)."""
    if rejection.limit == "volumes":
        return volume_limit(provider)
    known = {key for key, _ in LIMITS_BEFORE_VOLUMES + LIMITS_AFTER_VOLUMES}
    return rejection.limit if rejection.limit in known else None


@dataclass(slots=True)
class Binding:
    limit: str
    day: float
    customers: int
    cluster_id: str
    action: str
    why: str


class Crossings:
    """Which clusters have reached each limit before, so a ``limit_crossed`` event is logged once per cluster."""

    def __init__(self) -> None:
        self.limits: tuple[str, ...] = ()
        self.seen = np.zeros((0, 0), dtype=bool)  # a row per limit of ``limits``, a column per cluster number

    def newly_crossed(self, limits: tuple[str, ...], reached: np.ndarray) -> list[tuple[str, int]]:
        """(limit, cluster number) for each cluster that reaches a limit for the first time today, limit by limit
        in the order of ``limits`` (a row of ``reached`` each), cluster numbers ascending."""
        n = reached.shape[1]
        if limits != self.limits or self.seen.shape[1] < n:
            before = {limit: row for limit, row in zip(self.limits, self.seen, strict=True)}
            seen = np.zeros((len(limits), max(n, self.seen.shape[1])), dtype=bool)
            for i, limit in enumerate(limits):
                if limit in before:
                    seen[i, : len(before[limit])] = before[limit]
            self.limits, self.seen = limits, seen
        seen = self.seen[:, :n]
        fresh = reached > seen  # (reached and not seen before, in one call)
        if not np.count_nonzero(fresh):
            return []  # (most days: what was reached is all seen)
        seen |= fresh
        rows, numbers = np.nonzero(fresh)
        return [(limits[i], number) for i, number in zip(rows.tolist(), numbers.tolist(), strict=True)]


def decision_table(
    bindings: dict[str, Binding], day_to_date: Callable[[float], str | None], providers: Iterable[str]
) -> list[dict]:
    """One row per limit (the profile's ``providers`` give the volume rows), the bound ones first by the day
    they first bound."""
    rows = []
    for key, name in limit_rows(providers):
        binding = bindings.get(key)
        if binding is None:
            rows.append(
                {
                    "limit": key,
                    "name": name,
                    "first_bind_day": None,
                    "first_bind_date": None,
                    "customers_at_bind": None,
                    "cluster_id": None,
                    "action": None,
                    "why": "did not bind within the horizon",
                }
            )
            continue
        rows.append(
            {
                "limit": key,
                "name": name,
                "first_bind_day": round(binding.day, 3),
                "first_bind_date": day_to_date(binding.day),
                "customers_at_bind": binding.customers,
                "cluster_id": binding.cluster_id,
                "action": binding.action,
                "why": binding.why,
            }
        )
    rows.sort(key=lambda r: (r["first_bind_day"] is None, r["first_bind_day"] or 0.0, r["limit"]))
    return rows
