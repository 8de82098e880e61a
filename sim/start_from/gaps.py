"""The live start's time-0 placements against its snapshots, once before the runs (``sim.start_from.build``): what
``sim.start_from.unattributed.hold_unattributed`` will hold in every run, for the provenance and the warnings.

Its own module: it places the time-0 customers as a run does (``sim.processes.open_fleet``), and the run's
processes import the holding itself, not this."""

from __future__ import annotations

import numpy as np

from sim.config import compile_scenario
from sim.decisions import is_shard_limit
from sim.log import Log
from sim.processes import open_fleet
from sim.sampling import draw
from sim.scenario import Scenario
from sim.start_from.spec import live_of
from sim.start_from.unattributed import StartGap, gap_notes, hold_unattributed
from sim.triggers import Triggers
from sim.world import World


def start_levels(scenario: Scenario) -> tuple[list[StartGap], set[str]]:
    """What ``hold_unattributed`` holds on ``scenario``'s live start, from its time-0 placements (a one-day run's
    world, without running it); and the open clusters then at the operator's close level of a shard limit (its
    own ratios, ``sim.triggers``), which it closes to new customers once another cluster takes them."""
    live = live_of(scenario.start_from)
    if live is None or not live.snapshots:
        return [], set()
    config = compile_scenario(scenario.model_copy(update={"horizon_days": 1.0, "horizon_years": None}))
    # Time 0 draws nothing a run differs in (the live customers' services are measured), so any seed gives it.
    world = World.build(config, draw(config.scenario, np.random.SeedSequence(0), config.horizon))
    open_fleet(world, Log())
    gaps = hold_unattributed(world.fleet, live)
    fleet, policy = world.fleet, config.scenario.operator
    ratios = Triggers(fleet, config.limits, policy).ratios(fleet.n_clusters)
    shard_rows = [k for k, name in enumerate(ratios.rows.names) if is_shard_limit(name)]
    worst = ratios.matrix[shard_rows].max(axis=0) if shard_rows else np.zeros(fleet.n_clusters)
    closing = {
        info.cluster.id for info, level in zip(fleet.clusters, worst.tolist(), strict=True)
        if info.open and level >= policy.shard.close_fraction
    }  # fmt: skip
    return gaps, closing


def record_gaps(gaps: list[StartGap], record, basis: str) -> list[str]:
    """Record each level held as a provenance figure (``clusters.ID.held_MEASURE``) through ``record``; the
    warnings to show."""
    for gap in gaps:
        if gap.held:
            source = (
                f"newest load snapshot{' with the reservations since' if gap.with_reservations else ''} "
                f"({gap.measured}) less its customers as simulated ({gap.simulated}); held for the whole run"
            )
            record(f"clusters.{gap.cluster}.held_{gap.measure}", gap.held, basis, source)
    return gap_notes(gaps)
