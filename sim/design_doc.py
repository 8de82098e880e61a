"""The run against what the design document expects of its stage (``Scenario.design_doc``), said plainly.

A scenario that replays a stage of the design document names what the document expects of it: so many clusters
of so many run nodes for so many customers. A planner reads the run's fleet against that, so the output says
whether the two agree, and, where they do not, what the model needed instead and which limit made it so. Every
figure comes from the run's own tables: active customers from the customers table (signed up, not churned, not
lost), clusters and run nodes from the fleet's daily samples, the first new cluster and the limits that forced
the run-node orders from the summary.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sim import fmt
from sim.outcomes import percentiles
from sim.scenario import DesignDocStage


def design_doc_comparison(
    expected: DesignDocStage | None, timeseries: pd.DataFrame, active: np.ndarray, summary: dict[str, Any]
) -> dict[str, Any] | None:
    """The comparison ``summary["design_doc"]`` holds (None without a ``design_doc`` in the scenario): the figures
    on both sides, ``agrees`` (None when the run never reached the stage's size and nothing contradicts it yet),
    and ``lines``, the sentences the console and the report show. ``active``: the active customers on each of the
    fleet's sampled days (``sim.population.active_on``)."""
    if expected is None:
        return None
    fleet = timeseries[timeseries["cluster_id"] == "fleet"].sort_values("day")
    per_cluster = timeseries[timeseries["cluster_id"] != "fleet"]
    days = fleet["day"].to_numpy(dtype=float)
    reached = np.flatnonzero(active >= expected.customers)
    at = int(reached[0]) if len(reached) else len(days) - 1
    day = float(days[at])
    clusters = int(fleet["clusters"].iloc[at])
    run_nodes = int(fleet["run_nodes"].iloc[at])
    until = per_cluster[(per_cluster["day"] <= day) & (per_cluster["run_nodes"] > 0)]
    most_nodes = int(until["run_nodes"].max()) if len(until) else 0
    date = str(fleet["date"].iloc[at].date())
    too_many_clusters = clusters > expected.clusters
    nodes_range = expected.run_nodes_per_cluster
    too_many_nodes = nodes_range is not None and most_nodes > nodes_range[1]
    disagrees = too_many_clusters or too_many_nodes
    agrees: bool | None = False if disagrees else (True if len(reached) else None)
    comparison = {
        "source": expected.source,
        "customers": expected.customers,
        "expected_clusters": expected.clusters,
        "expected_run_nodes_per_cluster": None if nodes_range is None else list(nodes_range),
        "reached": bool(len(reached)),
        "day": day,
        "date": date,
        "active_customers": int(active[at]),
        "clusters": clusters,
        "run_nodes": run_nodes,
        "most_run_nodes_per_cluster": most_nodes,
        "agrees": agrees,
    }
    comparison["lines"] = _lines(comparison, summary)
    return comparison


def _lines(c: dict[str, Any], summary: dict[str, Any]) -> list[str]:
    nodes = c["expected_run_nodes_per_cluster"]
    of_nodes = "" if nodes is None else f" of {nodes[0]}-{nodes[1]} run nodes"
    expects = (
        f"The design document expects {c['expected_clusters']} cluster(s){of_nodes} for ~{c['customers']:,} "
        f"customers ({c['source']})."
    )
    if c["reached"]:
        run = (
            f"This run had {c['clusters']} cluster(s) with {c['run_nodes']} run nodes in all, the largest "
            f"{c['most_run_nodes_per_cluster']}, when its active customers reached {c['customers']:,} on {c['date']}."
        )
    else:
        run = (
            f"This run never reached {c['customers']:,} active customers: it ended on {c['date']} with "
            f"{c['active_customers']:,} on {c['clusters']} cluster(s) with {c['run_nodes']} run nodes in all, the "
            f"largest {c['most_run_nodes_per_cluster']}."
        )
    lines = [f"{expects} {run}"]
    if c["agrees"] is None:
        lines.append("Nothing in the run contradicts the design document so far, but the stage's size was not reached.")
        return lines
    if c["agrees"]:
        lines.append("The model agrees with the design document.")
        return lines
    why = []
    if summary.get("first_shard_date") is not None:
        why.append(
            f"its first new cluster was ordered on {summary['first_shard_date']} at "
            f"{summary['first_shard_customers']:,} customers, forced by {summary['first_shard_why']}"
        )
    ram = [item for item in summary.get("idle_resources") or () if item["resource"] == "ram_per_run_node"]
    if ram:
        most = max(ram, key=lambda item: item["decisions"])
        why.append(
            f"{most['binding_name']} forced {most['decisions']} of the run's orders while RAM was at a median "
            f"{most['median_share']:.0%} of allocatable on the clusters it triggered"
        )
    lines.append("The model disagrees with the design document" + (": " + "; ".join(why) + "." if why else "."))
    return lines


VERDICTS = {True: "agrees", False: "disagrees", None: "not reached"}


def design_doc_record(comparison: dict[str, Any] | None) -> dict[str, Any]:
    """What a sweep's run record keeps of the comparison (none without a ``design_doc`` in the scenario)."""
    if not comparison:
        return {}
    return {
        "design_doc": VERDICTS[comparison["agrees"]],
        "design_doc_clusters": comparison["clusters"],
        "design_doc_expected_clusters": comparison["expected_clusters"],
        "design_doc_customers": comparison["customers"],
    }


def sweep_verdict(runs: pd.DataFrame) -> str | None:
    """The comparison over a sweep's successful runs, in one sentence (None when the scenario states none)."""
    if "design_doc" not in runs.columns:
        return None
    done = runs[(runs["status"] == "ok") & runs["design_doc"].notna()]
    if done.empty:
        return None
    counts = done["design_doc"].value_counts()
    low, mid, high = (fmt.number(value, 1) for value in percentiles(done["design_doc_clusters"]))
    first = done.iloc[0]
    return (
        f"Against the design document ({int(first['design_doc_expected_clusters'])} cluster(s) for "
        f"~{int(first['design_doc_customers']):,} customers): the model disagrees in {counts.get('disagrees', 0)} "
        f"of {len(done)} runs, agrees in {counts.get('agrees', 0)} and did not reach the stage's size in "
        f"{counts.get('not reached', 0)}; clusters when it reached it (or at the end): p10 {low}, p50 {mid}, "
        f"p90 {high}."
    )
