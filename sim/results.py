"""A run's results: tidy DataFrames, a JSON-ready summary with the decision table, and atomic writing."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.model import ACTIVE, CHURNED, LOST, SAMPLED, Simulation

DAYS_PER_YEAR_MONTH = 365.25 / 12
EVENT_COLUMNS = ["date", "day", "kind", "cluster_id", "detail"]


@dataclass
class SimResult:
    """What ``sim.run`` returns.

    ``timeseries``: one row per day per (delivered) cluster plus a ``cluster_id == "fleet"`` row per day.
    ``events``: the operator's and the engine's log (date, day, kind, cluster_id, detail).
    ``customers``: one row per customer (sign-up and departure day, state, home cluster).
    ``summary``: JSON-ready totals, the first shard, and the decision table. ``first_shard_limit`` is a
    decision-table limit key (``sim.decisions.LIMITS``), or ``region_demand`` when the first new cluster was
    opened for a region's customers; the run ends at ``horizon_days`` (whole days), the last row's day.
    ``packing``: with the scenario's ``packing_checks``, one row per check day and (region, storage provider)
    group: the greedy engine and the simulated fleet against the packing optimum (``sim.packing``); None
    without checks (and then no packing table is written).
    """

    scenario_name: str
    timeseries: pd.DataFrame
    events: pd.DataFrame
    customers: pd.DataFrame
    summary: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)
    packing: pd.DataFrame | None = None

    def write(self, out_dir: str | Path, *, report: bool = True, fmt: str = "parquet") -> dict[str, Path]:
        """Write the tables (Parquet or CSV), summary.json and report.html, each atomically."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        tables = [("timeseries", self.timeseries), ("events", self.events), ("customers", self.customers)]
        if self.packing is not None:
            tables.append(("packing", self.packing))
        for name, frame in tables:
            target = out / f"{name}.{fmt}"
            if fmt == "parquet":
                _atomic(target, lambda tmp, frame=frame: frame.to_parquet(tmp, index=False, engine="pyarrow"))
            elif fmt == "csv":
                _atomic(target, lambda tmp, frame=frame: frame.to_csv(tmp, index=False))
            else:
                raise ValueError(f"unknown format {fmt!r}; use parquet or csv")
            written[name] = target
        summary_text = json.dumps(self.summary, indent=2, sort_keys=True, default=_json_default) + "\n"
        written["summary"] = out / "summary.json"
        _atomic(written["summary"], lambda tmp: Path(tmp).write_text(summary_text))
        if report:
            from sim.report import render_report

            html = render_report(self)
            written["report"] = out / "report.html"
            _atomic(written["report"], lambda tmp: Path(tmp).write_text(html))
        return written


def _atomic(target: Path, write: Callable[[str], None]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are ordinary files
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value)}")


def collect(sim: Simulation) -> SimResult:
    start = sim.start
    world = sim.world
    ids = np.array([info.cluster.id for info in world.clusters], dtype=object)
    regions = np.array([info.region for info in world.clusters], dtype=object)
    providers = np.array([info.provider for info in world.clusters], dtype=object)
    samples = np.vstack(sim.samples)
    col = {name: samples[:, 2 + j] for j, name in enumerate(SAMPLED)}
    active = samples[:, 2 + len(SAMPLED)] > 0
    samples = samples[active]
    col = {name: values[active] for name, values in col.items()}
    day = samples[:, 0].astype(np.int64)
    number = samples[:, 1].astype(np.int64)
    is_open = samples[:, 3 + len(SAMPLED)] > 0
    setup = samples[:, 4 + len(SAMPLED)]
    rung = col["ctrl_rung"].astype(np.int64)
    costs, limits = sim.costs, sim.limits
    compute = costs.compute_eur_month(col["nodes"], rung, col["ctrl_nodes"])
    backup = np.zeros(len(day))
    days = int(day.max()) + 1 if len(day) else 0
    fleet_backup = np.zeros(days)
    for d in np.unique(day):
        rows = day == d
        share, total = costs.backup_eur_month(col["volume_bytes"][rows])
        backup[rows] = share
        fleet_backup[d] = total
    ladder = np.array(world.ladder, dtype=object)
    tight = np.array([limits.control_plane(n).tight_objects for n in world.ladder])
    comfortable = np.array([limits.control_plane(n).comfortable_objects for n in world.ladder])
    max_volumes = np.array([limits.storage[p].max_volumes for p in providers])
    clusters = pd.DataFrame(
        {
            "day": day,
            "cluster_id": ids[number],
            "region": regions[number],
            "storage_provider": providers[number],
            "open": is_open,
            "clusters": np.ones(len(day), dtype=np.int64),
            "customers": col["customers"].astype(np.int64),
            "services": col["services"].astype(np.int64),
            "pods": col["pods"].astype(np.int64),
            "volumes": col["volumes"].astype(np.int64),
            "max_volumes": max_volumes[number].astype(np.int64),
            "volume_bytes": col["volume_bytes"].astype(np.int64),
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
            "compute_eur_month": compute,
            "backup_eur_month": backup,
            "cost_eur_month": compute + backup,
            "setup_eur": setup,
        }
    )
    fleet_daily = np.array(sim.fleet_samples, dtype=np.float64).reshape(-1, 4)
    summed = [
        "clusters",
        "customers",
        "services",
        "pods",
        "volumes",
        "max_volumes",
        "volume_bytes",
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
        "backup_eur_month",
        "cost_eur_month",
        "setup_eur",
    ]
    fleet = clusters.groupby("day", sort=True)[summed].sum().reindex(range(len(fleet_daily)), fill_value=0)
    fleet["backup_eur_month"] = fleet_backup[: len(fleet)] if len(fleet_backup) >= len(fleet) else 0.0
    fleet["cost_eur_month"] = fleet["compute_eur_month"] + fleet["backup_eur_month"]
    fleet = fleet.reset_index()
    fleet["cluster_id"] = "fleet"
    fleet["region"] = None
    fleet["storage_provider"] = None
    fleet["open"] = clusters.groupby("day")["open"].any().reindex(range(len(fleet)), fill_value=False).to_numpy()
    fleet["ctrl_node_type"] = None
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

    events = pd.DataFrame(sim.events, columns=["day", "kind", "cluster_id", "detail"])
    events = events.sort_values("day", kind="stable").reset_index(drop=True)
    events.insert(0, "date", pd.Timestamp(start) + pd.to_timedelta(np.floor(events["day"]), unit="D"))

    draws = sim.draws
    state_names = np.array(["pending", "active", "lost", "churned"], dtype=object)
    home = sim.home
    customers = pd.DataFrame(
        {
            "customer": np.arange(draws.customers, dtype=np.int64),
            "signup_day": draws.signup,
            "departed_day": sim.departed,
            "state": state_names[sim.state],
            "region": np.array(sim.region_names, dtype=object)[draws.region],
            "cluster_id": np.where(home >= 0, ids[np.maximum(home, 0)] if len(ids) else None, None),
            "services": np.diff(draws.service_start),
        }
    )
    summary = _summary(sim, timeseries, customers)
    meta: dict[str, Any] = {"profile": sim.profile.name}
    packing = None
    if sim.scenario.packing_checks is not None:
        from sim.packing import packing_frame, packing_summary

        packing = packing_frame(sim.packing_rows)
        summary["packing_checks"] = packing_summary(sim.packing_rows)
        meta["packing_wall_seconds"] = list(sim.packing_wall_seconds)  # machine-dependent: never written
    return SimResult(sim.scenario.name, timeseries, events, customers, summary, meta, packing)


def _fleet_last(column: pd.Series) -> pd.Series:
    if column.name == "cluster_id":
        return column.map(lambda v: (v == "fleet", v))
    return column


def _cumulative_cost(timeseries: pd.DataFrame) -> np.ndarray:
    """EUR spent since the start: each day's monthly rate prorated to a day, plus that day's setup fees."""
    per_day = timeseries["cost_eur_month"] / DAYS_PER_YEAR_MONTH + timeseries["setup_eur"]
    return per_day.groupby(timeseries["cluster_id"], sort=False).cumsum().to_numpy()


def _summary(sim: Simulation, timeseries: pd.DataFrame, customers: pd.DataFrame) -> dict[str, Any]:
    start = sim.start

    def day_to_date(day: float | None) -> str | None:
        return None if day is None else (start + timedelta(days=int(math.floor(day)))).isoformat()

    fleet = timeseries[timeseries["cluster_id"] == "fleet"]
    last = fleet.iloc[-1]
    first = sim.operator.first_shard
    state = sim.state
    departed = customers["departed_day"].to_numpy()
    lifetimes = departed[state == CHURNED] - sim.draws.signup[state == CHURNED]
    seed = sim.seed_sequence
    return {
        "scenario": sim.scenario.name,
        "limits_profile": sim.profile.name,
        "limits_overrides": dict(sim.scenario.limits_overrides),
        "seed_entropy": str(seed.entropy),
        "seed_spawn_key": list(seed.spawn_key),
        "start_date": start.isoformat(),
        "horizon_days": sim.horizon,
        "end_date": day_to_date(sim.horizon),
        "placements_attempted": int(sim.attempted),
        "placements_rejected": int(sim.rejected),
        "rejected_fraction": (sim.rejected / sim.attempted) if sim.attempted else 0.0,
        "customers_signed_up": int(sim.draws.customers),
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
        "first_shard_day": None if first is None else round(first["day"], 3),
        "first_shard_date": None if first is None else day_to_date(first["day"]),
        "first_shard_customers": None if first is None else first["customers"],
        "first_shard_limit": None if first is None else first["limit"],
        "first_shard_why": None if first is None else first["why"],
        "decision_table": sim.operator.watch.table(start, day_to_date),
    }
