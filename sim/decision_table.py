"""The decision table: one row per decision the operator took, or would have had to take.

- Every order the operator placed (``sim.procurement.orders_frame``): run nodes, a control-plane upgrade, a new
  cluster (a shard). Each row carries the day it was decided and the day it takes effect (the lead time later),
  the cluster it was for and the cluster whose limit triggered it, that limit's level and capacity then, the
  breach the limit's trend projected had nothing been ordered, the customers of that cluster and of the fleet,
  and the order's cost.
- Every breach nobody answered (a limit reached its capacity on a cluster and no order of the kind that answers
  it was ever triggered there, e.g. with the operator switched off): what would have had to be ordered, and by
  when.
- Every breach the trend projects shortly after the horizon, for the orders due then.

Limits that never appear are collapsed into ``never_bound``: each one's peak utilisation (cluster and date).
Levels, trends, breach and order-by days come from ``sim.planning``.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from placement.limits import Limits
from sim.decisions import limit_name
from sim.planning import (
    ANSWERS,
    POLICY_MEASURES,
    RESOURCES,
    TREND_WINDOW_DAYS,
    action,
    answer_kind,
    breach_day,
    by_cluster,
    lead_days,
    measure_of,
    measures,
    project,
    trend_per_day,
)
from sim.scenario import OperatorPolicy

ORDERED, UNANSWERED, AFTER_HORIZON = "ordered", "breached, not ordered", "due after the horizon"
DECISION_COLUMNS = [
    "status",
    "decided_date",
    "decided_day",
    "effective_date",
    "lead_days",
    "kind",
    "cluster_id",
    "triggered_by",
    "limit",
    "limit_name",
    "value",
    "capacity",
    "unit",
    "share",
    "projected_breach_date",
    "cluster_customers",
    "fleet_customers",
    "action",
    "eur_month",
    "setup_eur",
]
# The operator's scale-down events (sim.operator): decisions without a limit or a lead time.
SCALE_DOWN_EVENTS = {"node_removed": "run node removed", "cluster_decommissioned": "cluster decommissioned"}
# After the horizon, breaches projected within this many days are listed (orders due soon after the end).
LOOKAHEAD_DAYS = 90


def _date(start: date, day: float | None) -> str | None:
    if day is None or not math.isfinite(day):
        return None
    return (start + timedelta(days=int(math.floor(day)))).isoformat()


def _number(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


class _Levels:
    """Per cluster, its measured levels by day (for the value, the trend and the customers at a decision)."""

    def __init__(self, clusters: pd.DataFrame, table: pd.DataFrame):
        self.table = table.assign(customers=clusters["customers"].to_numpy())
        whole = {c: self.table[c].to_numpy(dtype=float) for c in self.table.columns if c != "cluster_id"}
        self.by_cluster: dict[str, dict[str, np.ndarray]] = {
            cid: {c: values[rows] for c, values in whole.items()} for cid, rows in by_cluster(self.table).items()
        }

    def _position(self, cluster_id: str | None, day: float) -> tuple[dict[str, np.ndarray], int] | None:
        """The cluster's columns and the position of its last sample on or before ``day``."""
        if cluster_id not in self.by_cluster:
            return None
        columns = self.by_cluster[cluster_id]
        position = int(np.searchsorted(columns["day"], math.floor(day), side="right")) - 1
        return None if position < 0 else (columns, position)

    def at(self, cluster_id: str | None, day: float) -> dict[str, float] | None:
        found = self._position(cluster_id, day)
        if found is None:
            return None
        columns, position = found
        return {name: values[position] for name, values in columns.items()}

    def breach(self, cluster_id: str, key: str, day: float) -> float | None:
        """The breach of ``key`` on the cluster that its trend up to ``day`` projects, had nothing been done."""
        found = self._position(cluster_id, day)
        if found is None:
            return None
        columns, position = found
        days, used = columns["day"], columns[f"{key}_used"]
        first = int(np.searchsorted(days, days[position] - TREND_WINDOW_DAYS, side="left"))
        window = slice(first, position + 1)
        slope = trend_per_day(days[window], used[window], days[position], TREND_WINDOW_DAYS)
        return breach_day(days[position], used[position], columns[f"{key}_capacity"][position], slope)


def decision_rows(
    orders: pd.DataFrame,
    clusters: pd.DataFrame,
    fleet: pd.DataFrame,
    limits: Limits,
    policy: OperatorPolicy,
    ladder: tuple[str, ...],
    start: date,
    horizon: float,
    table: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The decision table (``DECISION_COLUMNS``, by decided date) and the limits that never bound.

    ``orders``: the run's procurement calendar; ``clusters``/``fleet``: its per-cluster and fleet time series;
    ``table``: ``sim.planning.measures`` of ``clusters`` when already computed; ``events``: the event log, whose
    scale-down events (``SCALE_DOWN_EVENTS``) are decisions too."""
    levels = _Levels(clusters, measures(clusters, limits, policy) if table is None else table)
    fleet_customers = dict(zip(fleet["day"].astype(int), fleet["customers"].astype(int), strict=False))
    rows: list[dict[str, Any]] = []

    def row(status, day, effective, kind, cluster_id, trigger, limit, act, eur_month=None, setup=None, breach=None):
        """A decision on ``day``; its level is the trigger's then, or at the breach when one is given."""
        measure = measure_of(limit)
        seen = day if breach is None else min(breach, float(clusters["day"].max()))
        level = levels.at(trigger, seen) if trigger is not None else None
        value = capacity = share = None
        if measure is not None and level is not None:
            value, capacity = _number(level[f"{measure.key}_used"]), _number(level[f"{measure.key}_capacity"])
            share = _number(level[f"{measure.key}_share"])
            if breach is None:
                breach = levels.breach(trigger, measure.key, day)
        rows.append(
            {
                "status": status,
                "decided_date": _date(start, day),
                "decided_day": round(float(day), 3),
                "effective_date": _date(start, effective),
                "lead_days": None if effective is None else round(float(effective - day), 3),
                "kind": ANSWERS.get(kind, kind),
                "cluster_id": cluster_id,
                "triggered_by": trigger,
                "limit": limit,
                "limit_name": limit_name(limit),
                "value": value,
                "capacity": capacity,
                "unit": None if measure is None else measure.unit,
                "share": None if share is None else round(share, 4),
                "projected_breach_date": _date(start, breach),
                "cluster_customers": None if level is None else int(level["customers"]),
                "fleet_customers": fleet_customers.get(int(math.floor(seen))),
                "action": act,
                "eur_month": eur_month,
                "setup_eur": setup,
            }
        )

    kinds = {"run nodes": "nodes", "control-plane upgrade": "upgrade", "new cluster": "cluster"}
    answered: set[tuple[str, str]] = set()
    for order in orders.itertuples():
        kind = kinds[order.kind]
        trigger = None if pd.isna(order.triggered_by) else order.triggered_by
        answered.add((trigger, kind))
        decided = order.decided_day
        row(ORDERED, decided, decided + order.lead_days, kind, order.cluster_id, trigger, order.limit, order.what,
            float(order.eur_month), float(order.setup_eur))  # fmt: skip

    # Breaches no order answered: what a working operator would have ordered, a lead time before.
    switched_on = policy.model_copy(
        update={"auto_add_nodes": True, "auto_upgrade_control_plane": True, "auto_shard": True}
    )
    table = levels.table
    ids = table["cluster_id"].to_numpy()
    days = table["day"].to_numpy(dtype=float)
    providers = clusters["storage_provider"].astype(str).to_numpy()
    rung_of = {name: i for i, name in enumerate(ladder)}
    rungs = np.array([rung_of.get(name, 0) for name in clusters["ctrl_node_type"].astype(str)], dtype=int)
    for measure in RESOURCES + POLICY_MEASURES:
        kind = answer_kind(measure.key)
        hit = table[f"{measure.key}_share"].to_numpy(dtype=float) >= 1.0
        positions = np.flatnonzero(hit)
        for position in positions[np.lexsort((days[positions], ids[positions]))]:
            cluster_id = str(ids[position])
            if (cluster_id, kind) in answered:
                continue
            day, rung, lead = float(days[position]), int(rungs[position]), lead_days(policy, kind)
            limit = measure.key if measure.key != "volumes" else f"volumes:{providers[position]}"
            did = action(limit, policy, ladder, rung)
            needed = "would need: " + action(limit, switched_on, ladder, rung)
            needed += f"; not done: {did.removeprefix('none: ')}" if did.startswith("none") else ""
            row(UNANSWERED, day - lead, day, kind, cluster_id, cluster_id, limit, needed, breach=day)
            answered.add((cluster_id, kind))

    # Orders due shortly after the horizon.
    last = clusters[clusters["day"] == clusters["day"].max()]
    pending = dict(zip(last["cluster_id"], last["run_nodes_on_order"], strict=False))
    still_open = dict(zip(last["cluster_id"], last["open"], strict=False))
    for p in project(clusters, limits, policy, ladder, float(clusters["day"].max()), table=levels.table):
        kind = answer_kind(p.limit)
        if p.breach_day is None or p.breach_day > horizon + LOOKAHEAD_DAYS or p.share >= 1.0:
            continue
        on_order = kind == "nodes" and pending.get(p.cluster_id, 0) > 0
        if on_order or (kind == "cluster" and not still_open[p.cluster_id]):
            continue  # already answered: nodes on order, or the cluster is closed to new customers
        provider = last.loc[last["cluster_id"] == p.cluster_id, "storage_provider"].iloc[0]
        limit = p.limit if p.limit != "volumes" else f"volumes:{provider}"
        decided = max(p.order_by_day, float(horizon))
        row(AFTER_HORIZON, decided, decided + lead_days(policy, kind), kind, p.cluster_id, p.cluster_id, limit,
            "order by then: " + p.action, breach=p.breach_day)  # fmt: skip

    # Scale-down: the operator gives back what it no longer needs (no lead time, no limit: low utilisation).
    if events is not None and len(events):
        for event in events[events["kind"].isin(SCALE_DOWN_EVENTS)].itertuples():
            day = float(event.day)
            rows.append(
                dict.fromkeys(DECISION_COLUMNS)
                | {
                    "status": "scaled down",
                    "decided_date": _date(start, day),
                    "decided_day": round(day, 3),
                    "effective_date": _date(start, day),
                    "lead_days": 0.0,
                    "kind": SCALE_DOWN_EVENTS[event.kind],
                    "cluster_id": event.cluster_id,
                    "triggered_by": event.cluster_id,
                    "limit_name": "utilisation under the operator's scale-down threshold",
                    "fleet_customers": fleet_customers.get(int(math.floor(day))),
                    "action": event.detail,
                }
            )

    frame = pd.DataFrame(rows, columns=DECISION_COLUMNS)
    frame = frame.sort_values(["decided_date", "cluster_id"], kind="stable").reset_index(drop=True)
    return frame, never_bound(table, clusters, frame, start)


def never_bound(table: pd.DataFrame, clusters: pd.DataFrame, decisions: pd.DataFrame, start: date) -> list[dict]:
    """Each limit no decision names: its peak share of capacity over the clusters and days (None: not set)."""
    named = {m.key for m in (measure_of(limit) for limit in decisions["limit"].dropna()) if m is not None}
    out = []
    for measure in RESOURCES + POLICY_MEASURES:
        if measure.key in named:
            continue
        share = table[f"{measure.key}_share"].to_numpy(dtype=float)
        if not np.isfinite(share).any():
            out.append({"limit": measure.key, "name": measure.name, "peak_share": None, "cluster_id": None,
                        "date": None})  # fmt: skip
            continue
        at = int(np.nanargmax(share))
        out.append(
            {
                "limit": measure.key,
                "name": measure.name,
                "peak_share": round(float(share[at]), 4),
                "cluster_id": str(table["cluster_id"].iloc[at]),
                "date": _date(start, float(table["day"].iloc[at])),
            }
        )
    return out
