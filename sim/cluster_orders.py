"""The operator's new clusters, as ``Sharding`` orders them: the successor's run nodes, its storage provider,
and the order itself (its id, its pending nodes, its event)."""

from __future__ import annotations

import math

import numpy as np

from sim.config import run_node_cap
from sim.scenario import FixedStorage, SwitchStorage
from sim.trends import MIN_TREND_DAYS


class ClusterOrders:
    """``Sharding``'s new clusters; it holds the operator (``op``), its fleet and policy, and whether a volume shard
    was seen (``volume_shard_seen``)."""

    def _successor_nodes(self, region: str, provider: str, fill_days: float) -> int:
        """Enough run nodes for the region's recent demand until the cluster's own node orders can arrive (its
        trend is measured a week after delivery, then a node lead time, and one more for the trend's error:
        ``Operator.successor_horizon_days``), or for as long as the region's whole growth takes to fill the cluster
        to its close level (``fill_days``), if sooner: what it takes beyond that is the next cluster's.

        A new, empty cluster scores best on every headroom and takes (nearly) all of its region's new
        customers at once; starting at the provider's minimum would leave it rejecting placements until its
        first node order arrives.
        """
        history = self.op.history
        if len(history) <= MIN_TREND_DAYS:
            return 0
        members = [n for n, info in enumerate(self.fleet.clusters) if info.region == region and info.open]
        span = len(history) - 1
        horizon = min(self.op.successor_horizon_days(), fill_days)
        growth = {}
        for name in ("ram_requested", "pods"):
            past, now = history[0][name], history[-1][name]
            total = sum(max(now[n] - (past[n] if n < len(past) else 0.0), 0.0) for n in members)
            growth[name] = np.array([total / span * horizon])
        limits = self.op.limits
        alloc = np.array([float(limits.run_node_allocatable_bytes(provider, self.fleet.run_node_ram))])
        max_pods = np.array([float(self.op.world.config.run_node_max_pods)])  # the run node type's own
        return int(self.op.triggers.needed_nodes(growth, alloc, max_pods)[0]) + self.policy.n_plus.nodes

    def storage_for_new_cluster(self, day: float) -> str:
        rule = self.policy.new_cluster_storage
        if isinstance(rule, FixedStorage):
            return rule.provider
        assert isinstance(rule, SwitchStorage)
        switched = (
            (rule.on_date is not None and self.op.world.config.date_of(day) >= rule.on_date)
            or (rule.after_clusters is not None and self.fleet.n_clusters >= rule.after_clusters)
            or (rule.on_volume_shard and self.volume_shard_seen)
        )
        return rule.after if switched else rule.before

    def _new_cluster(
        self,
        day: float,
        region: str,
        limit: str,
        customers: int,
        why: str,
        trigger: int | None = None,
        fill_days: float = math.inf,
    ) -> int:
        """Order a cluster for ``region``; ``limit`` on cluster ``trigger`` (None: the region's demand) is why."""
        fleet, shard, op = self.fleet, self.policy.shard, self.op
        provider = self.storage_for_new_cluster(day)
        nodes = max(shard.new_cluster_run_nodes or 0, op.limits.storage[provider].min_nodes)
        if trigger is not None and self.policy.auto_add_nodes:
            # The cap holds at creation too: demand beyond it is the next successor's, not one giant cluster's.
            # (The scenario check keeps the provider's minimum and new_cluster_run_nodes within the cap.)
            cap = run_node_cap(self.policy, op.limits, shard.new_cluster_ctrl_nodes)
            nodes = max(nodes, min(self._successor_nodes(region, provider, fill_days), cap))
        taken = set(fleet.index)
        k = 1 + sum(1 for info in fleet.clusters if info.region == region)
        while f"{region}-{k}" in taken:
            k += 1
        cluster_id = f"{region}-{k}"
        number = fleet.add_cluster(
            cluster_id, region, provider, fleet.ladder[0], shard.new_cluster_ctrl_nodes, day, False
        )
        fleet.counters["pending_nodes"][number] += nodes
        op.order(day, day + shard.lead_days, "cluster", number, nodes, limit=limit, trigger=trigger)
        op.log.event(
            day, "cluster_ordered", cluster_id, f"{provider}, {nodes} run nodes, due in {shard.lead_days:g} days: {why}"
        )
        if op.log.first_shard is None:
            first = {"day": day, "customers": customers, "limit": limit, "why": why, "cluster_id": cluster_id}
            op.log.first_shard = first
        return number
