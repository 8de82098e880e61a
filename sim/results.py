"""A run's results: tidy DataFrames and a JSON-ready summary with the decision table, written atomically.

``sim.collect`` builds them from a finished run's world and log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from placement.atomic import atomic_write


@dataclass
class SimResult:
    """What ``sim.run`` returns.

    ``timeseries``: one row per day per (delivered) cluster plus a ``cluster_id == "fleet"`` row per day.
    ``events``: the operator's and the engine's log (date, day, kind, cluster_id, detail).
    ``customers``: one row per customer (sign-up and departure day, state, home cluster).
    ``summary``: JSON-ready totals, the first shard, and the decision table. ``first_shard_limit`` is a
    decision-table limit key (``sim.decisions.limit_rows``), or ``region_demand`` when the first new cluster was
    opened for a region's customers; the run ends at ``horizon_days`` (whole days), the last row's day.
    ``packing``: with the scenario's ``packing_checks``, one row per check day and (region, storage provider)
    group: the greedy engine and the simulated fleet against the packing optimum (``sim.packing``); None
    without checks (and then no packing table is written).
    ``orders``: the procurement calendar (``sim.procurement.orders_frame``), written as ``orders.csv`` whatever the
    table format (a planner opens it in a spreadsheet).
    ``decisions``: the decision table (``sim.decision_table``): one row per decision the operator took or would
    have had to take, written as ``decisions.csv``; ``summary["decisions"]`` holds the same rows and
    ``summary["limits_never_bound"]`` each other limit's peak utilisation. ``summary["decision_table"]`` is the
    older per-limit view: the first time each limit bound.
    """

    scenario_name: str
    timeseries: pd.DataFrame
    events: pd.DataFrame
    customers: pd.DataFrame
    summary: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)
    packing: pd.DataFrame | None = None
    orders: pd.DataFrame = field(default_factory=pd.DataFrame)
    decisions: pd.DataFrame = field(default_factory=pd.DataFrame)

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
                atomic_write(target, lambda tmp, frame=frame: frame.to_parquet(tmp, index=False, engine="pyarrow"))
            elif fmt == "csv":
                atomic_write(target, lambda tmp, frame=frame: frame.to_csv(tmp, index=False))
            else:
                raise ValueError(f"unknown format {fmt!r}; use parquet or csv")
            written[name] = target
        written["orders"] = atomic_write(out / "orders.csv", lambda tmp: self.orders.to_csv(tmp, index=False))
        written["decisions"] = atomic_write(out / "decisions.csv", lambda tmp: self.decisions.to_csv(tmp, index=False))
        summary_text = json.dumps(self.summary, indent=2, sort_keys=True, default=_json_default) + "\n"
        written["summary"] = atomic_write(out / "summary.json", summary_text)
        if report:
            # Imported here: a run that writes no report (a sweep's) never loads matplotlib.
            from sim.report import render_report

            written["report"] = atomic_write(out / "report.html", render_report(self))
        return written


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value)}")
