"""Planning: how full each limit is on each cluster, when it will be breached, by when to order, and what to do.

Pure functions over per-cluster daily levels (a run's time series, or a live fleet's history), shared by the
decision table (``sim.decisions``), the report's utilisation section, the recommendations (``sim.recommend``)
and the live forecast:

- ``measures(clusters, limits, policy)``: for every limit a decision can name, its used level and the level at
  which it is breached, per cluster and day (``used`` / ``capacity`` columns), and the share used.
- ``trend_per_day`` and ``breach_day``: a level's linear trend over a trailing window and the day it reaches its
  capacity at that trend (the projected breach, with no action taken).
- ``order_by_day``: the breach day minus the lead time of what answers it (``lead_days``).
- ``action``: what the operator does about a limit.

A breach is the hard limit (the capacity), not the operator's threshold: the operator orders before it. The
capacities of the catalogue's limits come from ``placement.catalogue`` (the same capacity the engine's filters
reject at); the operator's own shard triggers and cap come from its policy.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from placement.catalogue import BY_KEY
from placement.limits import Limits
from sim.decisions import REGION_DEMAND, VOLUMES_PREFIX, is_shard_limit, limit_name
from sim.scenario import OperatorPolicy

TREND_WINDOW_DAYS = 28  # the trailing window a projected breach extrapolates from
IDLE_SHARE = 0.5  # a resource below this share of its capacity while another limit binds is flagged idle
MAX_PROJECTION_DAYS = 50 * 365.25  # a breach further out than this at today's trend counts as never
SHARD_ETCD_DEFAULT_FRACTION = 0.8  # without shard.etcd_objects: shard at this share of the k8s etcd-object limit


def shard_etcd_trigger(policy: OperatorPolicy, limits: Limits) -> int:
    """The etcd objects per cluster at which the operator shards."""
    return policy.shard.etcd_objects or int(SHARD_ETCD_DEFAULT_FRACTION * limits.max_etcd_objects)


@dataclass(frozen=True, slots=True)
class Measure:
    """How one limit is measured on a cluster-day row of the time series: the used level and its capacity."""

    key: str
    name: str
    unit: str
    used: Callable[[pd.DataFrame], np.ndarray]
    capacity: Callable[[pd.DataFrame, Limits, OperatorPolicy], np.ndarray]


def _column(name: str) -> Callable[[pd.DataFrame], np.ndarray]:
    return lambda rows: rows[name].to_numpy(dtype=float)


def _catalogue_capacity(key: str) -> Callable[[pd.DataFrame, Limits, OperatorPolicy], np.ndarray]:
    """A cluster-level catalogue limit's capacity, per row by its storage provider and control-plane type."""
    limit = BY_KEY[key]

    def capacity(rows: pd.DataFrame, limits: Limits, policy: OperatorPolicy) -> np.ndarray:
        # The providers and the control-plane types numbered apart, a capacity per pair of them (a few): joining
        # the two texts row by row cost more than the rest of a run's measures.
        providers, provider_names = pd.factorize(rows["storage_provider"], use_na_sentinel=False)
        ctrls, ctrl_names = pd.factorize(rows["ctrl_node_type"], use_na_sentinel=False)
        values = np.empty((len(provider_names), len(ctrl_names)))
        for (i, provider), (j, ctrl) in itertools.product(enumerate(provider_names), enumerate(ctrl_names)):
            value = limit.capacity(limits, provider, limits.control_plane_types.get(ctrl))
            values[i, j] = math.nan if value is None else float(value)
        return values[providers, ctrls] if len(rows) else np.empty(0)

    return capacity


def _constant(value: Callable[[Limits, OperatorPolicy], float | None]):
    def capacity(rows: pd.DataFrame, limits: Limits, policy: OperatorPolicy) -> np.ndarray:
        figure = value(limits, policy)
        return np.full(len(rows), math.nan if figure is None else float(figure))

    return capacity


# The catalogue's resources, in the order the report lists them.
RESOURCES: tuple[Measure, ...] = (
    Measure("ram_per_run_node", "RAM", "bytes", _column("ram_requested_bytes"),
            lambda rows, limits, policy: rows["ram_allocatable_bytes"].to_numpy(dtype=float)),
    # Each run node's own max-pods, as the fleet gives it (the operator's run node type's, ``run_node_max_pods``).
    Measure("pods_per_node", "pods per node", "pods", _column("pods"),
            lambda rows, limits, policy: rows["run_nodes"].to_numpy(dtype=float)
            * limits.run_node_max_pods(policy.run_node_type)),
    Measure("volumes", "volumes", "volumes", _column("volumes"), _catalogue_capacity("volumes")),
    # The cluster's own capacity (``Limit.on_load``): its run nodes' usable disk, NaN where not known.
    Measure("disk", "raw disk", "bytes", _column("disk_bytes"), lambda rows, limits, policy:
            rows["disk_capacity_bytes"].to_numpy(dtype=float)),
    Measure("control_plane_objects", "etcd objects on the control plane", "objects", _column("etcd_objects"),
            _catalogue_capacity("control_plane_objects")),
    Measure("k8s_etcd_objects", "etcd objects (Kubernetes limit)", "objects", _column("etcd_objects"),
            _catalogue_capacity("k8s_etcd_objects")),
    Measure("k8s_services", "services", "services", _column("services"), _catalogue_capacity("k8s_services")),
    Measure("k8s_namespaces", "namespaces", "namespaces", _column("customers"),
            _catalogue_capacity("k8s_namespaces")),
    Measure("k8s_pods_cluster", "pods per cluster", "pods", _column("pods"), _catalogue_capacity("k8s_pods_cluster")),
    Measure("k8s_nodes", "nodes per cluster", "nodes", _column("run_nodes"), _catalogue_capacity("k8s_nodes")),
    # Servers take a node range of the pod CIDR as much as run nodes do (sim.triggers counts both).
    Measure("k8s_pod_cidr_nodes", "nodes in the pod CIDR", "nodes",
            lambda rows: (rows["run_nodes"] + rows["ctrl_nodes"]).to_numpy(dtype=float),
            _catalogue_capacity("k8s_pod_cidr_nodes")),
)  # fmt: skip
RESOURCE_BY_KEY = {m.key: m for m in RESOURCES}


def _ladder_top_capacity(rows: pd.DataFrame, limits: Limits, policy: OperatorPolicy) -> np.ndarray:
    """The control plane's capacity where no upgrade is left (``ladder_exhausted``), NaN on a rung an upgrade still
    answers: there the ladder's top is not what binds."""
    capacity = _catalogue_capacity("control_plane_objects")(rows, limits, policy)
    ladder = tuple(policy.control_plane.ladder or limits.control_plane_ladder)
    rung_of = {name: i for i, name in enumerate(ladder)}
    top = np.array([ladder_exhausted(policy, ladder, r) for r in range(len(ladder))], dtype=bool)
    rungs = np.array([rung_of.get(name, 0) for name in rows["ctrl_node_type"].astype(str)], dtype=int)
    return np.where(top[rungs], capacity, np.nan) if len(rows) else capacity


# The operator's own triggers: its settings, not the catalogue's.
POLICY_MEASURES: tuple[Measure, ...] = (
    Measure("control_plane_ladder_top", limit_name("control_plane_ladder_top"), "objects", _column("etcd_objects"),
            _ladder_top_capacity),
    Measure("max_run_nodes_per_cluster", limit_name("max_run_nodes_per_cluster"), "nodes",
            lambda rows: (rows["run_nodes"] + rows["run_nodes_on_order"]).to_numpy(dtype=float),
            _constant(lambda limits, policy: policy.max_run_nodes_per_cluster)),
    Measure("shard_nodes", limit_name("shard_nodes"), "nodes", _column("run_nodes"),
            _constant(lambda limits, policy: policy.shard.nodes)),
    Measure("shard_pods", limit_name("shard_pods"), "pods", _column("pods"),
            _constant(lambda limits, policy: policy.shard.pods)),
    Measure("shard_etcd_objects", limit_name("shard_etcd_objects"), "objects", _column("etcd_objects"),
            _constant(lambda limits, policy: shard_etcd_trigger(policy, limits))),
)  # fmt: skip
_MEASURE_BY_KEY = {m.key: m for m in RESOURCES + POLICY_MEASURES}


def measure_of(limit: str) -> Measure | None:
    """How a decision-table limit key is measured (``volumes:<provider>`` by the volumes resource); None for a
    region's demand or a cluster on order at a live start, which no cluster level measures."""
    if limit.startswith(VOLUMES_PREFIX):
        return RESOURCE_BY_KEY["volumes"]
    return _MEASURE_BY_KEY.get(limit)


def measures(clusters: pd.DataFrame, limits: Limits, policy: OperatorPolicy, keys=None) -> pd.DataFrame:
    """Per cluster-day row of ``clusters`` (a run's per-cluster time series): ``<key>_used``, ``<key>_capacity``
    and ``<key>_share`` for every measure (or those of ``keys``). A capacity of 0 or unknown gives a NaN share."""
    chosen = [_MEASURE_BY_KEY[k] for k in keys] if keys is not None else list(RESOURCES + POLICY_MEASURES)
    out = {"day": clusters["day"].to_numpy(), "cluster_id": clusters["cluster_id"].to_numpy()}
    for m in chosen:
        used = m.used(clusters)
        capacity = m.capacity(clusters, limits, policy)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(capacity > 0, used / np.where(capacity > 0, capacity, 1.0), np.nan)
        out[f"{m.key}_used"], out[f"{m.key}_capacity"], out[f"{m.key}_share"] = used, capacity, share
    return pd.DataFrame(out, index=clusters.index)


def trend_per_day(days: np.ndarray, levels: np.ndarray, now: float, window: float = TREND_WINDOW_DAYS) -> float:
    """A level's growth per day over the ``window`` days up to ``now``: a least-squares line through the samples
    in the window (0 with fewer than two samples). ``days`` ascending."""
    inside = (days <= now) & (days >= now - window)
    x, y = days[inside].astype(float), levels[inside].astype(float)
    if len(x) < 2:
        return 0.0
    dx = x - x.mean()
    spread = float(dx @ dx)
    return 0.0 if spread == 0 else float(dx @ (y - y.mean())) / spread


def breach_day(now: float, used: float, capacity: float, slope: float) -> float | None:
    """The day the level reaches its capacity at ``slope`` per day from ``now`` (``now`` if it already has);
    None when it never does (no growth, no capacity, or beyond ``MAX_PROJECTION_DAYS``)."""
    if not math.isfinite(capacity) or capacity <= 0:
        return None
    if used >= capacity:
        return now
    if slope <= 0 or (capacity - used) / slope > MAX_PROJECTION_DAYS:
        return None
    return now + (capacity - used) / slope


def order_by_day(breach: float | None, lead_days: float) -> float | None:
    """The last day to order what answers a breach on ``breach``, given its lead time."""
    return None if breach is None else breach - lead_days


# The limits more run nodes answer: RAM and pods per node, and the disk of replicas kept on the run nodes.
NODE_BOUGHT = ("ram_per_run_node", "pods_per_node", "disk")
ANSWERS = {"nodes": "run nodes", "upgrade": "control-plane upgrade", "cluster": "new cluster"}


def answer_kind(limit: str) -> str | None:
    """What kind of order answers a limit: ``nodes``, ``upgrade``, ``cluster`` (a shard) or None (a setting no
    order changes)."""
    if limit in NODE_BOUGHT:
        return "nodes"
    if limit == "control_plane_objects":
        return "upgrade"
    if is_shard_limit(limit) or limit == REGION_DEMAND:
        return "cluster"
    return None


def lead_days(policy: OperatorPolicy, kind: str | None) -> float:
    """The lead time of an order of ``kind`` (0 for None)."""
    if kind is None:
        return 0.0
    return {
        "nodes": policy.node_lead_days,
        "upgrade": policy.control_plane.lead_days,
        "cluster": policy.shard.lead_days,
    }[kind]


def action(limit: str, policy: OperatorPolicy, ladder: tuple[str, ...] | list[str], rung: int) -> str:
    """What the operator does when ``limit`` binds on a cluster on control-plane rung ``rung`` of ``ladder``."""
    if limit in NODE_BOUGHT:
        if policy.auto_add_nodes:
            return f"order run nodes ({policy.node_lead_days:g} days lead)"
        return "none: auto_add_nodes off"
    if limit == "control_plane_objects":
        if policy.auto_upgrade_control_plane and rung + 1 < len(ladder):
            return f"upgrade control plane {ladder[rung]} -> {ladder[rung + 1]}"
        return "none: no higher rung (see control_plane_ladder_top)"
    if is_shard_limit(limit) or limit == REGION_DEMAND:
        if policy.auto_shard:
            return "close the cluster to new customers; a new cluster takes them"
        return "none: auto_shard off, placements are rejected"
    return "none"


def ladder_exhausted(policy: OperatorPolicy, ladder: tuple[str, ...] | list[str], rung: int) -> bool:
    """Whether no upgrade is left on rung ``rung``: only then does the control plane's tight capacity shard."""
    return rung >= len(ladder) - 1 or not policy.auto_upgrade_control_plane


@dataclass(frozen=True, slots=True)
class Projection:
    """One limit on one cluster at day ``now``: its level, capacity, trend, projected breach and order-by day."""

    cluster_id: str
    limit: str
    used: float
    capacity: float
    share: float
    slope_per_day: float
    breach_day: float | None
    order_by_day: float | None
    action: str


def by_cluster(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each cluster's row positions in ``table``, in day order."""
    ids = table["cluster_id"].to_numpy()
    order = np.lexsort((table["day"].to_numpy(dtype=float), ids))
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]]) if len(ids) else np.empty(0, int)
    bounds = np.r_[starts, len(ids)]
    return {str(sorted_ids[a]): order[a:b] for a, b in itertools.pairwise(bounds)}


def project(
    clusters: pd.DataFrame,
    limits: Limits,
    policy: OperatorPolicy,
    ladder: tuple[str, ...] | list[str],
    now: float,
    keys: list[str] | None = None,
    window: float = TREND_WINDOW_DAYS,
    table: pd.DataFrame | None = None,
) -> list[Projection]:
    """For every cluster with a sample on day ``now`` and every limit (or those of ``keys``): where it stands
    and, at its trend over the trailing ``window``, when it is breached and by when its answer must be ordered.
    ``table``: ``measures`` of ``clusters`` when already computed."""
    chosen = keys or [m.key for m in RESOURCES + POLICY_MEASURES]
    inside = ((clusters["day"] <= now) & (clusters["day"] >= now - window)).to_numpy()
    history = clusters[inside]
    levels = measures(history, limits, policy, chosen) if table is None else table[inside]
    days = history["day"].to_numpy(dtype=float)
    ctrl = history["ctrl_node_type"].astype(str).to_numpy()
    columns = {
        (key, part): levels[f"{key}_{part}"].to_numpy(dtype=float)
        for key in chosen
        for part in ("used", "capacity", "share")
    }
    ladder_index = {name: i for i, name in enumerate(ladder)}
    out = []
    for cluster_id, rows in sorted(by_cluster(history).items()):
        if days[rows[-1]] != now:
            continue
        today, rung = rows[-1], ladder_index.get(ctrl[rows[-1]], 0)
        for key in chosen:
            if key == "control_plane_ladder_top" and not ladder_exhausted(policy, ladder, rung):
                continue
            used, capacity = columns[(key, "used")][today], columns[(key, "capacity")][today]
            slope = trend_per_day(days[rows], columns[(key, "used")][rows], now, window)
            breach = breach_day(now, used, capacity, slope)
            out.append(
                Projection(
                    cluster_id,
                    key,
                    float(used),
                    float(capacity),
                    float(columns[(key, "share")][today]),
                    slope,
                    breach,
                    order_by_day(breach, lead_days(policy, answer_kind(key))),
                    action(key, policy, ladder, rung),
                )
            )
    return out


# What a run node or a control-plane rung buys: when another limit binds, these may sit idle (paid, unused). A run
# node's disk counts where the replicas are on the run nodes (its share is NaN, and skipped, where no disk is known).
BOUGHT_RESOURCES = ("ram_per_run_node", "pods_per_node", "disk", "control_plane_objects")


def idle_while_binding(levels: pd.DataFrame, decisions: pd.DataFrame) -> list[dict]:
    """For each limit that forced run-node or cluster orders, the resources bought with run nodes or control
    planes that were mostly idle then: the median share used on the triggering clusters on the decision days,
    when below ``IDLE_SHARE`` ("RAM 21 % used while pods per run node binds").

    ``levels``: ``measures`` of the per-cluster time series (``day``, ``cluster_id`` and ``<key>_share``);
    ``decisions``: the decision table (``sim.decision_table``)."""
    taken = decisions[(decisions["status"] == "ordered") & decisions["triggered_by"].notna()]
    if taken.empty:
        return []
    index = levels.set_index(["cluster_id", "day"]).sort_index()
    out = []
    for limit, rows in taken.groupby("limit", sort=True):
        if answer_kind(str(limit)) == "upgrade":
            continue  # a control-plane upgrade buys no run node: what the nodes hold is not its concern
        binding = measure_of(str(limit))
        keys = [
            (cluster, float(math.floor(day)))
            for cluster, day in zip(rows["triggered_by"], rows["decided_day"], strict=True)
        ]
        found = index.reindex(keys)
        for key in BOUGHT_RESOURCES:
            if binding is not None and binding.key == key:
                continue
            shares = found[f"{key}_share"].to_numpy(dtype=float)
            shares = shares[np.isfinite(shares)]
            if not len(shares):
                continue
            median = float(np.median(shares))
            if median < IDLE_SHARE:
                out.append(
                    {
                        "binding_limit": str(limit),
                        "binding_name": limit_name(str(limit)),
                        "resource": key,
                        "resource_name": RESOURCE_BY_KEY[key].name,
                        "median_share": round(median, 4),
                        "decisions": len(shares),
                    }
                )
    return out


def utilisation_summary(levels: pd.DataFrame) -> list[dict]:
    """Per catalogue resource: its peak share of capacity over the clusters and days (where, when) and the
    highest share on the last day."""
    last = levels["day"].max()
    out = []
    for m in RESOURCES:
        share = levels[f"{m.key}_share"].to_numpy(dtype=float)
        if not np.isfinite(share).any():
            continue
        at = int(np.nanargmax(share))
        end = levels.loc[levels["day"] == last, f"{m.key}_share"].to_numpy(dtype=float)
        out.append(
            {
                "resource": m.key,
                "name": m.name,
                "peak_share": round(float(share[at]), 4),
                "peak_cluster": str(levels["cluster_id"].iloc[at]),
                "peak_day": float(levels["day"].iloc[at]),
                "end_max_share": round(float(np.nanmax(end)), 4) if np.isfinite(end).any() else None,
            }
        )
    return out
