"""What happens to a customer: signing up, each service placed through ``placement.select_cluster``, leaving.

The arrival, service-creation and churn processes (``sim.processes``) call these; each reads and changes
the world and appends to the log. A rejection is counted and, where it is a capacity signal, passed on to
the operator through ``world.signals``.
"""

from __future__ import annotations

from placement.catalogue import NODE_FIT_FILTERS
from placement.engine import Decision, select_cluster
from placement.footprint import Footprint
from placement.model import Cluster, ClusterLoad, PlacementRequest, VolumeRequest
from sim.log import Log
from sim.population import ACTIVE, CHURNED, LOST
from sim.world import World


def sign_up(world: World, log: Log, customer: int) -> None:
    """A new customer: its first service goes to an open cluster (an initial customer's to its own); if none
    takes it, the customer is lost and its region's demand is noted."""
    log.day_signups += 1
    draws = world.draws
    forced = int(draws.forced_cluster[customer])
    candidates = [world.fleet.pair(forced)] if forced >= 0 else world.fleet.open_pairs()
    world.population.state[customer] = ACTIVE
    if place(world, log, customer, int(draws.service_start[customer]), True, candidates) < 0:
        world.population.state[customer] = LOST
        world.signals.note_demand(world.config.regions[draws.region[customer]])


def place(
    world: World,
    log: Log,
    customer: int,
    service: int,
    new_customer: bool,
    candidates: list[tuple[Cluster, ClusterLoad]],
) -> int:
    """Place one service on one of ``candidates``; return the cluster number, or -1 when it was rejected."""
    draws, fleet, people, config = world.draws, world.fleet, world.population, world.config
    size = int(draws.service_volume[service])
    mix = config.scenario.customers
    request = PlacementRequest(
        customer_id=f"c{customer}",
        ram_bytes=int(draws.service_ram[service]),
        region=config.regions[draws.region[customer]],
        volumes=(VolumeRequest(size),) if size else (),
        customer_volume_count=int(people.customer_volumes[customer]),
        plan=mix.plan,
        pods=mix.pods_per_service,
        new_customer=new_customer,
    )
    # No ``now``: the simulator's load snapshots are always current, so the snapshot-age rule is moot.
    decision = select_cluster(request, candidates, config.policy)
    log.attempted += 1
    log.day_attempted += 1
    home = int(people.home[customer])
    if decision.cluster_id is None:
        _reject(world, log, request, decision, home, new_customer)
        return -1
    number = fleet.index[decision.cluster_id]
    node = fleet.node_by_name[decision.node_hint]
    footprint = Footprint.of(request, config.policy.limits, fleet.clusters[number].provider)
    fleet.add_footprint(number, node, footprint)
    fleet.counters["placements"][number] += 1
    if footprint.volumes:
        people.customer_volumes[customer] += footprint.volumes
    if new_customer:
        people.home[customer] = number
    people.service_node[service] = node
    people.service_need[service] = footprint.ram_bytes
    people.service_objects[service] = footprint.etcd_objects
    people.service_volumes[service] = footprint.volume_bytes
    people.service_seq[service] = log.attempted
    _note_rejections(world, request, decision)
    return number


def _note_rejections(world: World, request: PlacementRequest, decision: Decision) -> None:
    """Tell the operator which cluster rejected the service for which limit.

    A service that no empty run node of a cluster could hold is not a capacity signal there: no node
    order makes it fit, and feeding its rejections to the operator would grow the cluster one node at a
    time up to the cap. It stays a counted rejection (``placement_rejected``) and nothing more.
    """
    fleet, limits = world.fleet, world.config.policy.limits
    for result in decision.results:
        rejection = result.rejection
        if rejection is None:
            continue
        number = fleet.index[result.cluster_id]
        if rejection.filter in NODE_FIT_FILTERS:
            info = fleet.clusters[number]
            if Footprint.of(request, limits, info.provider).ram_bytes > info.node_alloc:
                continue
        world.signals.note_rejection(number, rejection)


def _reject(
    world: World, log: Log, request: PlacementRequest, decision: Decision, home: int, new_customer: bool
) -> None:
    log.rejected += 1
    log.day_rejected += 1
    fleet = world.fleet
    scope = fleet.clusters[home].cluster.id if home >= 0 and not new_customer else "fleet"
    if home >= 0 and not new_customer:
        fleet.counters["rejections"][home] += 1
    log.rejections[(scope, decision.reason)] += 1
    _note_rejections(world, request, decision)


def leave(world: World, customer: int, at: float) -> None:
    """A customer churns: every placed service of it gives its node and cluster back its footprint (the first
    one its customer's namespace too)."""
    fleet, people, draws = world.fleet, world.population, world.draws
    pods = world.config.scenario.customers.pods_per_service
    number = int(people.home[customer])
    provider = fleet.clusters[number].provider
    begin, end = int(draws.service_start[customer]), int(draws.service_start[customer + 1])
    for service in range(begin, end):
        node = int(people.service_node[service])
        if node < 0:
            continue
        size = int(people.service_volumes[service])
        footprint = Footprint(
            provider,
            ram_bytes=int(people.service_need[service]),
            pods=pods,
            services=1,
            namespaces=int(service == begin),
            volumes=int(size > 0),
            volume_bytes=size,
            etcd_objects=int(people.service_objects[service]),
        )
        fleet.add_footprint(number, node, footprint, sign=-1)
        people.service_node[service] = -1
    fleet.touch(number)
    people.state[customer] = CHURNED
    people.departed[customer] = at
