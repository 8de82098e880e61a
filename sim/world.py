"""The world a run's processes share: the compiled scenario, the draws, the fleet, the customers, and the
signals placements leave for the operator.

Each SimPy process (``sim.processes``) receives ``(env, world, log)``: it reads and changes the world and
appends what happened to the log. No process holds a reference to another.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from placement.catalogue import Rejection
from sim.config import RunConfig
from sim.fleet import Fleet, start_datetime
from sim.population import ACTIVE, Cells, Population
from sim.sampling import Draws
from sim.start_from.spec import live_of


@dataclass(slots=True)
class Signals:
    """What the placements since the operator's last look told it: which cluster rejected a service for which
    filter (with the first rejection), and the new customers of each region that no open cluster could take."""

    rejected: defaultdict[int, Counter] = field(default_factory=lambda: defaultdict(Counter))
    first_rejection: dict[tuple[int, str], Rejection] = field(default_factory=dict)
    region_demand: Counter = field(default_factory=Counter)

    def note_rejection(self, cluster: int, rejection: Rejection) -> None:
        self.rejected[cluster][rejection.filter] += 1
        self.first_rejection.setdefault((cluster, rejection.filter), rejection)

    def note_demand(self, region: str) -> None:
        self.region_demand[region] += 1

    def clear(self) -> None:
        self.rejected.clear()
        self.first_rejection.clear()
        self.region_demand.clear()


DRAWS_READ = ("forced_cluster", "region", "service_start", "service_ram", "service_volume")


@dataclass(slots=True)
class World:
    config: RunConfig
    draws: Draws
    fleet: Fleet
    population: Population
    signals: Signals
    # Spill policy: the clusters besides home where a customer has services, and each spilled service's
    # namespaces (1 for the first on its cluster, which brought the customer's namespace there).
    away: dict[int, set[int]] = field(default_factory=dict)
    spilled: dict[int, int] = field(default_factory=dict)
    # Every service a migration moved to another cluster: (day, service, the cluster it left), in order; with
    # ``Population.service_cluster``, where each service was on any earlier day (``sim.forecast.export``).
    moves: list[tuple[float, int, int]] = field(default_factory=list)
    # The time-0 placements are done (``sim.processes.open_fleet``, or restored by ``sim.opening``): the sign-up
    # and service-creation processes start after them.
    opened: bool = False
    # The draws a placement reads one element of (``Cells``).
    draw_cells: Cells = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.draw_cells = Cells(self.draws, DRAWS_READ)

    @classmethod
    def build(cls, config: RunConfig, draws: Draws) -> World:
        """The initial fleet of the scenario, and every drawn customer and service not yet placed."""
        fleet = Fleet(
            config.limits, config.ladder, start_datetime(config.start), config.run_node_ram, config.run_node_max_pods
        )
        live = live_of(config.scenario.start_from)
        closed = set(live.closed) if live is not None else set()  # draining or in maintenance at a live start
        for spec in config.scenario.fleet.clusters:
            number = fleet.add_cluster(
                spec.id,
                spec.region,
                spec.storage_provider,
                spec.ctrl_type_on(config.ladder),
                spec.ctrl_nodes,
                0.0,
                True,
                spec.run_node_allocatable_bytes,
                spec.run_node_max_pods,
                spec.run_node_disk_bytes,
            )
            fleet.add_nodes(number, spec.run_nodes)
            if spec.id in closed:
                fleet.close(number)
        population = Population.empty(draws.customers, int(draws.service_start[-1]))
        return cls(config, draws, fleet, population, Signals())

    def customers_outside_region(self) -> Counter:
        """Active customers per region whose home cluster is in another region."""
        regions = self.config.regions
        active = self.population.state == ACTIVE
        home = self.population.home[active]
        drawn = self.draws.region[active]
        cluster_region = np.array(
            [regions.index(info.region) if info.region in regions else -1 for info in self.fleet.clusters]
        )
        counts = np.bincount(drawn[cluster_region[home] != drawn], minlength=len(regions))
        return Counter({regions[r]: n for r, n in enumerate(counts.tolist()) if n})
