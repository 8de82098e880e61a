"""The SimPy model: one process per driver, every new service placed by ``placement.select_cluster``.

Processes: sign-ups (arrivals), later service creation, churn, the operator and the daily sampler (which
also runs the scenario's packing checks on their days, ``sim.packing``). None of them is per customer:
customers and services are rows of the arrays drawn in ``sim.sampling``, and the fleet's state lives in
``sim.world.World``. Times are days since the scenario's start date.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import simpy

from placement.cycle import Cycle
from placement.engine import select_cluster
from placement.filters import FILTER_NAMES
from placement.limits import Limits, LimitsProfile, load_profile
from placement.model import PlacementRequest, VolumeRequest
from placement.policy import Policy, PolicyConfig, load_policy
from placement.yamlio import ConfigError
from sim.costs import CostModel
from sim.operator import Operator
from sim.sampling import draw
from sim.scenario import OperatorPolicy, Scenario
from sim.world import World, start_datetime

PENDING, ACTIVE, LOST, CHURNED = 0, 1, 2, 3
END_EPSILON_DAYS = 1e-6  # run just past the last midnight so its operator look and sample happen
# Filters that reject a service for want of room on one run node (an empty node passes both when the
# service's RAM need is within the node's allocatable RAM).
NODE_FIT_FILTERS = ("ram-fit", "pods-per-node")

# Columns the sampler records per cluster and day, in this order.
SAMPLED = (
    "customers",
    "services",
    "volumes",
    "pods",
    "etcd_objects",
    "volume_bytes",
    "ram_requested",
    "ram_allocatable",
    "nodes",
    "pending_nodes",
    "ctrl_rung",
    "ctrl_nodes",
    "placements",
    "rejections",
)


def new_cluster_problems(op: OperatorPolicy, limits: Limits) -> list[str]:
    """New clusters must start within the cap: the provider's minimum and ``new_cluster_run_nodes`` fit under it."""
    if not op.auto_shard:
        return []  # no new clusters
    cap = op.max_run_nodes_per_cluster
    problems = []
    for provider in dict.fromkeys(op.new_cluster_storage.providers):
        if limits.storage[provider].min_nodes > cap:
            problems.append(
                f"operator.max_run_nodes_per_cluster: {cap} is below {provider}'s minimum of "
                f"{limits.storage[provider].min_nodes} run nodes, and new clusters may use {provider}"
            )
    if op.shard.new_cluster_run_nodes is not None and op.shard.new_cluster_run_nodes > cap:
        problems.append(
            f"operator.shard.new_cluster_run_nodes: {op.shard.new_cluster_run_nodes} exceed "
            f"operator.max_run_nodes_per_cluster ({cap})"
        )
    return problems


def resolve_limits(scenario: Scenario, profile: str | None = None) -> LimitsProfile:
    """The scenario's limits profile with its customer-mix figures and ``limits_overrides`` applied."""
    base = load_profile(profile or scenario.limits_profile)
    overrides: dict[str, float] = {}
    mix = scenario.customers
    if mix.etcd_objects_per_customer is not None:
        overrides["etcd.objects_per_customer"] = mix.etcd_objects_per_customer
    if mix.etcd_objects_per_service is not None:
        overrides["etcd.objects_per_service"] = mix.etcd_objects_per_service
    overrides.update(scenario.limits_overrides)
    if not overrides:
        return base
    try:
        return base.with_values(overrides)
    except KeyError as exc:
        raise ConfigError(scenario.name, [f"limits_overrides: {exc.args[0]}"]) from None
    except ValueError as exc:
        raise ConfigError(scenario.name, [f"limits_overrides: {exc}"]) from None


def resolve_policy(scenario: Scenario, profile: LimitsProfile) -> Policy:
    if scenario.policy is None:
        config = PolicyConfig()
    elif isinstance(scenario.policy, PolicyConfig):
        config = scenario.policy
    else:
        # An unresolved path: a scenario built in code rather than by load_scenario.
        return load_policy(scenario.policy, profile)
    return config.compile(profile)


class Simulation:
    """One replication: validates the scenario against its limits profile, draws, runs SimPy, keeps the log.

    ``sim.run`` wraps it and turns the result into a ``SimResult``; the operator reads and changes ``world``.
    """

    def __init__(
        self,
        scenario: Scenario,
        seed: int | np.random.SeedSequence = 0,
        *,
        profile: str | None = None,
        progress: Callable[[float], None] | None = None,
    ):
        self.scenario = scenario
        self.seed_sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        self.profile = resolve_limits(scenario, profile)
        self.policy = resolve_policy(scenario, self.profile)
        self.limits = self.policy.limits
        self.progress = progress
        op = scenario.operator
        ladder = tuple(op.control_plane.ladder or self.limits.control_plane_ladder)
        problems = [
            f"operator.control_plane.ladder: unknown type {n!r}"
            for n in ladder
            if n not in self.limits.control_plane_types
        ]
        run_node_type = op.run_node_type or self.limits.costs.default_run_node_type
        if run_node_type not in self.limits.costs.run_node_types:
            problems.append(
                f"operator.run_node_type: unknown {run_node_type!r}; known {sorted(self.limits.costs.run_node_types)}"
            )
        for i, spec in enumerate(scenario.fleet.clusters):
            if spec.ctrl_node_type is not None and spec.ctrl_node_type not in ladder:
                problems.append(
                    f"fleet.clusters[{i}].ctrl_node_type: {spec.ctrl_node_type!r} is not on the ladder {list(ladder)}"
                )
            if spec.ctrl_rung is not None and not -len(ladder) <= spec.ctrl_rung < len(ladder):
                problems.append(f"fleet.clusters[{i}].ctrl_rung: {spec.ctrl_rung} is off the ladder {list(ladder)}")
            if spec.run_nodes < self.limits.storage[spec.storage_provider].min_nodes:
                problems.append(
                    f"fleet.clusters[{i}].run_nodes: {spec.storage_provider} needs at least "
                    f"{self.limits.storage[spec.storage_provider].min_nodes} run nodes, got {spec.run_nodes}"
                )
            if spec.run_nodes > op.max_run_nodes_per_cluster:
                problems.append(
                    f"fleet.clusters[{i}].run_nodes: {spec.run_nodes} run nodes exceed "
                    f"operator.max_run_nodes_per_cluster ({op.max_run_nodes_per_cluster})"
                )
        problems += new_cluster_problems(op, self.limits)
        checks = scenario.packing_checks
        if checks is not None and checks.ctrl_node_type not in (None, *self.limits.control_plane_types):
            problems.append(
                f"packing_checks.ctrl_node_type: unknown {checks.ctrl_node_type!r}; "
                f"known {sorted(self.limits.control_plane_types)}"
            )
        if problems:
            raise ConfigError(scenario.name, problems)
        self.start = scenario.start_date
        # The run ends at the last daily sample, so the last row of the time series is the end state.
        self.horizon = float(math.floor(scenario.days))
        # A loaded scenario has its check days within the horizon; a copy with a shorter horizon (a quick
        # run, a test) runs the checks that still fall within it.
        self.check_days = (
            set() if checks is None else {d for d in checks.days_from(self.start) if 0 <= d <= self.horizon}
        )
        self.packing_rows: list[dict] = []
        self.packing_wall_seconds: list[float] = []
        ram = self.limits.costs.run_node_types[run_node_type].ram_bytes
        self.world = World(self.limits, ladder, start_datetime(self.start), ram)
        for spec in scenario.fleet.clusters:
            number = self.world.add_cluster(
                spec.id,
                spec.region,
                spec.storage_provider,
                spec.ctrl_type_on(ladder),
                spec.ctrl_nodes,
                0.0,
                True,
            )
            self.world.add_nodes(number, spec.run_nodes)
        self.costs = CostModel.build(self.limits, run_node_type, ladder, scenario.costs.backup_used_fraction)
        self.operator = Operator(self, op)
        self.region_names = list(scenario.regions)
        self.events: list[tuple[float, str, str, str]] = []
        self.rejection_log: Counter = Counter()
        self.attempted = 0
        self.rejected = 0
        self.day_signups = 0
        self.day_attempted = 0
        self.day_rejected = 0
        self.day_setup = np.zeros(8)
        self.samples: list[np.ndarray] = []
        self.fleet_samples: list[tuple] = []

    # --- helpers used by the operator -----------------------------------------------------------------------
    def event(self, day: float, kind: str, cluster_id: str, detail: str) -> None:
        self.events.append((day, kind, cluster_id, detail))

    def date_of(self, day: float) -> date:
        return self.start + timedelta(days=int(day))

    def setup_fees(self, number: int, nodes: int) -> None:
        if len(self.day_setup) <= number:
            grown = np.zeros(max(2 * len(self.day_setup), number + 1))
            grown[: len(self.day_setup)] = self.day_setup
            self.day_setup = grown
        self.day_setup[number] += nodes * self.costs.run_node_setup_eur

    def customers_outside_region(self) -> Counter:
        active = self.state == ACTIVE
        home = self.home[active]
        regions = self.draws.region[active]
        cluster_region = np.array(
            [self.region_names.index(i.region) if i.region in self.region_names else -1 for i in self.world.clusters]
        )
        away = cluster_region[home] != regions
        return Counter(self.region_names[r] for r in regions[away].tolist())

    # --- the run --------------------------------------------------------------------------------------------
    def run(self) -> Simulation:
        rng = np.random.default_rng(self.seed_sequence)
        self.draws = draws = draw(self.scenario, rng, self.horizon)
        n, services = draws.customers, int(draws.service_start[-1])
        self.state = np.zeros(n, dtype=np.int8)
        self.home = np.full(n, -1, dtype=np.int64)
        self.customer_volumes = np.zeros(n, dtype=np.int64)
        self.departed = np.full(n, np.nan)
        self.service_node = np.full(services, -1, dtype=np.int64)
        self.service_need = np.zeros(services, dtype=np.int64)
        self.service_objects = np.zeros(services, dtype=np.int64)
        self.service_volumes = np.zeros(services, dtype=np.int64)
        self.service_seq = np.full(services, -1, dtype=np.int64)  # placement order, for the packing checks

        env = self.env = simpy.Environment()
        # Creation order is the order at equal times: at time 0 the initial fleet's customers are placed
        # before the operator's first look, and the sampler records after the operator acted.
        env.process(self._arrivals(env))
        env.process(self._service_creation(env))
        env.process(self._churn(env))
        env.process(self._operator(env))
        env.process(self._sampler(env))
        env.run(until=self.horizon + END_EPSILON_DAYS)
        return self

    def _operator(self, env: simpy.Environment):
        while True:
            self.operator.tick(env.now)
            yield env.timeout(1.0)

    def _arrivals(self, env: simpy.Environment):
        signup = self.draws.signup.tolist()
        for customer, at in enumerate(signup):
            if at > env.now:
                yield env.timeout(at - env.now)
            self._sign_up(customer)

    def _service_creation(self, env: simpy.Environment):
        draws = self.draws
        later = np.ones(len(draws.service_created), dtype=bool)
        later[draws.service_start[:-1]] = False
        later &= draws.service_created < self.horizon
        order = np.flatnonzero(later)
        order = order[np.argsort(draws.service_created[order], kind="stable")]
        owner = np.repeat(np.arange(draws.customers), np.diff(draws.service_start))
        times = draws.service_created[order].tolist()
        for service, customer, at in zip(order.tolist(), owner[order].tolist(), times, strict=True):
            if at > env.now:
                yield env.timeout(at - env.now)
            if self.state[customer] == ACTIVE:
                self._place(customer, service, False, [self.world.pair(int(self.home[customer]))])

    def _churn(self, env: simpy.Environment):
        draws = self.draws
        leave = draws.signup + draws.lifetime
        order = np.flatnonzero(leave < self.horizon)
        order = order[np.argsort(leave[order], kind="stable")]
        for customer, at in zip(order.tolist(), leave[order].tolist(), strict=True):
            if at > env.now:
                yield env.timeout(at - env.now)
            if self.state[customer] == ACTIVE:
                self._leave(customer, at)

    def _sampler(self, env: simpy.Environment):
        days = int(np.floor(self.horizon))
        step = max(days // 100, 1)
        for day in range(days + 1):
            if day > env.now:
                yield env.timeout(day - env.now)
            self._sample(day)
            if day in self.check_days:
                from sim.packing import check_packing

                self.packing_rows.extend(check_packing(self, day))
            if self.progress is not None and (day % step == 0 or day == days):
                self.progress(day / max(days, 1))

    # --- what happens to customers --------------------------------------------------------------------------
    def _sign_up(self, customer: int) -> None:
        self.day_signups += 1
        forced = int(self.draws.forced_cluster[customer])
        if forced >= 0:
            candidates = [self.world.pair(forced)]
        else:
            candidates = self.world.open_pairs()
        first = int(self.draws.service_start[customer])
        self.state[customer] = ACTIVE
        if self._place(customer, first, True, candidates) < 0:
            self.state[customer] = LOST
            self.operator.note_demand(self.region_names[self.draws.region[customer]])

    def _place(self, customer: int, service: int, new_customer: bool, candidates) -> int:
        draws, world = self.draws, self.world
        size = int(draws.service_volume[service])
        mix = self.scenario.customers
        request = PlacementRequest(
            customer_id=f"c{customer}",
            ram_bytes=int(draws.service_ram[service]),
            region=self.region_names[draws.region[customer]],
            volumes=(VolumeRequest(size),) if size else (),
            customer_volume_count=int(self.customer_volumes[customer]),
            plan=mix.plan,
            pods=mix.pods_per_service,
            new_customer=new_customer,
        )
        # No ``now``: the simulator's load snapshots are always current, so the snapshot-age rule is moot.
        decision = select_cluster(request, candidates, self.policy)
        self.attempted += 1
        self.day_attempted += 1
        home = int(self.home[customer])
        if decision.cluster_id is None:
            self._reject(request, decision, home, new_customer)
            return -1
        number = world.index[decision.cluster_id]
        node = world.node_by_name[decision.node_hint]
        cycle = Cycle.start(request, self.policy, None)
        storage = self.limits.storage[world.clusters[number].provider]
        need = cycle.ram_need_bytes(storage)
        objects = cycle.new_objects(storage)
        volumes = len(request.volumes)
        world.change_node(node, need, request.pods)
        c = world.counters
        c["services"][number] += 1
        c["pods"][number] += request.pods
        c["etcd_objects"][number] += objects
        c["placements"][number] += 1
        if volumes:
            c["volumes"][number] += volumes
            c["volume_bytes"][number] += size
            self.customer_volumes[customer] += volumes
        if new_customer:
            c["customers"][number] += 1
            self.home[customer] = number
        self.service_node[service] = node
        self.service_need[service] = need
        self.service_objects[service] = objects
        self.service_volumes[service] = size
        self.service_seq[service] = self.attempted
        self._note_rejections(request, decision)
        return number

    def _note_rejections(self, request: PlacementRequest, decision) -> None:
        """Tell the operator which cluster rejected the service for which limit.

        A service that no empty run node of a cluster could hold is not a capacity signal there: no node
        order makes it fit, and feeding its rejections to the operator would grow the cluster one node at a
        time up to the cap. It stays a counted rejection (``placement_rejected``) and nothing more.
        """
        world = self.world
        cycle = None
        for result in decision.results:
            if result.failed_filter is None:
                continue
            number = world.index[result.cluster_id]
            filter_name = FILTER_NAMES[result.failed_filter]
            if filter_name in NODE_FIT_FILTERS:
                cycle = cycle or Cycle.start(request, self.policy, None)
                info = world.clusters[number]
                if cycle.ram_need_bytes(self.limits.storage[info.provider]) > info.node_alloc:
                    continue
            self.operator.note_rejection(number, filter_name, result.reason)

    def _reject(self, request: PlacementRequest, decision, home: int, new_customer: bool) -> None:
        self.rejected += 1
        self.day_rejected += 1
        world = self.world
        scope = world.clusters[home].cluster.id if home >= 0 and not new_customer else "fleet"
        if home >= 0 and not new_customer:
            world.counters["rejections"][home] += 1
        self.rejection_log[(scope, decision.reason)] += 1
        self._note_rejections(request, decision)

    def _leave(self, customer: int, at: float) -> None:
        world = self.world
        c = world.counters
        number = int(self.home[customer])
        begin, end = int(self.draws.service_start[customer]), int(self.draws.service_start[customer + 1])
        for service in range(begin, end):
            node = int(self.service_node[service])
            if node < 0:
                continue
            world.change_node(node, -int(self.service_need[service]), -self.scenario.customers.pods_per_service)
            c["services"][number] -= 1
            c["pods"][number] -= self.scenario.customers.pods_per_service
            c["etcd_objects"][number] -= int(self.service_objects[service])
            size = int(self.service_volumes[service])
            if size:
                c["volumes"][number] -= 1
                c["volume_bytes"][number] -= size
            self.service_node[service] = -1
        c["customers"][number] -= 1
        world.touch(number)
        self.state[customer] = CHURNED
        self.departed[customer] = at

    # --- the daily sample -----------------------------------------------------------------------------------
    def _sample(self, day: int) -> None:
        world = self.world
        n = world.n_clusters
        rows = np.empty((n, len(SAMPLED) + 2), dtype=np.float64)
        for j, name in enumerate(SAMPLED):
            rows[:, j] = world.view(name)
        rows[:, -2] = [info.active for info in world.clusters]
        rows[:, -1] = [info.open for info in world.clusters]
        setup = np.zeros(n)
        m = min(n, len(self.day_setup))
        setup[:m] = self.day_setup[:m]
        self.samples.append(np.column_stack((np.full(n, day), np.arange(n), rows, setup)))
        self.fleet_samples.append((day, self.day_signups, self.day_attempted, self.day_rejected))
        for (scope, reason), count in sorted(self.rejection_log.items()):
            self.event(float(day), "placement_rejected", scope, f"{count} rejected since the previous day: {reason}")
        self.rejection_log.clear()
        world.counters["placements"][:] = 0
        world.counters["rejections"][:] = 0
        self.day_setup[:] = 0
        self.day_signups = self.day_attempted = self.day_rejected = 0
