"""A base scenario plus a live state gives the scenario that starts from that state, and what is measured.

    state = read_source(scenario.start_from or source, now)
    started = start_from(base, state)                # started.scenario runs like any scenario
    started.provenance                               # every figure: measured, estimated or assumed, and from where

What the live state gives (measured): the clusters (region, storage provider, status, control-plane type, run
nodes); the customers in the router's ledger with their active services' RAM and volume bytes (a customer on
two clusters counts once per cluster: the simulator gives each customer one home); the sign-ups, the region mix
of new customers and churn, fitted (``sim.growth_fit``) when the ledger holds enough history.

Estimated: customers the router never saw (``sim.start_from.estimated``). A cluster's newest load snapshot counts
more customer namespaces than the ledger holds on that cluster as of the snapshot; the difference are customers
placed some other way (before the router, by hand). Each gets an equal share of the snapshot's services, requested
RAM and volumes the ledger does not account for; their volume sizes are the base mix's mean (a snapshot has no
sizes).

Assumed, from the base scenario: the customer mix of new customers (each figure checked against the ledger, and
the ledger's used where the two differ: ``sim.start_from.mix``), the operator's policy, the limits profile, the run
node type (so a run node's size), and growth and churn when they could not be fitted. A source that does
not know a cluster's region or provider takes the base fleet's cluster of the same id, else its first region.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from placement.model import ClusterLoad
from sim.churn_fit import ChurnFit
from sim.config import resolve_limits, run_node_cap
from sim.growth_fit import GrowthFit
from sim.growth_recent import churn_from_ledger, growth_from_ledger
from sim.initial_fleet import mean_size
from sim.scenario import ClusterSpec, Fleet, Scenario
from sim.start_from.assumed_trend import assumed_rise
from sim.start_from.draws import unaged_note
from sim.start_from.estimated import estimated_customers, ledger_at, unmarked_note
from sim.start_from.gaps import record_gaps, start_levels
from sim.start_from.mix import check_mix, snapshot_notes
from sim.start_from.on_order import clusters_on_order
from sim.start_from.regions import (
    asked_regions,
    customer_regions,
    signup_regions,
    uncovered_regions_note,
    unseen_regions_note,
)
from sim.start_from.run_nodes import NOT_MEASURED, measured_nodes, unschedulable_note
from sim.start_from.sources import (
    HISTORY_DAYS,
    LiveCluster,
    LiveState,
    StartFromError,
    read_router_db,
    read_snapshots,
    read_state,
    stale_note,
)
from sim.start_from.spec import (
    ASSUMED,
    CLOSED_STATUSES,
    ESTIMATED,
    MEASURED,
    ON_ORDER_STATUS,
    LiveCustomer,
    LiveFleet,
    LiveLevel,
    RouterDatabase,
    SnapshotFolder,
    StateFile,
    source_of,
)


def read_source(source: Any, now: datetime | None = None) -> LiveState:
    """Read a ``start_from`` source (a spec model, its dict, or a bare string) as of ``now`` (default: the clock)."""
    now = now or datetime.now(UTC)
    if isinstance(source, str):
        source = source_of(source)
    if isinstance(source, dict):
        kind, where = source["kind"], source.get("url") or source.get("path")
    else:
        kind, where = source.kind, getattr(source, "url", None) or getattr(source, "path", None)
    if kind == "router_db":
        return read_router_db(where, now)
    if kind == "snapshots":
        return read_snapshots(where, now)
    return read_state(where, now)


@dataclass
class StartedScenario:
    """The scenario starting from a live state; ``provenance``: one row per figure (figure, value, basis, source);
    ``warnings``: what the source said that the simulator cannot hold as it is."""

    scenario: Scenario
    state: LiveState
    growth_fit: GrowthFit | None
    churn_fit: ChurnFit | None
    provenance: pd.DataFrame
    warnings: list[str] = field(default_factory=list)

    @property
    def measured_customers(self) -> int:
        live = self.scenario.start_from.live
        return sum(c.measured for c in live.customers)

    @property
    def estimated_customers(self) -> int:
        live = self.scenario.start_from.live
        return sum(not c.measured for c in live.customers)


class _Record:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def __call__(self, figure: str, value: Any, basis: str, source: str) -> None:
        self.rows.append({"figure": figure, "value": str(value), "basis": basis, "source": source})

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["figure", "value", "basis", "source"])


def _ledger_customers(state: LiveState) -> dict[str, list[tuple[str, list[int], list[int], pd.Timestamp]]]:
    """Per cluster: (customer, RAM per active service, volume bytes per active service, first reservation there)."""
    ledger = state.ledger
    active = ledger[ledger["released_at"].isna()]
    # One stable sort for all groups (a sort per customer is most of the start's time on a year of ledger).
    active = active.sort_values(["cluster_id", "customer_id", "reserved_at"], kind="stable")
    out: dict[str, list[tuple[str, list[int], list[int], pd.Timestamp]]] = {}
    keys = list(zip(active["cluster_id"].tolist(), active["customer_id"].tolist(), strict=True))
    ram = active["ram_bytes"].astype(int).tolist()
    volume = active["volume_bytes"].astype(int).tolist()
    reserved = active["reserved_at"].tolist()
    begin = 0
    for end in range(1, len(keys) + 1):
        if end < len(keys) and keys[end] == keys[begin]:
            continue
        cluster_id, customer_id = keys[begin]
        out.setdefault(cluster_id, []).append((customer_id, ram[begin:end], volume[begin:end], reserved[begin]))
        begin = end
    return out


def start_from(
    base: Scenario,
    state: LiveState,
    *,
    criterion: str = "bic",
    min_weeks: float | None = None,
) -> StartedScenario:
    """The scenario starting from ``state``; whatever the state cannot tell comes from ``base``."""
    record, warnings = _Record(), []
    profile = resolve_limits(base).compile()
    base_clusters = {c.id: c for c in base.fleet.clusters}
    first_region = next(iter(base.regions))
    operator = base.operator
    ladder = tuple(operator.control_plane.ladder or profile.control_plane_ladder)
    by_cluster = _ledger_customers(state) if state.has_ledger else {}
    asked = asked_regions(state.ledger) if state.has_ledger else {}
    mix = None
    weeks = {"min_weeks": min_weeks} if min_weeks is not None else {}
    if state.has_ledger:
        mix = check_mix(state.ledger, state.now, base.customers, MEASURED, ASSUMED, **weeks)
        warnings += [note] if (note := unmarked_note(state.ledger)) else []
    volume_mean = mean_size((mix.mix if mix else base.customers).volume_size)
    specs, customers, closed, problems = [], [], [], []
    where = f"{state.kind} {state.source}"
    on_order = clusters_on_order(state, base, record, warnings)
    placed = _daily_placements(state) if state.has_ledger else {}
    history = [level for live in state.clusters for level in _levels(live, state.now, placed)]
    traced = {level.cluster for level in history}
    days = max((level.days_before for level in history), default=0)
    if history:
        record("operator trend", f"{days} days of older snapshots on {len(traced)} clusters", MEASURED, where)
    node_type = operator.run_node_type or profile.costs.default_run_node_type
    unplaced: dict[str, list[str]] = {}  # region assumed -> the clusters whose region the source does not say
    for live in state.clusters:
        if live.status == ON_ORDER_STATUS:
            continue
        sized = NOT_MEASURED
        fallback = base_clusters.get(live.id)
        region = live.region or (fallback.region if fallback else first_region)
        record(f"clusters.{live.id}.region", region, MEASURED if live.region else ASSUMED,
               where if live.region else "base scenario")  # fmt: skip
        if not live.region:  # (collector snapshots never say it)
            unplaced.setdefault(region, []).append(live.id)
        provider = live.provider or (fallback.storage_provider if fallback else "longhorn")
        record(f"clusters.{live.id}.storage_provider", provider, MEASURED if live.provider else ASSUMED,
               where if live.provider else "base scenario")  # fmt: skip
        if provider not in profile.storage:
            problems.append(f"cluster {live.id}: storage provider {provider!r} is not in the limits profile")
            continue
        record(f"clusters.{live.id}.status", live.status, MEASURED, where)
        if live.status in CLOSED_STATUSES:
            closed.append(live.id)
        minimum = profile.storage[provider].min_nodes
        if live.load is not None:
            ctrl = live.load.ctrl_node_type
            if ctrl not in ladder:
                problems.append(
                    f"cluster {live.id}: control-plane type {ctrl!r} is not on the ladder {list(ladder)} of limits "
                    f"profile {base.limits_profile!r}: give a base scenario whose profile (limits_profile: a name or a "
                    "profile YAML) sizes it and whose operator.control_plane.ladder holds it"
                )
                continue
            run_nodes = len(live.load.run_nodes)
            record(f"clusters.{live.id}.ctrl_node_type", ctrl, MEASURED, where)
            record(f"clusters.{live.id}.run_nodes", run_nodes, MEASURED, where)
            sized = measured_nodes(
                live.id,
                live.load,
                node_type,
                profile.run_node_allocatable_bytes(provider, profile.costs.run_node_types[node_type].ram_bytes),
                profile.run_node_max_pods(node_type),
                profile.run_node_usable_disk_bytes(provider),
            )
            if sized.note:
                warnings.append(sized.note)
                record(f"clusters.{live.id}.run_node_size", sized.note.split(": ", 1)[1], MEASURED, where)
            if down := unschedulable_note(live.id, live.load):
                warnings.append(down)
            if stale := stale_note(live.id, live.load.observed_at, state.now, state.has_ledger):
                warnings.append(stale)
        else:
            ctrl = fallback.ctrl_type_on(ladder) if fallback else ladder[0]
            run_nodes = fallback.run_nodes if fallback else minimum
            warnings.append(f"cluster {live.id}: no load snapshot; its control plane and run nodes are assumed")
            record(f"clusters.{live.id}.ctrl_node_type", ctrl, ASSUMED, "base scenario")
            record(f"clusters.{live.id}.run_nodes", run_nodes, ASSUMED, "base scenario")
        ctrl_nodes = live.ctrl_nodes or (fallback.ctrl_nodes if fallback else 1)
        cap = run_node_cap(operator, profile, ctrl_nodes)
        if run_nodes < minimum or run_nodes > cap:
            bounded = min(max(run_nodes, minimum), cap)
            warnings.append(
                f"cluster {live.id}: {run_nodes} run nodes measured, outside {provider}'s minimum {minimum} and the "
                f"operator's cap {cap}: simulated with {bounded}"
            )
            run_nodes = bounded
        record(f"clusters.{live.id}.ctrl_nodes", ctrl_nodes, MEASURED if live.ctrl_nodes else ASSUMED,
               where if live.ctrl_nodes else "base scenario (default 1)")  # fmt: skip
        seen = by_cluster.get(live.id, [])
        mine = [
            LiveCustomer(cluster=live.id, ram=ram, volume=volume, age_days=_age(state, first), region=asked.get(who))
            for who, ram, volume, first in seen
        ]
        storage = profile.storage[provider]
        volume_ram = storage.volume_ram_bytes(storage.replicas_on(run_nodes))
        estimated, note = [], None
        if live.load is not None:
            known = ledger_at(state.ledger, live.id, live.load.observed_at or state.now, volume_ram)
            estimated, note = estimated_customers(live.id, live.load, known, volume_mean, volume_ram)
        if note:
            warnings.append(note)
        if state.has_ledger:
            record(f"clusters.{live.id}.customers_in_ledger", len(mine), MEASURED, "ledger")
        if estimated:
            record(f"clusters.{live.id}.customers_not_in_ledger", len(estimated), ESTIMATED, "load snapshot")
        customers += mine + estimated
        specs.append(
            ClusterSpec(
                id=live.id,
                region=region,
                storage_provider=provider,
                run_nodes=run_nodes,
                ctrl_node_type=ctrl,
                ctrl_nodes=ctrl_nodes,
                customers=len(mine) + len(estimated),
                run_node_allocatable_bytes=sized.allocatable_bytes,
                run_node_max_pods=sized.max_pods,
                run_node_disk_bytes=sized.disk_bytes,
            )
        )
    if not state.has_ledger:
        provider = {spec.id: spec.storage_provider for spec in specs}
        loads = [(live.load, provider[live.id]) for live in state.clusters if live.load and live.id in provider]
        warnings += snapshot_notes(loads, base.customers, profile)
    if not specs and not problems:
        problems.append(f"no cluster to start from: every cluster it lists is {ON_ORDER_STATUS} (on order)")
    if problems:
        raise StartFromError(f"{where}: cannot start from it:\n" + "\n".join(f"  {p}" for p in problems))
    for region, ids in unplaced.items():
        warnings.append(
            f"the source does not say the region of {', '.join(ids)}: taken as {region} (the base fleet's cluster of "
            "the same id, else the base's first region); its growth and sign-ups follow that region"
        )
    if state.has_ledger:
        active = state.ledger[state.ledger["released_at"].isna()]
        spread = int((active.groupby("customer_id")["cluster_id"].nunique() > 1).sum())
        if spread:
            warnings.append(
                f"{spread} customers hold services on more than one cluster; each counts once per cluster (the "
                "simulator gives a customer one home)"
            )
    not_placed = sorted(set(by_cluster) - {s.id for s in specs})
    if not_placed:
        warnings.append(f"the ledger names clusters the source does not list: {not_placed}")
    update: dict[str, Any] = {
        "start_date": state.now.date(),
        "fleet": Fleet(clusters=specs),
        "packing_checks": None,
        "start_from": _spec_with_live(
            state,
            LiveFleet(
                closed=closed,
                customers=customers,
                on_order=on_order,
                history=history,
                snapshots=[_now_level(live) for live in state.clusters if live.load is not None],
                unseen_lived_days=_age(state, state.ledger["reserved_at"].min()) if state.has_ledger else None,
            ),
        ),
    }
    growth_fit = churn_fit = None
    regions = dict(base.regions)
    for spec in specs:
        regions.setdefault(spec.region, 0.0)
    if state.has_ledger:
        growth_fit = growth_from_ledger(state.ledger, state.now, criterion=criterion, **weeks)
        churn_fit, churn_note = churn_from_ledger(state.ledger, state.now, criterion=criterion, **weeks)
        warnings += [churn_note] if churn_note else []
        if growth_fit.enough:
            update["growth"] = growth_fit.chosen.growth()
            warnings += [growth_fit.recent_misfit] if growth_fit.recent_misfit else []
            regions = signup_regions(state, specs) or regions
            warnings += [note] if (note := unseen_regions_note(dict(base.regions), regions, state.ledger)) else []
        if churn_fit.fitted:
            update["churn"] = churn_fit.churn()
    growth_basis = MEASURED if growth_fit is not None and growth_fit.enough else ASSUMED
    regions_basis = MEASURED if growth_basis == MEASURED and regions != dict(base.regions) else ASSUMED
    if regions_basis == ASSUMED and (by_customers := customer_regions(specs, on_order, dict(base.regions))):
        warnings.append(
            f"the base's regions mix {dict(base.regions)} leaves out regions of the source's clusters "
            f"({sorted(by_customers)}): new customers come to them in the shares of their customers now {by_customers}"
        )
        regions, regions_basis = by_customers, ESTIMATED
    open_regions = {spec.region for spec in specs if spec.id not in closed}
    uncovered = uncovered_regions_note(regions, regions_basis, open_regions, {order.region for order in on_order})
    warnings += [uncovered] if uncovered else []
    update["regions"] = regions
    record("growth", _describe(update.get("growth", base.growth)), growth_basis,
           growth_fit.message if growth_fit else f"base scenario ({state.kind} has no history)")  # fmt: skip
    churn_basis = MEASURED if churn_fit is not None and churn_fit.fitted else ASSUMED
    warnings += [note] if (note := unaged_note(update["start_from"].live, update.get("churn", base.churn))) else []
    record("churn", _describe(update.get("churn", base.churn)), churn_basis,
           churn_fit.message if churn_fit else f"base scenario ({state.kind} has no history)")  # fmt: skip
    regions_source = {MEASURED: "ledger sign-ups (region asked, else first cluster's)", ASSUMED: "base scenario",
                      ESTIMATED: "customers per region at the start (the base's mix omits a fleet region)"}  # fmt: skip
    record("regions", regions, regions_basis, regions_source[regions_basis])
    for region in sorted({c.region for c in [*specs, *on_order] if not regions.get(c.region)}):
        warnings.append(
            f"region {region} has clusters (or one on order) but the regions' mix ({regions_basis}: {regions}) gives "
            "it no new customers: its clusters grow only by their customers' own new services"
        )
    from_base = ("operator", "limits_profile", "costs")
    if mix is not None:  # each figure of the mix, checked against the ledger
        update["customers"] = mix.mix
        warnings += mix.notes
        for figure in mix.figures:
            record(*figure)
    else:
        from_base = ("customers (mix of new customers)", *from_base)
    for figure in from_base:
        record(figure, base.limits_profile if figure == "limits_profile" else "base scenario", ASSUMED, base.name)
    record("run node size", node_type, ASSUMED,
           "base scenario's operator.run_node_type, for new clusters and clusters whose snapshot measures that "
           "size (clusters.ID.run_node_size: one that measures another)")  # fmt: skip
    record("customers_measured", sum(c.measured for c in customers), MEASURED if state.has_ledger else ESTIMATED,
           "ledger" if state.has_ledger else where)  # fmt: skip
    record("customers_estimated", sum(not c.measured for c in customers), ESTIMATED,
           "load snapshots minus the ledger" if state.has_ledger else "load snapshots")  # fmt: skip
    scenario = base.model_copy(update=update)
    scenario = Scenario.model_validate(scenario.model_dump())  # validated as a whole, as a loaded one is
    gaps, closing = start_levels(scenario)
    warnings += record_gaps(gaps, record, MEASURED)
    if not history:  # no older snapshots: the trend the scenario's growth gives (sim.start_from.assumed_trend)
        rises, said = assumed_rise(scenario, live := scenario.start_from.live, profile, closing)
        live = live.model_copy(update={"assumed_rise": rises})
        scenario = scenario.model_copy(update={"start_from": scenario.start_from.model_copy(update={"live": live})})
        record("operator trend", "; ".join(said) or "none", ASSUMED, "no older snapshots: the scenario's growth")
    return StartedScenario(scenario, state, growth_fit, churn_fit, record.frame(), warnings)


def _daily_placements(state: LiveState) -> dict[tuple[str, int], int]:
    """Reservations per (cluster, whole days before ``now``) over the history window."""
    ledger = state.ledger
    age = (pd.Timestamp(state.now) - ledger["reserved_at"]).dt.total_seconds() // 86400
    recent = ledger[(age >= 0) & (age <= HISTORY_DAYS)]
    keys = zip(recent["cluster_id"].tolist(), age[recent.index].astype(int).tolist(), strict=True)
    return dict(Counter(keys))


def _levels(live: LiveCluster, now: datetime, placed: dict[tuple[str, int], int]) -> list[LiveLevel]:
    """The cluster's levels on each of the days before ``now`` its older snapshots cover (the newest snapshot
    of each day), and today's (``days_before`` 0) to measure the change against; with each day's placements on
    it (the ledger's reservations of the day before that look)."""
    if live.load is None or not live.history:
        return []
    by_day = {}
    for load in (*live.history, live.load):
        if load.observed_at is None:
            continue
        before = int((now - _aware_utc(load.observed_at)).total_seconds() // 86400)
        if before >= 0:
            by_day[before] = load  # oldest first: the newest of each day wins
    by_day[0] = live.load
    return [_level(live.id, before, load, placed.get((live.id, before), 0)) for before, load in sorted(by_day.items())]


def _level(cluster: str, before: int, load: ClusterLoad, placements: int = 0) -> LiveLevel:
    return LiveLevel(
        cluster=cluster, days_before=before, nodes=len(load.run_nodes), ram_requested=load.ram_requested_bytes,
        ram_allocatable=load.ram_allocatable_bytes, pods=load.pods, services=load.services, customers=load.customers,
        volumes=load.volumes, etcd_objects=load.etcd_objects, disk_bytes=load.disk_bytes, placements=placements,
    )  # fmt: skip


def _now_level(live: LiveCluster) -> LiveLevel:
    """The level the start is compared with and held to: the router's load now where the source has it (the
    snapshot with the reservations and releases since), else the newest snapshot's."""
    now = live.load_now if live.load_now is not None else live.load
    level = _level(live.id, 0, now)
    # A snapshot without raw disk did not measure it: the reservations' disk alone is not the cluster's.
    disk = level.disk_bytes if live.load.disk_bytes else 0
    return level.model_copy(update={"with_reservations": now != live.load, "disk_bytes": disk})


def _aware_utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _age(state: LiveState, first: pd.Timestamp) -> float:
    return max((pd.Timestamp(state.now) - first).total_seconds() / 86400.0, 0.0)


def _spec_with_live(state: LiveState, live: LiveFleet) -> RouterDatabase | SnapshotFolder | StateFile:
    if state.kind == "router_db":
        return RouterDatabase(kind="router_db", url=state.source, live=live)
    model = SnapshotFolder if state.kind == "snapshots" else StateFile
    return model(kind=state.kind, path=state.source, live=live)


def _describe(model: Any) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in model.model_dump().items())
