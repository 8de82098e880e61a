"""What happens to a customer: signing up, each service placed through ``placement.select_cluster``, leaving.

The arrival, service-creation and churn processes (``sim.processes``) call these; each reads and changes
the world and appends to the log. A rejection is counted and, where it is a capacity signal, passed on to
the operator through ``world.signals``.
"""

from __future__ import annotations

from placement.catalogue import NODE_FIT_FILTERS
from placement.engine import Decision, select_cluster
from placement.footprint import Footprint
from placement.model import Cluster, ClusterLoad, PlacementRequest, VolumeRequest, placement_request
from sim.log import Log
from sim.population import ACTIVE, CHURNED, LOST
from sim.world import World

_new_tuple = tuple.__new__
_FOOTPRINT_ORDER = (
    "provider", "ram_bytes", "pods", "services", "namespaces", "volumes", "volume_bytes", "etcd_objects", "disk_bytes",
)  # fmt: skip
assert Footprint._fields == _FOOTPRINT_ORDER, "placed_footprint makes a Footprint in this order"


def sign_up(world: World, log: Log, customer: int) -> None:
    """A new customer: its first service goes to an open cluster (an initial customer's to its own); if none
    takes it, the customer is lost and its region's demand is noted."""
    log.day_signups += 1
    draws = world.draw_cells
    forced = draws.forced_cluster[customer]
    candidates = [world.fleet.pair(forced)] if forced >= 0 else world.fleet.open_pairs()
    state = world.population.cells.state
    state[customer] = ACTIVE
    if place(world, log, customer, draws.service_start[customer], True, candidates) < 0:
        state[customer] = LOST
        world.signals.note_demand(world.config.regions[draws.region[customer]])


def place(
    world: World,
    log: Log,
    customer: int,
    service: int,
    new_customer: bool,
    candidates: list[tuple[Cluster, ClusterLoad]],
    *,
    namespace: bool | None = None,
    first_attempt: bool = True,
    last_attempt: bool = True,
) -> int:
    """Place one service on one of ``candidates``; return the cluster number, or -1 when it was rejected.

    ``namespace``: whether the service brings its customer's namespace (default: when ``new_customer``); a
    service tried on several candidate sets counts one attempt (``first_attempt``) and, if none takes it, one
    rejection (``last_attempt``)."""
    # The arrays' elements are read and stored through memoryviews (``sim.population.Cells``).
    draws, fleet, people, config = world.draw_cells, world.fleet, world.population.cells, world.config
    size = draws.service_volume[service]
    mix = config.scenario.customers
    request = placement_request(
        f"c{customer}",  # customer_id
        draws.service_ram[service],  # ram_bytes
        config.regions[draws.region[customer]],  # region
        (VolumeRequest(size),) if size else (),  # volumes
        people.customer_volumes[customer],  # customer_volume_count
        mix.plan,
        mix.pods_per_service,
        new_customer if namespace is None else namespace,  # new_customer
    )
    # No ``now``: the simulator's load snapshots are always current, so the snapshot-age rule is moot.
    decision = select_cluster(request, candidates, config.policy)
    if first_attempt:
        log.attempted += 1
        log.day_attempted += 1
    home = people.home[customer]
    if decision.cluster_id is None:
        if last_attempt:
            _reject(world, log, request, decision, home, new_customer)
        else:
            _note_rejections(world, request, decision)
        return -1
    number = fleet.index[decision.cluster_id]
    node = fleet.node_by_name[decision.node_hint]
    footprint = decision.footprint(len(fleet.cluster_runnodes[number]))
    fleet.add_footprint(number, node, footprint)
    placements, placed_to_date = fleet.placement_cells
    placements[number] = placements[number] + 1
    placed_to_date[number] = placed_to_date[number] + 1
    if footprint.volumes:
        volumes = people.customer_volumes
        volumes[customer] = volumes[customer] + footprint.volumes
    if new_customer:
        people.home[customer] = number
    people.service_node[service] = node
    people.service_cluster[service] = number
    fleet.node_services[node].add(service)
    people.service_need[service] = footprint.ram_bytes
    people.service_objects[service] = footprint.etcd_objects
    people.service_volumes[service] = footprint.volume_bytes
    people.service_disk[service] = footprint.disk_bytes
    people.service_seq[service] = log.attempted
    if len(candidates) > 1:  # the one candidate took it: nothing was rejected (the home cluster, say)
        _note_rejections(world, request, decision)
    return number


def _note_rejections(world: World, request: PlacementRequest, decision: Decision) -> None:
    """Tell the operator which cluster rejected the service for which limit.

    A service that no empty run node of a cluster could hold is not a capacity signal there: no node
    order makes it fit, and feeding its rejections to the operator would grow the cluster one node at a
    time up to the cap. It stays a counted rejection (``placement_rejected``) and nothing more.
    """
    fleet, limits = world.fleet, world.config.policy.limits
    for cluster_id, rejection in decision.rejections:
        number = fleet.index[cluster_id]
        if rejection.filter in NODE_FIT_FILTERS:
            info = fleet.clusters[number]
            run_nodes = len(fleet.cluster_runnodes[number])
            if Footprint.of(request, limits, info.provider, run_nodes).ram_bytes > info.node_alloc:
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


def place_later(world: World, log: Log, customer: int, service: int) -> int:
    """An existing customer's next service goes to its home cluster. Under the spill policy, when home cannot
    take it (full, or closed and out of room), it goes to another open cluster of the same region instead of
    being rejected: the customer becomes a cross-cluster customer (its namespace there comes with the first
    such service)."""
    fleet = world.fleet
    home = world.population.cells.home[customer]
    spill = world.config.scenario.operator.spill.enabled
    number = place(world, log, customer, service, False, [fleet.pair(home)], last_attempt=not spill)
    if number >= 0 or not spill:
        return number
    region = fleet.clusters[home].region
    others = [i for i, info in enumerate(fleet.clusters) if info.open and info.region == region and i != home]
    if not others:  # nowhere to spill: the home cluster's rejection stands
        return place(world, log, customer, service, False, [fleet.pair(home)], first_attempt=False)
    number, namespace = place_on_others(world, log, customer, service, others, world.away.get(customer, set()))
    if number >= 0:
        world.away.setdefault(customer, set()).add(number)
        world.spilled[service] = int(namespace)
        log.spill(fleet.clusters[home].cluster.id, fleet.clusters[number].cluster.id)
    return number


def place_on_others(
    world: World, log: Log, customer: int, service: int, numbers: list[int], present: set[int], final: bool = True
) -> tuple[int, bool]:
    """Place a service of an existing customer on one of the clusters ``numbers``: first those where it already
    has a namespace, then the others (where this service brings one). Returns the cluster number (-1: none took
    it; a rejection is counted only when ``final``) and whether it brought a namespace."""
    tries = [(False, [i for i in numbers if i in present]), (True, [i for i in numbers if i not in present])]
    tries = [(namespace, chosen) for namespace, chosen in tries if chosen]
    for k, (namespace, chosen) in enumerate(tries):
        number = place(
            world,
            log,
            customer,
            service,
            False,
            [world.fleet.pair(i) for i in chosen],
            namespace=namespace,
            first_attempt=False,
            last_attempt=final and k == len(tries) - 1,
        )
        if number >= 0:
            return number, namespace
    return -1, False


def placed_footprint(world: World, customer: int, service: int) -> Footprint:
    """What a placed service holds on its cluster and node, as it was booked (its first service on a cluster
    holds the customer's namespace there)."""
    people = world.population.cells
    node = people.service_node[service]
    size = people.service_volumes[service]
    # The tuple made directly, field by field in ``Footprint``'s order (its ``__new__`` is Python): a departure
    # takes back each of its customer's services.
    return _new_tuple(
        Footprint,
        (
            world.fleet.clusters[world.fleet.node_cells.node_cluster[node]].provider,
            people.service_need[service],  # ram_bytes
            world.config.scenario.customers.pods_per_service,  # pods
            1,  # services
            world.spilled.get(service, int(service == world.draw_cells.service_start[customer])),  # namespaces
            int(size > 0),  # volumes
            size,  # volume_bytes
            people.service_objects[service],  # etcd_objects
            people.service_disk[service],  # disk_bytes
        ),
    )


def leave(world: World, customer: int, at: float) -> None:
    """A customer churns: every placed service of it gives its node and cluster back its footprint (its first
    service on each cluster that cluster's namespace too)."""
    fleet, people, starts = world.fleet, world.population.cells, world.draw_cells.service_start
    node_cluster = fleet.node_cells.node_cluster
    for service in range(starts[customer], starts[customer + 1]):
        node = people.service_node[service]
        if node < 0:
            continue
        number = node_cluster[node]
        fleet.add_footprint(number, node, placed_footprint(world, customer, service), sign=-1)
        world.spilled.pop(service, None)
        fleet.node_services[node].discard(service)
        people.service_node[service] = -1  # (``add_footprint`` touched the cluster)
    world.away.pop(customer, None)
    people.state[customer] = CHURNED
    people.departed[customer] = at
