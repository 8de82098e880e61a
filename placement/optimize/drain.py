"""Drain plan: the cheapest set of service moves that empties a draining cluster (or brings it under a target)
without breaking a limit on the clusters that receive them.

A move costs 1, plus the volume's size in GiB (rounded up): copying data is what makes a move slow and risky.
The receiving side keeps every limit the engine's filters check: free RAM and pods per run node, and every
cluster limit of the catalogue a placement grows (the storage provider's volume limit, the control plane's tight
object count, the Kubernetes thresholds). What a service adds to a node and a cluster is its placement footprint
under the receiving cluster's storage provider, the same one the engine, the router and the simulator add.

Where it packs (services into the receiving nodes' free RAM), the model uses what the packing model uses: a
best-fit-decreasing hint and the L2 bound's argument as cuts (services over half a node's free RAM never share it).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from ortools.sat.python import cp_model
from pydantic import BaseModel, ConfigDict, Field, model_validator

from placement.catalogue import BY_KEY
from placement.footprint import Footprint
from placement.limits import ControlPlaneType, Limits
from placement.model import ClusterLoad, PlacementRequest, RunNode, StorageProvider, VolumeRequest
from placement.optimize.shapes import CLUSTER_LIMITS, cluster_needs
from placement.optimize.solve import Infeasible, SolverOutcome, SolveSettings, mib_ceil, mib_floor, solve
from placement.quantity import Bytes, PositiveBytes
from placement.units import human_bytes
from placement.yamlio import load_yaml_model

GIB = 1024**3


class _Edge(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DrainServiceIn(_Edge):
    name: str
    ram: PositiveBytes
    volume: PositiveBytes | None = None
    node: str
    customer: str | None = None
    pods: int = Field(default=1, ge=1)


class DrainNodeIn(_Edge):
    name: str
    allocatable: PositiveBytes
    max_pods: int | None = Field(default=None, ge=1)
    schedulable: bool = True


class DrainClusterIn(_Edge):
    id: str
    storage_provider: StorageProvider = "longhorn"
    status: str = "active"
    ctrl_node_type: str
    nodes: list[DrainNodeIn] = Field(min_length=1)
    services: list[DrainServiceIn] = []
    extra_etcd_objects: int = Field(default=0, ge=0, description="objects not counted from the services")

    @model_validator(mode="after")
    def _nodes_known(self) -> DrainClusterIn:
        names = {n.name for n in self.nodes}
        for service in self.services:
            if service.node not in names:
                raise ValueError(f"service {service.name!r} is on unknown node {service.node!r}")
        return self


class DrainTarget(_Edge):
    """What may stay on the drained cluster; all unset means empty it."""

    services: int | None = Field(default=None, ge=0)
    ram: Bytes | None = None
    volumes: int | None = Field(default=None, ge=0)


class DrainFleet(_Edge):
    drain: str
    target: DrainTarget = DrainTarget()
    clusters: list[DrainClusterIn] = Field(min_length=1)

    @model_validator(mode="after")
    def _drain_known(self) -> DrainFleet:
        ids = [c.id for c in self.clusters]
        if len(set(ids)) != len(ids):
            raise ValueError("cluster ids must be unique")
        if self.drain not in ids:
            raise ValueError(f"drain: unknown cluster {self.drain!r}; known: {ids}")
        return self

    @classmethod
    def load(cls, path: str | Path) -> DrainFleet:
        return load_yaml_model(Path(path), cls)


@dataclass(frozen=True, slots=True)
class Move:
    order: int
    service: str
    from_cluster: str
    from_node: str
    to_cluster: str
    to_node: str
    ram_bytes: int
    volume_bytes: int | None
    weight: int
    why: str


@dataclass(frozen=True, slots=True)
class DrainPlan:
    cluster: str
    outcome: SolverOutcome
    moves: tuple[Move, ...]
    stays: tuple[str, ...]
    total_weight: int
    remaining_ram_bytes: int
    remaining_volumes: int

    def to_dict(self) -> dict:
        return {
            "cluster": self.cluster,
            "outcome": self.outcome.to_dict(),
            "total_weight": self.total_weight,
            "moves": [asdict(m) for m in self.moves],
            "stays": list(self.stays),
            "remaining_ram_bytes": self.remaining_ram_bytes,
            "remaining_volumes": self.remaining_volumes,
        }


def move_weight(service: DrainServiceIn) -> int:
    return 1 + (0 if service.volume is None else math.ceil(service.volume / GIB))


@dataclass(slots=True)
class _Room:
    cluster: str
    node: str
    ram: int  # MiB
    pods: int


def plan_drain(fleet: DrainFleet, limits: Limits, settings: SolveSettings | None = None) -> DrainPlan:
    settings = settings or SolveSettings()
    drained = next(c for c in fleet.clusters if c.id == fleet.drain)
    receivers = [c for c in fleet.clusters if c.id != fleet.drain and c.status == "active"]
    services = drained.services
    for cluster in fleet.clusters:
        if cluster.storage_provider not in limits.storage:
            raise Infeasible(
                "storage_provider",
                f"cluster {cluster.id}: unknown {cluster.storage_provider!r} in profile {limits.profile!r}; "
                f"known: {sorted(limits.storage)}",
            )
    providers = {c.id: c.storage_provider for c in fleet.clusters}
    run_nodes = {c.id: len(c.nodes) for c in fleet.clusters}  # a small cluster keeps fewer replicas per volume
    ctrl: dict[str, ControlPlaneType] = {}
    for cluster in fleet.clusters:
        try:
            ctrl[cluster.id] = limits.control_plane(cluster.ctrl_node_type)
        except KeyError as exc:
            raise Infeasible("ctrl_node_type", f"cluster {cluster.id}: {exc.args[0]}") from None

    def footprint(service: DrainServiceIn, cluster: str, new_customer: bool) -> Footprint:
        volumes = () if service.volume is None else (VolumeRequest(service.volume),)
        request = PlacementRequest(
            service.customer or service.name, service.ram, volumes=volumes, pods=service.pods, new_customer=new_customer
        )
        return Footprint.of(request, limits, providers[cluster], run_nodes[cluster])

    # Each receiving cluster's load, its services added by the footprint as the router and the simulator add them.
    rooms: list[_Room] = []
    cluster_room: dict[str, tuple[int, ...]] = {}
    customers_on: dict[str, set[str]] = {}
    for cluster in receivers:
        nodes = tuple(RunNode(n.name, n.allocatable, 0, 0, n.max_pods, n.schedulable) for n in cluster.nodes)
        load = ClusterLoad(nodes, cluster.ctrl_node_type, etcd_objects=cluster.extra_etcd_objects)
        customers_on[cluster.id] = set()
        for service in cluster.services:
            customer = service.customer or service.name
            load = footprint(service, cluster.id, customer not in customers_on[cluster.id]).add_to(load, service.node)
            customers_on[cluster.id].add(customer)
        for node in load.run_nodes:
            if node.schedulable:
                pods = (node.max_pods or limits.max_pods_per_node) - node.pods
                rooms.append(_Room(cluster.id, node.name, mib_floor(node.free_ram_bytes), pods))
        provider, control_plane = providers[cluster.id], ctrl[cluster.id]
        cluster_room[cluster.id] = tuple(
            limit.capacity(limits, provider, control_plane) - limit.level(load, limits) for limit in CLUSTER_LIMITS
        )

    @cache  # asked for every (service, receiving node) pair
    def move_footprint(service: DrainServiceIn, cluster: str) -> Footprint:
        # Conservative: a service of a customer new to the cluster brings the namespace objects with it.
        return footprint(service, cluster, (service.customer or service.name) not in customers_on[cluster])

    @cache
    def need_ram(service: DrainServiceIn, cluster: str) -> int:
        return mib_ceil(footprint(service, cluster, False).ram_bytes)

    volume_room = {cluster: room[CLUSTER_LIMITS.index(BY_KEY["volumes"])] for cluster, room in cluster_room.items()}

    target = fleet.target
    empty = target.services is None and target.ram is None and target.volumes is None
    must_services = len(services) - (
        0 if empty else (target.services if target.services is not None else len(services))
    )
    _precheck(services, rooms, volume_room, target, empty, must_services, need_ram)

    model = cp_model.CpModel()
    stay = [model.new_bool_var(f"stay{i}") for i in range(len(services))]
    moves: dict[tuple[int, int], cp_model.IntVar] = {}
    for i, service in enumerate(services):
        options = []
        for r, room in enumerate(rooms):
            needs = cluster_needs(move_footprint(service, room.cluster))
            if (
                need_ram(service, room.cluster) <= room.ram
                and service.pods <= room.pods
                and all(need <= free for need, free in zip(needs, cluster_room[room.cluster], strict=True))
            ):
                var = model.new_bool_var(f"m{i}_{r}")
                moves[i, r] = var
                options.append(var)
        model.add_exactly_one([stay[i], *options])
    by_room: dict[int, list[int]] = {}
    for i, r in moves:
        by_room.setdefault(r, []).append(i)
    for r, items in by_room.items():
        room = rooms[r]
        model.add(sum(need_ram(services[i], room.cluster) * moves[i, r] for i in items) <= room.ram)
        model.add(sum(services[i].pods * moves[i, r] for i in items) <= room.pods)
        # The L2 argument per node: two services over half its free RAM never share it (a clique cut the
        # knapsack row above implies only for integers, not in the LP relaxation CP-SAT bounds with).
        large = [moves[i, r] for i in items if 2 * need_ram(services[i], room.cluster) > room.ram]
        if len(large) > 1:
            model.add_at_most_one(large)
    for cluster, room in cluster_room.items():
        keys = [(i, r) for (i, r) in moves if rooms[r].cluster == cluster]
        needs = {i: cluster_needs(move_footprint(services[i], cluster)) for i, _ in keys}
        for column, free in enumerate(room):
            model.add(sum(needs[i][column] * moves[i, r] for i, r in keys) <= free)
    if empty:
        for var in stay:
            model.add(var == 0)
    if target.services is not None:
        model.add(sum(stay) <= target.services)
    if target.ram is not None:
        model.add(sum(mib_ceil(s.ram) * stay[i] for i, s in enumerate(services)) <= mib_floor(target.ram))
    if target.volumes is not None:
        model.add(sum(stay[i] for i, s in enumerate(services) if s.volume is not None) <= target.volumes)
    weights = [move_weight(s) for s in services]
    model.minimize(sum(w * (1 - stay[i]) for i, w in enumerate(weights)))
    _hint(model, services, rooms, moves, stay, need_ram)
    solver, outcome = solve(model, settings)
    if outcome.objective is None:
        explanation = (
            "no plan exists: the receiving clusters' per-node RAM, pods, volume or control-plane "
            "limits cannot take the services that must move"
            if outcome.status == "INFEASIBLE"
            else f"no plan found within {settings.time_limit_seconds:g}s"
        )
        raise Infeasible(outcome.status.lower(), explanation)
    planned = []
    for (i, r), var in moves.items():
        if solver.value(var):
            planned.append((i, r))
    # Volume moves first (they take longest), then by RAM, so the slow copies start early.
    planned.sort(key=lambda ir: (-(services[ir[0]].volume or 0), -services[ir[0]].ram, services[ir[0]].name))
    plan = []
    free_after = {r: rooms[r].ram for r in range(len(rooms))}
    for order, (i, r) in enumerate(planned, start=1):
        service, room = services[i], rooms[r]
        free_after[r] -= need_ram(service, room.cluster)
        volume = f"{human_bytes(service.volume)} volume + " if service.volume else ""
        why = (
            f"{volume}{human_bytes(service.ram)} RAM off {drained.id}; {room.node} on {room.cluster} keeps "
            f"{human_bytes(free_after[r] * 1024 * 1024)} free"
        )
        plan.append(
            Move(
                order,
                service.name,
                drained.id,
                service.node,
                room.cluster,
                room.node,
                service.ram,
                service.volume,
                weights[i],
                why,
            )
        )
    stays = tuple(s.name for i, s in enumerate(services) if solver.value(stay[i]))
    kept = [s for s in services if s.name in set(stays)]
    return DrainPlan(
        drained.id,
        outcome,
        tuple(plan),
        stays,
        sum(m.weight for m in plan),
        sum(s.ram for s in kept),
        sum(s.volume is not None for s in kept),
    )


def _precheck(services, rooms, volume_room, target, empty, must_services, need_ram) -> None:
    if not rooms and services and (empty or must_services > 0):
        raise Infeasible("clusters", "no active cluster with a schedulable run node can receive services")
    if empty:
        for service in services:
            if not any(need_ram(service, r.cluster) <= r.ram and service.pods <= r.pods for r in rooms):
                raise Infeasible(
                    "ram",
                    f"service {service.name!r} ({human_bytes(service.ram)}) fits on no "
                    "receiving run node's free RAM and pods",
                )
        volumes = sum(s.volume is not None for s in services)
        if volumes > sum(volume_room.values()):
            raise Infeasible(
                "volume-limit",
                f"{volumes} volumes must move but the receiving clusters have room for {sum(volume_room.values())}",
            )
        ram = sum(need_ram(s, rooms[0].cluster) for s in services)
        if ram > sum(max(r.ram, 0) for r in rooms):
            raise Infeasible(
                "ram", f"{ram} MiB must move but the receiving nodes have {sum(max(r.ram, 0) for r in rooms)} MiB free"
            )
    if target.volumes is not None:
        volumes = sum(s.volume is not None for s in services)
        if volumes - target.volumes > sum(volume_room.values()):
            raise Infeasible(
                "target.volumes",
                f"{volumes - target.volumes} volumes must move but the receiving "
                f"clusters have room for {sum(volume_room.values())}",
            )


def _hint(model, services, rooms, moves, stay, need_ram) -> None:
    """Best-fit decreasing of every service onto the receiving nodes (each onto the node it leaves with the least
    RAM, as ``placement.optimize.heuristics.bfd_nodes`` does on identical nodes, which keeps the large holes for the
    large services); whatever does not fit stays."""
    free = [(r.ram, r.pods) for r in rooms]
    for i in sorted(range(len(services)), key=lambda k: -services[k].ram):
        chosen, least = None, None
        for r in range(len(rooms)):
            need = need_ram(services[i], rooms[r].cluster)
            fits = (i, r) in moves and need <= free[r][0] and services[i].pods <= free[r][1]
            if fits and (least is None or free[r][0] - need < least):
                chosen, least = r, free[r][0] - need
        if chosen is not None:
            need = need_ram(services[i], rooms[chosen].cluster)
            free[chosen] = (free[chosen][0] - need, free[chosen][1] - services[i].pods)
        model.add_hint(stay[i], chosen is None)
        for r in range(len(rooms)):
            if (i, r) in moves:
                model.add_hint(moves[i, r], r == chosen)
