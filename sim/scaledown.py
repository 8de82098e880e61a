"""Scale-down and consolidation: the operator removes run nodes its clusters no longer need, and shuts down
closed clusters their customers have left.

Cluster Autoscaler's rule, in days (``sim.scenario.ScaleDownPolicy`` has the sources and defaults): a cluster
has surplus run nodes when fewer would still keep it under the operator's node-order levels for the demand it
projects over the node lead time, above its storage provider's minimum nodes and replica count and its
``n_plus`` headroom. Once that has held for ``unneeded_days`` (and no node arrived within
``delay_after_add_days``), its emptiest run nodes whose requested RAM is under ``utilization_threshold`` of their
allocatable (Cluster Autoscaler's utilisation: requests over allocatable; a pod count is no utilisation, max-pods
is checked when the pods move) are drained, one at a time:
their services move to the cluster's other run nodes, each where it fits by RAM and max-pods (the engine's own
node choice: most free RAM under ``least_allocated``, the fullest that fits under ``most_allocated``). A node
whose services do not all fit stays. Nothing moves between clusters here: that is the forced-migration policy.

A closed cluster with no customer left is decommissioned. Every removal and decommission is an event with
its reason; the cost follows from the daily samples (a removed node is no longer paid for).
"""

from __future__ import annotations

from heapq import heapify, heappop, heapreplace

import numpy as np

from sim.log import Log
from sim.triggers import Triggers
from sim.world import World


class ScaleDown:
    def __init__(self, world: World, log: Log, triggers: Triggers):
        self.world = world
        self.fleet = world.fleet
        self.log = log
        self.triggers = triggers
        self.policy = world.config.scenario.operator
        self.unneeded_since: dict[int, float] = {}  # cluster -> first day of its current surplus
        self._floors = np.zeros(0)  # ``_floor``, per cluster number

    def keep_nodes(self, needed: np.ndarray) -> np.ndarray:
        """Run nodes each cluster keeps: its order levels for the projected demand (``needed``, the run nodes they
        take, ``Triggers.needed_nodes``), plus the n_plus headroom, and never fewer than its storage provider's
        minimum nodes and replica count."""
        return np.maximum(needed + self.policy.n_plus.nodes, self._floor())

    def _floor(self) -> np.ndarray:
        """Each cluster's storage provider's minimum nodes and replica count, whichever is more (a cluster's
        provider never changes: kept as the fleet grows)."""
        clusters = self.fleet.clusters
        if len(self._floors) != len(clusters):
            storage = self.world.config.limits.storage
            self._floors = np.array(
                [max(storage[info.provider].min_nodes, storage[info.provider].replicas) for info in clusters],
                dtype=float,
            )
        return self._floors

    def tick(self, day: float, needed: np.ndarray, trend_known: np.ndarray) -> None:
        """``needed``: the run nodes each cluster's demand over the look-ahead takes (``keep_nodes``)."""
        self._decommission_empty(day)
        scale_down = self.policy.scale_down
        # With node adding off, capacity is frozen ("what if"): nothing is removed either.
        if not (scale_down.enabled and self.policy.auto_add_nodes):
            return
        fleet = self.fleet
        surplus = (fleet.view("nodes") - self.keep_nodes(needed)).tolist()
        delay = scale_down.delay_after_add_days
        # Settled, with a known trend, nothing on order and a node to spare; read from lists in one pass (on a fleet
        # of a few clusters, a numpy call per condition cost more than the comparisons).
        candidates = [
            number
            for number, (info, known, on_order, spare) in enumerate(
                zip(fleet.clusters, trend_known.tolist(), fleet.view("pending_nodes").tolist(), surplus, strict=True)
            )
            if known and on_order == 0 and spare >= 1 and info.active and day - info.last_node_added >= delay
        ]
        for number in set(self.unneeded_since).difference(candidates):
            del self.unneeded_since[number]
        for number in candidates:
            since = self.unneeded_since.setdefault(number, day)
            if day - since >= scale_down.unneeded_days:
                self._remove_nodes(day, number, int(surplus[number]))

    def _remove_nodes(self, day: float, number: int, count: int) -> None:
        """Drain and remove up to ``count`` of the cluster's emptiest run nodes under the threshold."""
        fleet = self.fleet
        info = fleet.clusters[number]
        # A cluster kept full (``ScaleDownPolicy.fill_when_falling``) drains any node whose services fit on the
        # others, as Karpenter's consolidation does: under the threshold its nodes stopped at about the order level.
        full = number < len(self.triggers.kept_full) and self.triggers.kept_full[number]
        threshold = np.inf if full else self.policy.scale_down.utilization_threshold
        nodes_before = int(fleet.counters["nodes"][number])
        removed = 0
        for _ in range(count):
            members = np.array(fleet.cluster_nodes[number], dtype=np.int64)
            usage = self._usage(members)
            # The emptiest by RAM, then by pods: the fewest services to move.
            emptiest = int(np.lexsort((fleet.node_pods[members], usage))[0])
            if usage[emptiest] >= threshold:
                break
            node = int(members[emptiest])
            if not self._drain(node, members[members != node]):
                break
            fleet.remove_node(node)
            removed += 1
        if removed:
            self.log.event(
                day,
                "node_removed",
                info.cluster.id,
                f"{removed} run node(s) removed, {nodes_before} -> {nodes_before - removed}: {self._why(number, full)}",
            )

    def _usage(self, members: np.ndarray) -> np.ndarray:
        """Each run node's utilisation as Cluster Autoscaler measures it: requested RAM over allocatable (the one
        resource request modelled). Its pods count only in whether they fit elsewhere (``_drain``), as CA's
        scheduling simulation checks max-pods: a pods-bound node at 85 % of its max-pods whose pods fit on the
        others is as unneeded as an empty one, when the cluster has that node to spare (``keep_nodes``)."""
        fleet = self.fleet
        alloc = fleet.clusters[int(fleet.node_cluster[members[0]])].node_alloc
        return fleet.node_requested[members] / alloc

    def _drain(self, node: int, others: np.ndarray) -> bool:
        """Move every service of ``node`` onto ``others`` if all fit (by RAM and max-pods); else move none."""
        fleet, people = self.fleet, self.world.population
        members = list(fleet.node_services[node])
        if not members:
            return True
        if len(others) == 0:
            return False
        # The largest first (then by number): (-need, service) pairs, the needs read at once.
        order = sorted(zip([-need for need in people.service_need[members].tolist()], members, strict=True))
        alloc = fleet.clusters[int(fleet.node_cluster[node])].node_alloc
        # As lists: a drain places its services one at a time on a handful of nodes (numpy's call per service cost
        # more than the arithmetic).
        free_ram = (alloc - fleet.node_requested[others]).tolist()
        free_pods = (fleet.node_max_pods[others] - fleet.node_pods[others]).tolist()
        pods = self.world.config.scenario.customers.pods_per_service
        most_free = self.world.config.policy.ram_strategy != "most_allocated"
        # The nodes with room for a service's pods, in order (most drains are of pods-bound nodes onto others as full
        # of pods: the RAM alone named a node that could not take them, and every service looked at every node).
        room = [j for j, free in enumerate(free_pods) if free >= pods]
        # Most free RAM: of the nodes with room for the pods, the one with the most (the first of a tie), where it fits
        # (none has the RAM if it has not). A heap of (-free RAM, node): only the node a service goes to changes.
        heap = [(-free_ram[j], j) for j in room] if most_free else []
        heapify(heap)
        nodes = others.tolist()
        plan = []
        for minus_need, service in order:
            need = -minus_need
            if most_free:
                if not heap or -heap[0][0] < need:
                    return False
                target = heap[0][1]
            else:  # the fullest that fits (the first of a tie)
                fits = [j for j in room if free_ram[j] >= need]
                if not fits:
                    return False
                target = min(fits, key=free_ram.__getitem__)
            free_ram[target] -= need
            free_pods[target] -= pods
            if free_pods[target] < pods:
                if most_free:
                    heappop(heap)
                else:
                    room.remove(target)
            elif most_free:
                heapreplace(heap, (-free_ram[target], target))
            plan.append((service, nodes[target], need))
        # Every service of the node moves: its set is emptied at once (the node is removed next, its set never read
        # again); each target's gets its services in the plan's order. What moves onto each node moves at once (the
        # same figures in the end, one fleet update a node).
        services = fleet.node_services
        services[node].clear()
        onto: dict[int, list[int]] = {}
        for service, target, need in plan:
            services[target].add(service)
            moved = onto.setdefault(target, [0, 0])
            moved[0] += need
            moved[1] += pods
        people.service_node[[service for service, _, _ in plan]] = [target for _, target, _ in plan]
        # The drained node gives up everything at once, then each target takes its share (``Fleet.move_service`` a
        # target at a time: the same figures in the end, the source's run node made anew once rather than per target).
        fleet.change_node(node, -sum(ram for ram, _ in onto.values()), -pods * len(plan))
        for target, (ram, pod_count) in onto.items():
            fleet.change_node(target, ram, pod_count)
        return True

    def _why(self, number: int, full: bool) -> str:
        """The removal's reason with the cluster's levels after it. A cluster kept full is drained past the order
        levels (to up to 100 % of RAM and max-pods): its reason says so, not that it stays under them."""
        fleet, policy = self.fleet, self.policy
        c = fleet.counters
        info = fleet.clusters[number]
        levels = (
            f"{c['ram_requested'][number] / 2**30:.0f} GiB of {c['ram_allocatable'][number] / 2**30:.0f} GiB "
            f"allocatable, {c['pods'][number]} of {fleet.pods_capacity[number]} pods"
        )
        n_plus = f", n+{policy.n_plus.nodes} kept" if policy.n_plus.nodes else ""
        if full:
            why = (
                "closed to new customers; room kept for its own customers' recent placements"
                if not info.open
                else "open, but no placement over the trend window"
            )
            return (
                f"{levels}: kept full as its demand falls ({why}; fill_when_falling): its services fit on fewer "
                f"nodes at up to 100 % of RAM and max-pods{n_plus}"
            )
        return (
            f"{levels}: fewer nodes stay under the order levels ({policy.node_order_at_ram_fraction:.0%} RAM, "
            f"{policy.node_order_at_pods_fraction:.0%} pods) for {policy.scale_down.unneeded_days:g} days{n_plus}"
            + ("" if info.open else " (closed cluster shrinking as customers leave)")
        )

    def _decommission_empty(self, day: float) -> None:
        if not self.policy.scale_down.decommission_empty:
            return
        fleet = self.fleet
        customers, services = fleet.view("customers"), fleet.view("services")
        pending = fleet.view("pending_nodes")
        for number, info in enumerate(fleet.clusters):
            if (
                info.active
                and not info.open
                and customers[number] == 0
                and services[number] == 0
                and pending[number] == 0
            ):
                nodes = int(fleet.counters["nodes"][number])
                fleet.decommission(number)
                self.log.event(
                    day,
                    "cluster_decommissioned",
                    info.cluster.id,
                    f"closed and empty: its last customer left or moved; {nodes} run node(s) and the control plane "
                    "shut down",
                )


def failure_headroom(fleet) -> np.ndarray:
    """Per cluster, how many of its run nodes it could lose and still hold every pod (RAM and max-pods at 100 %,
    run nodes of one type): the n_plus the fleet actually has."""
    nodes = fleet.view("nodes").astype(float)
    alloc = np.array([info.node_alloc for info in fleet.clusters], dtype=float)
    max_pods = np.array([info.max_pods for info in fleet.clusters], dtype=float)
    busy = np.maximum(fleet.view("ram_requested") / alloc, fleet.view("pods") / max_pods)
    return np.floor(nodes - busy + 1e-9).astype(np.int64)
