"""What a run's operator bought and what the fleet cost, as a planner reads it.

- ``orders_frame``: the procurement calendar (``orders.csv``): every order the operator placed, what it was, for
  which cluster, the date it had to be ordered by (the day the operator decided) and the date it arrives, the lead
  time, and what it adds to the bill (EUR/month) and costs once (setup fees).
- ``cost_breakdown``: the spend over the horizon split into run nodes, control plane, storage (object storage for
  volume backups) and setup fees, in total and per customer-month.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from sim.config import RunConfig
from sim.distributions import DAYS_PER_MONTH
from sim.log import OrderRecord

ORDER_COLUMNS = [
    "order_by",
    "arrives",
    "lead_days",
    "kind",
    "cluster_id",
    "what",
    "quantity",
    "eur_month",
    "setup_eur",
    "arrives_within_horizon",
    "triggered_by",
    "limit",
    "decided_day",
]
KIND_NAMES = {"nodes": "run nodes", "cluster": "new cluster", "upgrade": "control-plane upgrade"}
BREAKDOWN = (
    ("run_nodes", "run_nodes_eur_month", "run nodes"),
    ("control_plane", "control_plane_eur_month", "control plane"),
    ("storage_backups", "backup_eur_month", "storage: object storage for volume backups"),
    ("storage_nodes", "storage_nodes_eur_month", "storage: dedicated storage nodes"),
    ("storage_disk_run_nodes", "disk_run_nodes_eur_month", "storage: run nodes for the replicas' disk"),
    ("storage_operations", "operations_eur_month", "storage: operations per cluster-month (estimate)"),
)


def orders_frame(config: RunConfig, orders: list[OrderRecord], clusters: list[Any]) -> pd.DataFrame:
    """One row per order of the log (``sim.log.OrderRecord``), with the cluster and limit that triggered it
    (``triggered_by`` None: a region's demand) and the day it was decided."""
    costs = config.costs
    node_type = config.scenario.operator.run_node_type or config.profile.costs.default_run_node_type
    rows = []
    for order in orders:
        due, kind, number, amount = order.due, order.kind, order.cluster, order.amount
        rung, ctrl_nodes, decided = order.ctrl_rung, order.ctrl_nodes, order.day
        info = clusters[number]
        lead = due - decided
        if kind == "nodes":
            what = f"{amount} × {node_type} run node{'s' if amount != 1 else ''}"
            monthly, setup, quantity = amount * costs.run_node_eur_month, amount * costs.run_node_setup_eur, amount
        elif kind == "cluster":
            ctrl = config.ladder[rung]
            what = (
                f"new {info.provider} cluster in {info.region}: {ctrl_nodes} × {ctrl} control plane, "
                f"{amount} × {node_type} run nodes"
            )
            monthly = amount * costs.run_node_eur_month + ctrl_nodes * costs.ctrl_eur_month[rung]
            setup, quantity = amount * costs.run_node_setup_eur, amount
        else:
            what = f"control plane {config.ladder[rung]} → {config.ladder[rung + 1]} ({ctrl_nodes} node(s))"
            monthly = ctrl_nodes * (costs.ctrl_eur_month[rung + 1] - costs.ctrl_eur_month[rung])
            setup, quantity = 0.0, ctrl_nodes
        rows.append(
            {
                "order_by": config.start + timedelta(days=int(np.floor(decided))),
                "decided_day": float(decided),
                "arrives": config.start + timedelta(days=int(np.ceil(due - 1e-9))),
                "lead_days": float(lead),
                "kind": KIND_NAMES[kind],
                "cluster_id": info.cluster.id,
                "what": what,
                "quantity": int(quantity),
                "eur_month": round(float(monthly), 2),
                "setup_eur": round(float(setup), 2),
                "arrives_within_horizon": bool(due <= config.horizon),
                "triggered_by": None if order.trigger is None else clusters[order.trigger].cluster.id,
                "limit": order.limit,
            }
        )
    frame = pd.DataFrame(rows, columns=ORDER_COLUMNS)
    return frame.sort_values(["order_by", "cluster_id"], kind="stable").reset_index(drop=True)


def cost_breakdown(fleet: pd.DataFrame, active: np.ndarray) -> dict[str, Any]:
    """Spend over the horizon by part (EUR), the customer-months served, and the cost per customer-month.

    Each daily sample counts one day: a monthly rate contributes rate / DAYS_PER_MONTH, setup fees their amount,
    so the parts add up to ``cost_eur_total``. Customer-months are the active customers on each sampled day
    (``active``, ``sim.population.active_on``: each once, not the fleet's namespaces, which count a customer
    whose services spilled onto another cluster there too) summed over the days.
    """
    parts = {key: float(fleet[column].sum()) / DAYS_PER_MONTH for key, column, _ in BREAKDOWN}
    parts["setup_fees"] = float(fleet["setup_eur"].sum())
    customer_months = float(np.sum(active)) / DAYS_PER_MONTH
    total = sum(parts.values())
    per_customer = {k: (v / customer_months if customer_months else None) for k, v in parts.items()}
    return {
        "cost_breakdown_eur": {k: round(v, 2) for k, v in parts.items()},
        "customer_months": round(customer_months, 2),
        "cost_eur_per_customer_month": round(total / customer_months, 4) if customer_months else None,
        "cost_per_customer_month_breakdown_eur": {
            k: (None if v is None else round(v, 4)) for k, v in per_customer.items()
        },
    }
