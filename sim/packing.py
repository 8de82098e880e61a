"""Packing checks: on the scenario's chosen days, the live services against the fewest nodes that hold them.

At a check day the live services (placed and not churned) are taken from the world's arrays in the order they
were placed, and grouped by their cluster's region and storage provider: services do not move between regions,
and a Longhorn and a Ceph cluster are different packing problems (run-node RAM, volume limit, minimum nodes).
Each group goes to ``placement.optimize.greedy_to_optimal_ratio`` with the scenario's limits, engine policy,
run-node type, maximum run nodes per cluster and the top control-plane rung (the operator can always upgrade
to it), so one row says three things about the same services:

- ``optimal_nodes`` / ``optimal_clusters``: the fewest that hold them (``status`` OPTIMAL only with a proof:
  CP-SAT's, or a heuristic meeting the L1 bound; otherwise FEASIBLE, the best packing found);
- ``greedy_nodes`` / ``greedy_clusters``: the live engine re-placing them in arrival order on a fresh fleet
  that grows only when the engine rejects a service (the policy's own waste);
- ``sim_run_nodes`` / ``sim_clusters``: what the simulated operator actually runs that day for the group
  (the policy's waste plus the operator's headroom, lead times and churn holes);
- ``plan_run_nodes`` / ``plan_run_nodes_eur_month``: what ``placement optimize capacity`` plans for the same
  services on the group's storage provider at the operator's utilisation targets (``node_order_at_ram_fraction``
  of each run node's RAM, ``node_order_at_pods_fraction`` of its max-pods; both count each run node's system
  pods and objects, ``NodeFootprint``, as the fleet does), beside ``sim_run_nodes_eur_month``: the simulated
  run-node cost against the planner's. The plan's demand
  buckets round each service's RAM to the nearest step of a quarter octave (2^(1/4), about +-9 %), so the
  CP-SAT model stays small; pods and volumes are counted exactly.

CP-SAT runs on one worker with a deterministic time limit and no wall-clock limit, so a seed replays byte for
byte; solver wall times go to ``SimResult.meta`` only.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.log import Log
from sim.world import World

if TYPE_CHECKING:
    from placement.optimize import Demand, Service

# Every column of packing.parquet after ``date`` (calendar dates, parsed by ``pd.to_datetime``), in order, with
# its dtype (nullable where a check could not pack).
PACKING_SCHEMA: dict[str, str] = {
    "day": "Int64",
    "region": "object",
    "storage_provider": "object",
    "services": "Int64",
    "customers": "Int64",
    "volumes": "Int64",
    "l1_nodes": "Int64",
    "ffd_nodes": "Int64",
    "optimal_nodes": "Int64",
    "status": "object",
    "method": "object",
    "solver_status": "object",
    "best_bound": "float64",
    "gap": "float64",
    "l1_clusters": "Int64",
    "ffd_clusters": "Int64",
    "optimal_clusters": "Int64",
    "clusters_status": "object",
    "greedy_nodes": "Int64",
    "greedy_clusters": "Int64",
    "greedy_to_optimal_nodes": "float64",
    "greedy_to_optimal_clusters": "float64",
    "ratio_exact": "boolean",
    "sim_run_nodes": "Int64",
    "sim_run_nodes_on_order": "Int64",
    "sim_clusters": "Int64",
    "sim_to_optimal_nodes": "float64",
    "sim_to_optimal_clusters": "float64",
    "sim_run_nodes_eur_month": "float64",
    "plan_run_nodes": "Int64",
    "plan_run_nodes_eur_month": "float64",
    "plan_status": "object",
    "sim_to_plan_run_node_cost": "float64",
    "max_nodes_per_cluster": "Int64",
    "ctrl_node_type": "object",
    "deterministic_time_limit": "float64",
    "note": "object",
}
PACKING_COLUMNS = ["date", *PACKING_SCHEMA]


def live_service_groups(world: World) -> dict[tuple[str, str], list[Service]]:
    """The live services per (region, storage provider) of their cluster, each list in placement order."""
    # Imported here: only a run with packing checks loads the optimizer (and CP-SAT).
    from placement.optimize import Service

    fleet, draws, people = world.fleet, world.draws, world.population
    live = np.flatnonzero(people.service_node >= 0)
    live = live[np.argsort(people.service_seq[live], kind="stable")]
    cluster = fleet.node_cluster[people.service_node[live]]
    owner = np.searchsorted(draws.service_start, live, side="right") - 1
    pods = world.config.scenario.customers.pods_per_service
    groups: dict[tuple[str, str], list[Service]] = {}
    for service, number, customer in zip(live.tolist(), cluster.tolist(), owner.tolist(), strict=True):
        info = fleet.clusters[number]
        volume = int(draws.service_volume[service])
        groups.setdefault((info.region, info.provider), []).append(
            Service(f"s{service}", int(draws.service_ram[service]), volume or None, f"c{customer}", pods)
        )
    return dict(sorted(groups.items()))


def check_packing(world: World, log: Log, day: int) -> list[dict[str, Any]]:
    """One row per (region, storage provider) group with live services at ``day``; solver times go to the log."""
    from placement.optimize import Infeasible, SolveSettings, greedy_to_optimal_ratio

    config, fleet = world.config, world.fleet
    checks = config.scenario.packing_checks
    settings = SolveSettings(num_workers=1, seed=0, deterministic_time_limit=checks.deterministic_time_limit)
    max_nodes = checks.max_nodes_per_cluster or config.scenario.operator.max_run_nodes_per_cluster
    ctrl = checks.ctrl_node_type or fleet.ladder[-1]
    nodes, pending = fleet.view("nodes"), fleet.view("pending_nodes")
    rows = []
    for (region, provider), services in live_service_groups(world).items():
        members = [
            i
            for i, info in enumerate(fleet.clusters)
            if info.active and info.region == region and info.provider == provider
        ]
        sim_nodes = int(nodes[members].sum())
        row: dict[str, Any] = {
            "day": day,
            "date": config.date_of(day),
            "region": region,
            "storage_provider": provider,
            "services": len(services),
            "customers": len({s.customer for s in services}),
            "volumes": sum(s.volumes for s in services),
            "sim_run_nodes": sim_nodes,
            "sim_run_nodes_on_order": int(pending[members].sum()),
            "sim_clusters": len(members),
            "max_nodes_per_cluster": max_nodes,
            "ctrl_node_type": ctrl,
            "deterministic_time_limit": checks.deterministic_time_limit,
            "note": None,
        }
        started = time.perf_counter()
        try:
            report = greedy_to_optimal_ratio(
                services,
                config.limits,
                config.policy,
                provider=provider,
                max_nodes_per_cluster=max_nodes,
                ctrl_node_type=ctrl,
                settings=settings,
                run_node_ram_bytes=fleet.run_node_ram,
                run_node_type=config.scenario.operator.run_node_type,
                # The scenario's own policy is the one the simulated operator runs; a second greedy pass under
                # most_allocated would double the check's cost for a column packing.parquet does not have.
                compare_most_allocated=False,
            )
        except Infeasible as exc:
            # The simulator placed these services, so this means the check's settings (a smaller control
            # plane, fewer nodes per cluster) cannot hold them: say so instead of stopping the run.
            row.update(status="INFEASIBLE", note=str(exc))
            rows.append(row)
            continue
        finally:
            log.packing_wall_seconds.append(round(time.perf_counter() - started, 3))
        outcome = report.nodes_outcome
        packed = max(report.node_of) + 1  # before padding clusters to the provider's minimum nodes
        best_bound = outcome.best_bound if outcome.best_bound is not None else float(report.l1_nodes)
        row.update(
            l1_nodes=report.l1_nodes,
            ffd_nodes=report.ffd_nodes,
            optimal_nodes=report.nodes,
            # OPTIMAL only with a proof; an unproven packing (CP-SAT FEASIBLE, or UNKNOWN with the heuristic's
            # packing in hand) is a feasible upper bound, so the ratio against it understates the waste.
            status="OPTIMAL" if outcome.proven_optimal else "FEASIBLE",
            method=outcome.method,
            solver_status=outcome.status if outcome.method == "cp-sat" else None,
            best_bound=best_bound,
            gap=outcome.gap if outcome.gap is not None else (packed - best_bound) / packed,
            l1_clusters=report.l1_clusters,
            ffd_clusters=report.ffd_clusters,
            optimal_clusters=report.clusters,
            clusters_status=report.clusters_status,
            greedy_nodes=report.greedy_nodes,
            greedy_clusters=report.greedy_clusters,
            greedy_to_optimal_nodes=report.greedy_to_optimal_nodes,
            greedy_to_optimal_clusters=report.greedy_to_optimal_clusters,
            ratio_exact=report.ratio_exact,
            sim_to_optimal_nodes=sim_nodes / report.nodes,
            sim_to_optimal_clusters=len(members) / report.clusters,
        )
        # At the operator's order levels the plan needs about 1/level as many clusters as the optimum (which packs
        # at 100 %): capped at the optimum's count + 1, a RAM-bound group's plan was infeasible.
        level = min(
            config.scenario.operator.node_order_at_ram_fraction, config.scenario.operator.node_order_at_pods_fraction
        )
        clusters = math.ceil(report.clusters / level) + 1
        row.update(_against_plan(world, services, provider, max_nodes, clusters, settings, sim_nodes))
        rows.append(row)
    return rows


RAM_STEPS_PER_OCTAVE = 4


def demand_of(services: list[Service]) -> Demand:
    """The services as ``placement optimize capacity`` demand: RAM on a quarter-octave grid, volumes kept."""
    from placement.optimize import Demand, DemandBucket

    ram = np.array([s.ram_bytes for s in services], dtype=float)
    steps = np.round(np.log2(ram) * RAM_STEPS_PER_OCTAVE)
    rounded = np.round(2 ** (steps / RAM_STEPS_PER_OCTAVE)).astype(np.int64)
    volume = np.array([s.volume_bytes or 0 for s in services], dtype=np.int64)
    keys, counts = np.unique(np.column_stack((rounded, volume > 0)), axis=0, return_counts=True)
    sizes = {bool(v): int(volume[volume > 0].max()) if v else None for v in (True, False) if not v or volume.any()}
    buckets = [
        DemandBucket(ram=int(r), volume=sizes[bool(v)], count=int(c))
        for (r, v), c in zip(keys.tolist(), counts.tolist(), strict=True)
    ]
    return Demand(customers=len({s.customer_id for s in services}), services=buckets)


def _against_plan(
    world: World,
    services: list[Service],
    provider: str,
    max_nodes: int,
    clusters: int,
    settings: Any,
    sim_nodes: int,
) -> dict[str, Any]:
    """The capacity planner's run nodes and cost for the group's services, beside the simulated fleet's."""
    from placement.optimize import Infeasible, plan_capacity

    config = world.config
    node_eur = config.costs.run_node_eur_month
    out: dict[str, Any] = {"sim_run_nodes_eur_month": round(sim_nodes * node_eur, 2)}
    try:
        plan = plan_capacity(
            demand_of(services),
            config.limits,
            settings,
            max_clusters_per_provider=clusters,
            max_nodes_per_cluster=max_nodes,
            utilisation=config.scenario.operator.node_order_at_ram_fraction,
            pods_utilisation=config.scenario.operator.node_order_at_pods_fraction,
            providers=(provider,),
            run_node_type=config.scenario.operator.run_node_type,
        )
    except Infeasible as exc:
        out["plan_status"] = f"INFEASIBLE: {exc}"
        return out
    # Each planned cluster at least at the run nodes its services need packed onto nodes (the plan's L2 cuts can
    # leave a cluster a node short): the plan's own verified figure, not a bound under it.
    nodes = sum(max(c.run_nodes, c.packed_nodes or 0) for c in plan.clusters)
    cost = round(nodes * node_eur, 2)
    out.update(
        plan_run_nodes=nodes,
        plan_run_nodes_eur_month=cost,
        plan_status=plan.outcome.status,
        sim_to_plan_run_node_cost=out["sim_run_nodes_eur_month"] / cost if cost else None,
    )
    return out


def packing_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The rows as a table with fixed columns and dtypes (``PACKING_SCHEMA``)."""
    frame = pd.DataFrame(rows, columns=PACKING_COLUMNS)
    frame["date"] = pd.to_datetime(frame["date"])
    return frame.astype(PACKING_SCHEMA)


def packing_summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """JSON-ready rows for ``summary.json`` (dates as ISO strings, no NaN)."""
    out = []
    for row in rows:
        clean = {k: row.get(k) for k in PACKING_COLUMNS}
        clean["date"] = row["date"].isoformat()
        for key in (
            "greedy_to_optimal_nodes",
            "greedy_to_optimal_clusters",
            "sim_to_optimal_nodes",
            "sim_to_optimal_clusters",
            "sim_to_plan_run_node_cost",
            "gap",
        ):
            if clean.get(key) is not None:
                clean[key] = round(float(clean[key]), 6)
        out.append(clean)
    return out
