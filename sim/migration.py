"""Forced migration (``operator.migration.enabled``, off by default): the last customers of a nearly empty closed
cluster move to the open clusters of its region, so that the cluster can be decommissioned.

The design document moves no customer, hence off by default. When on, each day the operator takes every closed
cluster with fewer than ``below_customers`` customers (and at least one) and re-places each of its services
through the engine, as a fresh placement on the region's open clusters: a customer's first moved service picks
the cluster, the rest follow it there (or, if that cluster cannot take one, any open cluster of the region).
A service is taken off the old cluster only once its new place is booked, so nothing is lost when no cluster
can take it; it simply stays. Each moved customer costs ``cost_eur_per_customer``, paid as a one-off fee on
the day. The emptied cluster is then decommissioned by the scale-down pass.

Consolidation (``pays_back_months``, 12 by default; off where scale-down or node adding is): a closed cluster of
any size is merged into another cluster of its region and storage provider when what it costs a month (its run
nodes and control plane, less the run nodes the target needs for its customers) pays back the migration fee
within that many months. The target first gets those run nodes (the operator's node order, its lead time: the
source's demand counts in the target's demand until the move); on the day they are in, every service moves and
the source is decommissioned. The target must stay under the operator's run-node cap and the close level of
every shard limit with the source's customers on it.
"""

from __future__ import annotations

import numpy as np

from sim.decisions import is_shard_limit
from sim.log import Log
from sim.placing import place_on_others, placed_footprint
from sim.population import ACTIVE
from sim.triggers import Ratios, Triggers
from sim.world import World

# Shard limits a merge must keep under the close level, summed over source and target: the cluster-wide counts
# (the run-node ones follow from the target's needed nodes, which must stay within the cap).
NODE_SHARD_LIMITS = ("max_run_nodes_per_cluster", "shard_nodes", "k8s_nodes", "k8s_pod_cidr_nodes")
GIVE_UP_DAYS = 3  # days a planned merge may find no room for every service before the source drains organically


class Migration:
    """The operator's forced-migration policy: nearly empty closed clusters, and consolidation that pays back."""

    def __init__(self, world: World, log: Log, triggers: Triggers):
        self.world, self.fleet, self.log, self.triggers = world, world.fleet, log, triggers
        self.policy = world.config.scenario.operator
        self.plans: dict[int, int] = {}  # source cluster -> the cluster it merges into
        self.failed: dict[int, int] = {}  # source -> days its move left services behind
        self.dropped: set[tuple[int, int]] = set()  # (source, target) merges given up: not planned again
        self.more_nodes: set[int] = set()  # targets where a move found no room: one more run node each
        self._shard: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())  # the ratios' limits, the shard ones of them

    def reserved(self, ahead: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``ahead`` (requested RAM, pods and disk per cluster) with each planned source's customers on its target."""
        if not self.plans:
            return ahead
        out = {name: level.copy() for name, level in ahead.items()}
        for source, target in self.plans.items():
            for name, level in self._customer_demand(source, ahead).items():
                out[name][target] += level
        return out

    def _customer_demand(self, source: int, ahead: dict[str, np.ndarray]) -> dict[str, float]:
        """What the source's customers take: requested RAM, pods less its run nodes' system pods, and disk."""
        info = self.fleet.clusters[source]
        system = float(self.fleet.counters["nodes"][source] * info.node_footprint.pods)
        demand = {"ram_requested": float(ahead["ram_requested"][source]), "pods": float(ahead["pods"][source]) - system}
        if "disk_bytes" in ahead:
            demand["disk_bytes"] = float(ahead["disk_bytes"][source])
        return demand

    def tick(self, day: float, ratios: Ratios, ahead: dict[str, np.ndarray], trend_known: np.ndarray) -> bool:
        """Move what is due and plan merges into clusters with a known trend; returns whether any service moved."""
        migration = self.policy.migration
        moves = migration.enabled or bool(self.plans)  # (planning moves nobody: most days, nothing can move)
        placements = int(self.fleet.view("placements").sum()) if moves else 0
        if migration.enabled:
            self._nearly_empty(day)
        self._merge(day)
        # Consolidation moves nobody where capacity is frozen or never shrinks (the theory tests switch those off).
        if migration.pays_back_months is not None and self.policy.auto_add_nodes and self.policy.scale_down.enabled:
            self._plan(day, ratios, ahead, trend_known)
        return moves and int(self.fleet.view("placements").sum()) != placements  # each moved service is placed again

    def _nearly_empty(self, day: float) -> None:
        migration, fleet = self.policy.migration, self.fleet
        customers = fleet.view("customers")
        for number, info in enumerate(fleet.clusters):
            if info.open or not info.active or not 0 < customers[number] < migration.below_customers:
                continue
            if number in self.plans:
                continue
            targets = [i for i, other in enumerate(fleet.clusters) if other.open and other.region == info.region]
            if targets:
                why = f"nearly empty and closed, under {migration.below_customers} customers"
                self._move(day, number, targets, why)

    def _move(self, day: float, number: int, targets: list[int], why: str) -> int:
        moved = _move_cluster(self.world, self.log, day, number, targets)
        if moved:
            info = self.fleet.clusters[number]
            eur = moved * self.policy.migration.cost_eur_per_customer
            self.log.add_setup_eur(number, eur)
            self.log.event(
                day,
                "customers_migrated",
                info.cluster.id,
                f"{moved} customer(s) moved to other clusters of {info.region} ({why}), EUR {eur:,.0f} migration cost",
            )
        return moved

    def _merge(self, day: float) -> None:
        """Planned merges whose target has its run nodes: every service moves."""
        fleet = self.fleet
        for source, target in sorted(self.plans.items()):
            if not fleet.clusters[target].active or fleet.clusters[source].decommissioned:
                del self.plans[source]
                continue
            if fleet.counters["pending_nodes"][target] > 0:
                continue  # the target's run nodes are on their way
            why = f"merged into {fleet.clusters[target].cluster.id}: cheaper within the payback"
            self._move(day, source, [target], why)
            if fleet.counters["customers"][source] == 0:
                del self.plans[source]
                self.failed.pop(source, None)
                continue
            # What found no room there is a large service on nodes filled by the rest (the plan counts RAM as
            # fluid): the target gets one more run node, as a rejection would order it, and the move is tried again.
            self.failed[source] = self.failed.get(source, 0) + 1
            if self.failed[source] < GIVE_UP_DAYS:
                self.more_nodes.add(target)
            else:
                del self.plans[source]
                self.dropped.add((source, target))
                self.log.event(
                    day,
                    "consolidation_dropped",
                    fleet.clusters[source].cluster.id,
                    f"{int(fleet.counters['customers'][source])} customer(s) found no room on "
                    f"{fleet.clusters[target].cluster.id}; the cluster drains as its customers leave",
                )

    def _plan(self, day: float, ratios: Ratios, ahead: dict[str, np.ndarray], trend_known: np.ndarray) -> None:
        """Plan merges that pay back: smallest closed source first, into its region's and provider's largest with
        a known trend (a cluster younger than the trend window holds run nodes for its region's growth, not room
        for a merge), that stays under the level at which it would want a successor (prepare if open, close if
        closed) with the source's customers."""
        fleet, costs = self.fleet, self.world.config.costs
        migration = self.policy.migration
        customers = fleet.view("customers")
        busy = set(self.plans) | set(self.plans.values())
        sources = [
            k
            for k, info in enumerate(fleet.clusters[: len(customers)])
            if info.active and not info.open and customers[k] > 0 and k not in busy
        ]
        if not sources:  # (most days of a fleet with no closed cluster)
            return
        cap = self.triggers.node_cap()
        shard_policy = self.policy.shard
        close = shard_policy.close_fraction
        names = ratios.rows.names
        if self._shard[0] != names:  # (the same limits every day of a run)
            self._shard = names, tuple(name for name in names if is_shard_limit(name) and name not in NODE_SHARD_LIMITS)
        shard = self._shard[1]
        # A source at or over a close level already fits in no other cluster: most closed clusters of a growing
        # fleet, skipped before anything else is worked out.
        level = ratios.pick(shard).max(axis=0) if shard else np.zeros(len(cap))
        sources = [k for k in sources if level[k] < close]
        if not sources:
            return
        groups: dict[tuple[str, str], list[int]] = {}
        for k, other in enumerate(fleet.clusters[: len(cap)]):
            if other.active:
                groups.setdefault((other.region, other.provider), []).append(k)
        for source in sorted(sources, key=lambda k: (customers[k], k)):
            info = fleet.clusters[source]
            targets = [
                k
                for k in groups[(info.region, info.provider)]
                if k != source and k not in busy and trend_known[k] and (source, k) not in self.dropped
            ]
            if not targets:
                continue
            target = max(targets, key=lambda k: (customers[k], -k))
            if any(ratios[name][source] + ratios[name][target] >= close for name in shard):
                continue
            merged = {name: level.copy() for name, level in ahead.items()}
            for name, level in self._customer_demand(source, ahead).items():
                merged[name][target] += level
            before = float(self.triggers.needed_nodes(ahead)[target])
            after = float(self.triggers.needed_nodes(merged)[target])
            growing = fleet.clusters[target].open and not self.triggers.kept_full[target]
            level = shard_policy.prepare_fraction if growing else close
            if after > cap[target] or self.triggers.needed_nodes(merged, kept_full=False)[target] >= level * (
                cap[target] + 0.5
            ):
                continue
            extra = max(after - max(before, float(fleet.counters["nodes"][target])), 0.0)
            rung, ctrl = int(fleet.counters["ctrl_rung"][source]), int(fleet.counters["ctrl_nodes"][source])
            saving = (
                float(fleet.counters["nodes"][source]) * costs.run_node_eur_month
                + ctrl * float(costs.ctrl_eur_month[rung])
                - extra * costs.run_node_eur_month
            )
            fee = float(customers[source]) * migration.cost_eur_per_customer
            if saving <= 0 or fee > saving * migration.pays_back_months:
                continue
            self.plans[source] = target
            busy |= {source, target}
            self.log.event(
                day,
                "consolidation_planned",
                info.cluster.id,
                f"{int(customers[source])} customer(s) to move into {fleet.clusters[target].cluster.id}: saves EUR "
                f"{saving:,.0f}/month after {extra:.0f} more run node(s) there, EUR {fee:,.0f} migration fee "
                f"(pays back in {fee / saving:.1f} months, within {migration.pays_back_months:g})",
            )


def _move_cluster(world: World, log: Log, day: float, number: int, targets: list[int]) -> int:
    """Move every service on cluster ``number`` on ``day``; returns how many customers moved all of theirs."""
    fleet, people = world.fleet, world.population
    by_customer: dict[int, list[int]] = {}
    for node in list(fleet.cluster_nodes[number]):
        for service in fleet.node_services[node]:
            customer = _owner(world, service)
            by_customer.setdefault(customer, []).append(service)
    moved = 0
    for customer in sorted(by_customer):
        if people.state[customer] != ACTIVE:
            continue
        services = sorted(by_customer[customer])
        if all(_move_service(world, log, day, customer, service, number, targets) for service in services):
            moved += 1
        _rehome(world, customer)
    return moved


def _owner(world: World, service: int) -> int:
    return int(np.searchsorted(world.draws.service_start, service, side="right") - 1)


def _move_service(
    world: World, log: Log, day: float, customer: int, service: int, source: int, targets: list[int]
) -> bool:
    fleet, people = world.fleet, world.population
    old_node = int(people.service_node[service])
    old = placed_footprint(world, customer, service)
    present = _clusters_of(world, customer) - {source}
    number, namespace = place_on_others(world, log, customer, service, targets, present, final=False)
    if number < 0:
        return False  # not booked anywhere: the service stays where it was (place() changed nothing)
    fleet.add_footprint(source, old_node, old, sign=-1)
    fleet.node_services[old_node].discard(service)
    people.customer_volumes[customer] -= old.volumes  # place() counted the volume again
    world.spilled[service] = int(namespace)
    world.moves.append((day, service, source))
    return True


def _clusters_of(world: World, customer: int) -> set[int]:
    fleet, people, draws = world.fleet, world.population, world.draws
    begin, end = int(draws.service_start[customer]), int(draws.service_start[customer + 1])
    nodes = people.service_node[begin:end]
    return {int(fleet.node_cluster[node]) for node in nodes.tolist() if node >= 0}


def _rehome(world: World, customer: int) -> None:
    """The customer's home is where its first live service runs; the other clusters it uses are ``away``."""
    fleet, people, draws = world.fleet, world.population, world.draws
    begin, end = int(draws.service_start[customer]), int(draws.service_start[customer + 1])
    live = [int(node) for node in people.service_node[begin:end].tolist() if node >= 0]
    if not live:
        return
    clusters = [int(fleet.node_cluster[node]) for node in live]
    home = int(people.home[customer])
    if home not in clusters:
        home = clusters[0]
        people.home[customer] = home
    away = set(clusters) - {home}
    if away:
        world.away[customer] = away
    else:
        world.away.pop(customer, None)
