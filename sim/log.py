"""What a run records, as flat records in the order they happen: events, daily samples, tallies, bindings.

The processes append to one ``Log``; ``sim.collect`` turns it into the result tables once the run is over.
Nothing in it is read back by the model while it runs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.decisions import Binding
from sim.fleet import Fleet
from sim.fleet_layout import CLUSTER_COUNTERS

# The columns of a daily sample row: day, cluster number, every cluster counter (in CLUSTER_COUNTERS order),
# delivered, open, and that day's setup fees.
SAMPLE_DAY, SAMPLE_CLUSTER, SAMPLE_COUNTERS = 0, 1, 2
SAMPLE_ACTIVE = SAMPLE_COUNTERS + len(CLUSTER_COUNTERS)
SAMPLE_OPEN = SAMPLE_ACTIVE + 1
SAMPLE_SETUP = SAMPLE_OPEN + 1


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """One order the operator placed, and why: the day it decided, the day it arrives, what for which cluster, the
    control plane then (for the price), the cluster whose limit triggered it (None: a region's demand, no cluster)
    and that limit's decision-table key (``sim.decisions``), ``region_demand`` or ``on_order_at_start``."""

    day: float
    due: float
    kind: str  # "nodes", "upgrade", "cluster"
    cluster: int
    amount: int
    ctrl_rung: int
    ctrl_nodes: int
    trigger: int | None
    limit: str


@dataclass(slots=True)
class Log:
    events: list[tuple[float, str, str, str]] = field(default_factory=list)  # day, kind, cluster id, detail
    rejections: Counter = field(default_factory=Counter)  # (scope, reason) -> rejections since the last sample
    attempted: int = 0
    rejected: int = 0
    day_signups: int = 0
    day_attempted: int = 0
    day_rejected: int = 0
    day_setup: np.ndarray = field(default_factory=lambda: np.zeros(8))  # setup fees per cluster since the sample
    samples: list[np.ndarray] = field(default_factory=list)  # one block of sample rows per day
    fleet_samples: list[tuple[int, int, int, int]] = field(default_factory=list)  # day, sign-ups, attempts, rejects
    bindings: dict[str, Binding] = field(default_factory=dict)  # the first time each limit bound
    first_shard: dict[str, Any] | None = None
    orders: list[OrderRecord] = field(default_factory=list)  # every order the operator placed, in order
    packing_rows: list[dict[str, Any]] = field(default_factory=list)
    packing_wall_seconds: list[float] = field(default_factory=list)  # machine-dependent: never written
    spilled: int = 0  # services placed away from their customer's home cluster (spill policy)
    spills: Counter = field(default_factory=Counter)  # (home id, cluster id) -> spilled since the last sample
    cluster_numbers: np.ndarray = field(default_factory=lambda: np.zeros(0))  # 0..n-1 as floats, a sample's column

    def event(self, day: float, kind: str, cluster_id: str, detail: str) -> None:
        self.events.append((day, kind, cluster_id, detail))

    def bind(self, limit: str, day: float, customers: int, cluster_id: str, action: str, why: str) -> bool:
        """Record the first time ``limit`` binds; later bindings are not recorded (returns whether this was it)."""
        if limit in self.bindings:
            return False
        self.bindings[limit] = Binding(limit, day, customers, cluster_id, action, why)
        return True

    def spill(self, home_id: str, cluster_id: str) -> None:
        self.spilled += 1
        self.spills[(home_id, cluster_id)] += 1

    def add_setup_eur(self, number: int, eur: float) -> None:
        if len(self.day_setup) <= number:
            grown = np.zeros(max(2 * len(self.day_setup), number + 1))
            grown[: len(self.day_setup)] = self.day_setup
            self.day_setup = grown
        self.day_setup[number] += eur

    def record_day(self, fleet: Fleet, day: int) -> None:
        """The day's sample of every cluster, the day's rejections as events; the daily tallies start again."""
        n = fleet.n_clusters
        # The day's rows written in place as the columns of a block, a column a row of it (each written whole, not
        # strided); the rows are its transpose (``sim.collect`` stacks them as they are laid out).
        block = np.empty((SAMPLE_SETUP + 1, n), dtype=np.float64)
        block[SAMPLE_DAY] = day
        if len(self.cluster_numbers) != n:  # (the fleet only grows: made anew when it did)
            self.cluster_numbers = np.arange(n, dtype=np.float64)
        block[SAMPLE_CLUSTER] = self.cluster_numbers
        block[SAMPLE_COUNTERS:SAMPLE_ACTIVE] = fleet.counter_rows()  # (every counter, in ``CLUSTER_COUNTERS``' order)
        block[SAMPLE_ACTIVE:SAMPLE_SETUP] = [
            [info.active for info in fleet.clusters],
            [info.open for info in fleet.clusters],
        ]
        m = min(n, len(self.day_setup))
        block[SAMPLE_SETUP, :m] = self.day_setup[:m]
        block[SAMPLE_SETUP, m:] = 0.0
        self.samples.append(block.T)
        self.fleet_samples.append((day, self.day_signups, self.day_attempted, self.day_rejected))
        for (scope, reason), count in sorted(self.rejections.items()):
            self.event(float(day), "placement_rejected", scope, f"{count} rejected since the previous day: {reason}")
        self.rejections.clear()
        for (home_id, cluster_id), count in sorted(self.spills.items()):
            self.event(
                float(day), "service_spilled", cluster_id, f"{count} service(s) of {home_id}'s customers placed here"
            )
        self.spills.clear()
        self.day_setup[:] = 0
        self.day_signups = self.day_attempted = self.day_rejected = 0
