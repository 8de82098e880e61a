"""From a finished run's world and log to its ``SimResult``: the time series per cluster and for the fleet (with
costs), the event log, one row per customer, the summary with the decision table, and the packing checks."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from placement.storage_cost import storage_bill, storage_node_setup_eur
from sim.decision_table import decision_rows
from sim.decisions import decision_table
from sim.design_doc import design_doc_comparison
from sim.fleet_layout import CLUSTER_COUNTERS
from sim.log import SAMPLE_ACTIVE, SAMPLE_CLUSTER, SAMPLE_COUNTERS, SAMPLE_DAY, SAMPLE_OPEN, SAMPLE_SETUP, Log
from sim.objects import objects_summary
from sim.packing import packing_frame, packing_summary
from sim.planning import RESOURCES, idle_while_binding, measures, utilisation_summary
from sim.population import ACTIVE, CHURNED, LOST, STATE_NAMES, active_on
from sim.procurement import cost_breakdown, orders_frame
from sim.results import SimResult
from sim.scaledown import failure_headroom
from sim.world import World

DAYS_PER_YEAR_MONTH = 365.25 / 12


def _samples(log: Log) -> np.ndarray:
    samples = np.vstack(log.samples)
    return samples[samples[:, SAMPLE_ACTIVE] > 0]


def cluster_series(world: World, log: Log, samples: np.ndarray | None = None) -> pd.DataFrame:
    """The per-cluster daily time series of a finished run: every cluster counter and the control plane's levels,
    without costs (what ``sim.planning.measures`` reads; all a forecast run needs). ``samples``: the log's sample
    rows of active clusters, when the caller has them."""
    infos, ladder_names, limits = world.fleet.clusters, world.fleet.ladder, world.config.limits
    ids = np.array([info.cluster.id for info in infos], dtype=object)
    regions = np.array([info.region for info in infos], dtype=object)
    providers = np.array([info.provider for info in infos], dtype=object)
    samples = _samples(log) if samples is None else samples
    col = {name: samples[:, SAMPLE_COUNTERS + j] for j, name in enumerate(CLUSTER_COUNTERS)}
    day = samples[:, SAMPLE_DAY].astype(np.int64)
    number = samples[:, SAMPLE_CLUSTER].astype(np.int64)
    rung = col["ctrl_rung"].astype(np.int64)
    ladder = np.array(ladder_names, dtype=object)
    tight = np.array([limits.control_plane(n).tight_objects for n in ladder_names])
    comfortable = np.array([limits.control_plane(n).comfortable_objects for n in ladder_names])
    max_volumes = np.array([limits.storage[p].max_volumes for p in providers])
    # The raw disk one run node gives each cluster's replicas (NaN: on storage nodes, or not known).
    node_disk = np.array([np.nan if info.node_disk is None else info.node_disk for info in infos], dtype=float)
    return pd.DataFrame(
        {
            "day": day,
            "cluster_id": ids[number],
            "region": regions[number],
            "storage_provider": providers[number],
            "open": samples[:, SAMPLE_OPEN] > 0,
            "clusters": np.ones(len(day), dtype=np.int64),
            "customers": col["customers"].astype(np.int64),
            "services": col["services"].astype(np.int64),
            "pods": col["pods"].astype(np.int64),
            "volumes": col["volumes"].astype(np.int64),
            "max_volumes": max_volumes[number].astype(np.int64),
            "volume_bytes": col["volume_bytes"].astype(np.int64),
            "disk_bytes": col["disk_bytes"].astype(np.int64),
            "disk_capacity_bytes": col["nodes"] * node_disk[number],
            "ram_requested_bytes": col["ram_requested"].astype(np.int64),
            "ram_allocatable_bytes": col["ram_allocatable"].astype(np.int64),
            "run_nodes": col["nodes"].astype(np.int64),
            "run_nodes_on_order": col["pending_nodes"].astype(np.int64),
            "etcd_objects": col["etcd_objects"].astype(np.int64),
            "ctrl_node_type": ladder[rung],
            "ctrl_nodes": col["ctrl_nodes"].astype(np.int64),
            "ctrl_comfortable_objects": comfortable[rung].astype(np.int64),
            "ctrl_tight_objects": tight[rung].astype(np.int64),
            "placements": col["placements"].astype(np.int64),
            "placements_rejected": col["rejections"].astype(np.int64),
        }
    )


def collect(world: World, log: Log, seed: np.random.SeedSequence) -> SimResult:
    """The result tables and summary of a finished run (``seed``: the run's seed, for the record)."""
    config, infos = world.config, world.fleet.clusters
    start = config.start
    ids = np.array([info.cluster.id for info in infos], dtype=object)
    providers = np.array([info.provider for info in infos], dtype=object)
    samples = _samples(log)
    clusters = cluster_series(world, log, samples)
    col = {name: samples[:, SAMPLE_COUNTERS + j] for j, name in enumerate(CLUSTER_COUNTERS)}
    day = samples[:, SAMPLE_DAY].astype(np.int64)
    number = samples[:, SAMPLE_CLUSTER].astype(np.int64)
    costs, limits = config.costs, config.limits
    compute = costs.compute_eur_month(col["nodes"], col["ctrl_rung"].astype(np.int64), col["ctrl_nodes"])
    run_nodes_eur = col["nodes"] * costs.run_node_eur_month
    backup = np.zeros(len(day))
    days = int(day.max()) + 1 if len(day) else 0
    fleet_backup = np.zeros(days)
    for d in np.unique(day):
        rows = day == d
        share, total = costs.backup_eur_month(col["volume_bytes"][rows])
        backup[rows] = share
        fleet_backup[d] = total
    storage_nodes, storage_nodes_eur, disk_nodes, disk_nodes_eur, operations_eur = _storage_bills(
        limits, providers[number], col
    )
    clusters["compute_eur_month"] = compute
    clusters["run_nodes_eur_month"] = run_nodes_eur
    clusters["control_plane_eur_month"] = compute - run_nodes_eur
    clusters["backup_eur_month"] = backup
    clusters["storage_nodes"] = storage_nodes
    clusters["storage_nodes_eur_month"] = storage_nodes_eur
    clusters["disk_run_nodes"] = disk_nodes
    clusters["disk_run_nodes_eur_month"] = disk_nodes_eur
    clusters["operations_eur_month"] = operations_eur
    clusters["cost_eur_month"] = compute + backup + storage_nodes_eur + disk_nodes_eur + operations_eur
    clusters["setup_eur"] = samples[:, SAMPLE_SETUP] + _storage_node_setup(
        limits, providers[number], number, day, storage_nodes
    )
    fleet_daily = np.array(log.fleet_samples, dtype=np.float64).reshape(-1, 4)
    summed = [
        "clusters",
        "customers",
        "services",
        "pods",
        "volumes",
        "max_volumes",
        "volume_bytes",
        "disk_bytes",
        "ram_requested_bytes",
        "ram_allocatable_bytes",
        "run_nodes",
        "run_nodes_on_order",
        "etcd_objects",
        "ctrl_nodes",
        "ctrl_comfortable_objects",
        "ctrl_tight_objects",
        "placements",
        "compute_eur_month",
        "run_nodes_eur_month",
        "control_plane_eur_month",
        "backup_eur_month",
        "storage_nodes",
        "storage_nodes_eur_month",
        "disk_run_nodes",
        "disk_run_nodes_eur_month",
        "operations_eur_month",
        "cost_eur_month",
        "setup_eur",
    ]
    fleet = clusters.groupby("day", sort=True)[summed].sum().reindex(range(len(fleet_daily)), fill_value=0)
    fleet["backup_eur_month"] = fleet_backup[: len(fleet)] if len(fleet_backup) >= len(fleet) else 0.0
    fleet["cost_eur_month"] = (
        fleet["compute_eur_month"]
        + fleet["backup_eur_month"]
        + fleet["storage_nodes_eur_month"]
        + fleet["disk_run_nodes_eur_month"]
        + fleet["operations_eur_month"]
    )
    fleet = fleet.reset_index()
    fleet["cluster_id"] = "fleet"
    fleet["region"] = None
    fleet["storage_provider"] = None
    fleet["open"] = clusters.groupby("day")["open"].any().reindex(range(len(fleet)), fill_value=False).to_numpy()
    fleet["ctrl_node_type"] = None
    fleet["disk_capacity_bytes"] = np.nan  # a cluster's own: storage nodes' disks are not in it
    fleet["placements_rejected"] = fleet_daily[:, 3].astype(np.int64)
    fleet["signups"] = fleet_daily[:, 1].astype(np.int64)
    fleet["placements_attempted"] = fleet_daily[:, 2].astype(np.int64)
    clusters["signups"] = pd.array([pd.NA] * len(clusters), dtype="Int64")
    clusters["placements_attempted"] = pd.array([pd.NA] * len(clusters), dtype="Int64")
    fleet["signups"] = fleet["signups"].astype("Int64")
    fleet["placements_attempted"] = fleet["placements_attempted"].astype("Int64")
    timeseries = pd.concat([clusters, fleet[clusters.columns]], ignore_index=True)
    timeseries = timeseries.sort_values(["day", "cluster_id"], kind="stable", key=_fleet_last).reset_index(drop=True)
    timeseries.insert(0, "date", pd.Timestamp(start) + pd.to_timedelta(timeseries["day"], unit="D"))
    timeseries["cost_eur_cumulative"] = _cumulative_cost(timeseries)

    events = pd.DataFrame(log.events, columns=["day", "kind", "cluster_id", "detail"])
    events = events.sort_values("day", kind="stable").reset_index(drop=True)
    events.insert(0, "date", pd.Timestamp(start) + pd.to_timedelta(np.floor(events["day"]), unit="D"))

    draws, people = world.draws, world.population
    state_names = np.array(STATE_NAMES, dtype=object)
    home = people.home
    customers = pd.DataFrame(
        {
            "customer": np.arange(draws.customers, dtype=np.int64),
            "signup_day": draws.signup,
            "departed_day": people.departed,
            "state": state_names[people.state],
            "region": np.array(config.regions, dtype=object)[draws.region],
            "cluster_id": np.where(home >= 0, ids[np.maximum(home, 0)] if len(ids) else None, None),
            "services": np.diff(draws.service_start),
        }
    )
    # Active customers on each sampled day, each once (the cost per customer-month and the design-document
    # comparison read them).
    active = active_on(
        timeseries.loc[timeseries["cluster_id"] == "fleet", "day"].to_numpy(dtype=float),
        draws.signup,
        people.departed,
        people.state == LOST,
    )
    summary = _summary(world, log, seed, timeseries, customers, active)
    summary["warnings"] = list(config.warnings)  # the initial fleet over a comfortable level (sim.initial_fleet)
    summary["control_plane_upgrade_basis"] = config.scenario.operator.control_plane.upgrade_basis
    summary["objects_per_customer"] = objects_summary(
        config.scenario,
        config.limits,
        int(world.fleet.view("etcd_objects").sum()),
        int(world.fleet.view("customers").sum()),
    )
    meta: dict[str, Any] = {"profile": config.profile.name}
    packing = None
    if config.scenario.packing_checks is not None:
        packing = packing_frame(log.packing_rows)
        summary["packing_checks"] = packing_summary(log.packing_rows)
        meta["packing_wall_seconds"] = list(log.packing_wall_seconds)  # machine-dependent: never written
    orders = orders_frame(config, log.orders, infos)
    summary["orders"] = len(orders)
    per_cluster = timeseries[timeseries["cluster_id"] != "fleet"]
    policy = config.scenario.operator
    levels = measures(per_cluster, config.limits, policy)
    decisions, never_bound = decision_rows(
        orders,
        per_cluster,
        timeseries[timeseries["cluster_id"] == "fleet"],
        config.limits,
        policy,
        config.ladder,
        start,
        config.horizon,
        levels,
        events,
    )
    summary["decisions"] = decisions.astype(object).where(decisions.notna(), None).to_dict("records")
    summary["limits_never_bound"] = never_bound
    summary["idle_resources"] = idle_while_binding(levels, decisions)
    utilisation = utilisation_summary(levels)
    for item in utilisation:
        item["peak_date"] = (start + timedelta(days=int(item.pop("peak_day")))).isoformat()
    summary["utilisation"] = utilisation
    summary["design_doc"] = design_doc_comparison(config.scenario.design_doc, timeseries, active, summary)
    # Each resource's share of its capacity, per cluster and day (the report's utilisation plots; NaN on fleet rows).
    for m in RESOURCES:
        timeseries.loc[per_cluster.index, f"share_{m.key}"] = levels[f"{m.key}_share"].to_numpy()
    return SimResult(config.scenario.name, timeseries, events, customers, summary, meta, packing, orders, decisions)


def _fleet_last(column: pd.Series) -> pd.Series:
    if column.name == "cluster_id":
        return column.map(lambda v: (v == "fleet", v))
    return column


def _storage_bills(limits, providers: np.ndarray, col: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """Per sample row: the dedicated storage nodes its volumes need, the run nodes bought for their disk alone, each
    with its price, and the provider's operations cost (placement.storage_cost, the one storage cost model)."""
    out = [np.zeros(len(providers)) for _ in range(5)]
    for provider in np.unique(providers):
        rows = providers == provider
        bill = storage_bill(limits, str(provider), col["nodes"][rows], col["volume_bytes"][rows])
        parts = (bill.storage_nodes, bill.storage_nodes_eur_month, bill.disk_run_nodes, bill.disk_run_nodes_eur_month)
        for target, values in zip(out, (*parts, bill.operations_eur_month), strict=True):
            target[rows] = values
    out[0], out[2] = out[0].astype(np.int64), out[2].astype(np.int64)
    return tuple(out)


def _storage_node_setup(limits, providers: np.ndarray, number: np.ndarray, day: np.ndarray, count: np.ndarray):
    """Per sample row: the setup fees of the storage nodes its cluster bought that day (its count rose; a cluster
    of the starting fleet owns its first day's)."""
    counts = pd.Series(count, dtype=np.int64)
    before = counts.groupby(number).shift(1)
    before = before.fillna(pd.Series(np.where(day == (day.min() if len(day) else 0), count, 0)))
    added = np.maximum(count - before.to_numpy(dtype=np.int64), 0)
    fee = {p: storage_node_setup_eur(limits, str(p)) for p in np.unique(providers)}
    return added * np.array([fee[p] for p in providers], dtype=float)


def _cumulative_cost(timeseries: pd.DataFrame) -> np.ndarray:
    """EUR spent since the start: each day's monthly rate prorated to a day, plus that day's setup fees."""
    per_day = timeseries["cost_eur_month"] / DAYS_PER_YEAR_MONTH + timeseries["setup_eur"]
    return per_day.groupby(timeseries["cluster_id"], sort=False).cumsum().to_numpy()


def _summary(
    world: World,
    log: Log,
    seed: np.random.SeedSequence,
    timeseries: pd.DataFrame,
    customers: pd.DataFrame,
    active: np.ndarray,
) -> dict[str, Any]:
    config, draws = world.config, world.draws
    start = config.start

    def day_to_date(day: float | None) -> str | None:
        return None if day is None else (start + timedelta(days=int(math.floor(day)))).isoformat()

    fleet = timeseries[timeseries["cluster_id"] == "fleet"]
    last = fleet.iloc[-1]
    first = log.first_shard
    state = world.population.state
    departed = customers["departed_day"].to_numpy()
    lifetimes = departed[state == CHURNED] - draws.signup[state == CHURNED]
    return {
        "scenario": config.scenario.name,
        "limits_profile": config.profile.name,
        "limits_overrides": dict(config.scenario.limits_overrides),
        "seed_entropy": str(seed.entropy),
        "seed_spawn_key": list(seed.spawn_key),
        "start_date": start.isoformat(),
        "horizon_days": config.horizon,
        "end_date": day_to_date(config.horizon),
        "placements_attempted": int(log.attempted),
        "placements_rejected": int(log.rejected),
        "rejected_fraction": (log.rejected / log.attempted) if log.attempted else 0.0,
        "customers_signed_up": int(draws.customers),
        "customers_lost": int((state == LOST).sum()),
        "customers_churned": int((state == CHURNED).sum()),
        "customers_end": int((state == ACTIVE).sum()),
        "mean_lifetime_days_churned": float(lifetimes.mean()) if len(lifetimes) else None,
        "services_end": int(last["services"]),
        "volumes_end": int(last["volumes"]),
        "clusters_end": int(last["clusters"]),
        "run_nodes_end": int(last["run_nodes"]),
        "cost_eur_month_end": round(float(last["cost_eur_month"]), 2),
        "cost_eur_total": round(float(last["cost_eur_cumulative"]), 2),
        "n_plus": _n_plus(world),
        # Spill policy: services placed away from their home cluster instead of being rejected.
        "services_spilled": int(log.spilled),
        "cross_cluster_customers_end": len(world.away),
        # Their namespaces besides home: the clusters' (and the fleet row's) customers count each of them.
        "away_namespaces_end": sum(len(clusters) for clusters in world.away.values()),
        "first_shard_day": None if first is None else round(first["day"], 3),
        "first_shard_date": None if first is None else day_to_date(first["day"]),
        "first_shard_customers": None if first is None else first["customers"],
        "first_shard_limit": None if first is None else first["limit"],
        "first_shard_why": None if first is None else first["why"],
        "decision_table": decision_table(log.bindings, day_to_date, config.limits.storage),
        **cost_breakdown(fleet, active),
    }


def _n_plus(world: World) -> dict[str, Any]:
    """The failure headroom the operator kept (``operator.n_plus``) and what it costs at the end of the run."""
    config, fleet = world.config, world.fleet
    k = config.scenario.operator.n_plus.nodes
    active = np.array([info.active for info in fleet.clusters], dtype=bool)
    headroom = failure_headroom(fleet)[active]
    extra = k * int(active.sum())
    return {
        "nodes": k,
        "min_headroom_nodes_end": int(headroom.min()) if len(headroom) else None,
        "extra_run_nodes_end": extra,
        "extra_eur_month_end": round(extra * config.costs.run_node_eur_month, 2),
    }
