"""Recommendations: for each limit that bound and is a setting, the next sensible setting, tried on the same seed.

    recommendations = recommend(scenario, result, seed, profile=None)   # scenario: with any --set applied

A limit *bound* when it forced a decision (``sim.decision_table``). The settings that move a binding limit:

- pods per run node: the kubelet's max-pods (``kubernetes.max_pods_per_node``), to the next common value, never
  past what the node's pod range holds (``MAX_PODS_STEPS``, ``Limits.pod_addresses_per_node``); a run-node type that
  sets its own max-pods in the profile is reported, not raised;
- RAM per run node: the run-node type (``operator.run_node_type``), to the next larger type of the profile;
- the control plane's etcd objects: its first rung (``operator.control_plane.ladder`` without its lowest rung), and
  on the last rung a larger control-plane type of the profile added on top;
- a storage provider's volumes: the provider of new clusters (``operator.new_cluster_storage``), to the
  provider with the most volumes per cluster;
- the operator's shard thresholds and run-node cap: doubled, at most halfway to the Kubernetes limit they guard.

Kubernetes thresholds are not settings: no setting moves them, and the recommendation says so. Each
counterfactual is the same scenario with one ``--set`` more, run on the same seed (common random numbers: the
same customers arrive), so the difference is the setting's. One paired run is not a band: with ``band_runs`` of
2 or more, each setting that helps is also compared over that many paired seeds (``sim.compare``), and the entry
carries the p10/p50/p90 of the saving and the share of seeds on which the setting is cheaper.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from placement.limits import Limits, LimitsProfile
from sim.compare import compare
from sim.config import compile_scenario, resolve_limits, run_node_cap
from sim.decisions import NOT_LIMITS, limit_name
from sim.distributions import DAYS_PER_MONTH
from sim.overrides import apply_overrides
from sim.planning import shard_etcd_trigger
from sim.results import SimResult
from sim.scenario import Scenario
from sim.simulation import run as simulate_run

MAX_PODS_STEPS = (110, 250)  # the kubelet default, and the common raised value a /24 pod CIDR allows
SHARD_STEP = 0.5  # a shard threshold doubles, but moves at most this share of the way to the limit it guards


@dataclass(frozen=True, slots=True)
class Candidate:
    """One setting to try for a binding limit: ``override`` is a ``--set`` (``PATH=VALUE``)."""

    limit: str
    setting: str
    was: str
    to: str
    override: str


@dataclass(frozen=True, slots=True)
class NoSetting:
    limit: str
    reason: str


def _max_pods(limits: Limits, scenario: Scenario, profile: LimitsProfile | None) -> Candidate | NoSetting:
    node_type = scenario.operator.run_node_type or limits.costs.default_run_node_type
    now = limits.run_node_max_pods(node_type)
    own = {t.name: t.max_pods for t in (profile or resolve_limits(scenario)).costs.run_node_types}.get(node_type)
    if own is not None:
        # The type's own max-pods wins over the kubelet default, so raising the default would change nothing.
        return NoSetting("pods_per_node", f"run node type {node_type} sets its own max-pods ({now}) in the limits "
                         "profile; raise it there (costs.run_node_types)")  # fmt: skip
    ceiling = limits.pod_addresses_per_node
    higher = [step for step in MAX_PODS_STEPS if step > now]
    if not higher:
        if now >= ceiling:
            return NoSetting("pods_per_node", f"max-pods is {now}, the most a node's pod range "
                             f"(/{limits.node_cidr_mask_size}) holds")  # fmt: skip
        higher = [ceiling]
    step = min(higher[0], ceiling)
    if step <= now:
        return NoSetting("pods_per_node", f"max-pods is {now}, the most a node's pod range "
                         f"(/{limits.node_cidr_mask_size}) holds")  # fmt: skip
    return Candidate("pods_per_node", "max pods per node (kubelet --max-pods)", str(now), str(step),
                     f"kubernetes.max_pods_per_node={step}")  # fmt: skip


def _run_node_type(limits: Limits, scenario: Scenario) -> Candidate | NoSetting:
    types = limits.costs.run_node_types
    current = scenario.operator.run_node_type or limits.costs.default_run_node_type
    ram = types[current].ram_bytes
    larger = sorted((t for t in types.values() if t.ram_bytes > ram), key=lambda t: (t.ram_bytes, t.eur_month))
    if not larger:
        return NoSetting("ram_per_run_node", f"{current} is the largest run-node type of the profile")
    return Candidate("ram_per_run_node", "run-node type", current, larger[0].name,
                     f"operator.run_node_type={larger[0].name}")  # fmt: skip


def _ladder(scenario: Scenario, limits: Limits, config_ladder: tuple[str, ...]) -> Candidate | NoSetting:
    if len(config_ladder) < 2:
        return NoSetting("control_plane_objects", "the control-plane ladder has one rung")
    if any(c.ctrl_node_type == config_ladder[0] or c.ctrl_rung is not None for c in scenario.fleet.clusters):
        return NoSetting("control_plane_objects", "the initial fleet names its control-plane rungs")
    rest = list(config_ladder[1:])
    return Candidate("control_plane_objects", "first control-plane rung", config_ladder[0], config_ladder[1],
                     f"operator.control_plane.ladder=[{', '.join(rest)}]")  # fmt: skip


def _ladder_top(scenario: Scenario, limits: Limits, config_ladder: tuple[str, ...]) -> Candidate | NoSetting:
    top = limits.control_plane(config_ladder[-1])
    larger = sorted(
        (t for t in limits.control_plane_types.values() if t.tight_objects > top.tight_objects),
        key=lambda t: t.tight_objects,
    )
    if not larger:
        return NoSetting("control_plane_ladder_top", f"{top.name} is the largest control-plane type of the profile")
    ladder = [*config_ladder, larger[0].name]
    return Candidate("control_plane_ladder_top", "control-plane ladder", config_ladder[-1], larger[0].name,
                     f"operator.control_plane.ladder=[{', '.join(ladder)}]")  # fmt: skip


def _storage(limit: str, limits: Limits, scenario: Scenario) -> Candidate | NoSetting:
    provider = limit.split(":", 1)[1]
    best = max(limits.storage.values(), key=lambda s: (s.max_volumes, s.provider))
    if best.max_volumes <= limits.storage[provider].max_volumes:
        return NoSetting(limit, f"no storage provider of the profile holds more volumes per cluster than {provider}")
    return Candidate(limit, "storage provider of new clusters", provider, best.provider,
                     f"operator.new_cluster_storage={best.provider}")  # fmt: skip


def _halfway(limit: str, setting: str, path: str, now: float | None, ceiling: float) -> Candidate | NoSetting:
    if now is None:
        return NoSetting(limit, f"{setting} is off")
    step = int(math.floor(min(2 * now, now + SHARD_STEP * (ceiling - now))))
    if step <= now:
        return NoSetting(
            limit,
            f"{setting} is already at the Kubernetes limit it guards ({ceiling:,.0f}; the pod "
            "CIDR's node ranges count)",
        )
    return Candidate(limit, setting, f"{now:,.0f}", f"{step:,}", f"{path}={step}")


def candidate(
    limit: str, scenario: Scenario, limits: Limits, ladder: tuple[str, ...], profile: LimitsProfile | None = None
) -> Candidate | NoSetting:
    """The next sensible setting for a binding limit, or why none exists (``profile``: the scenario's resolved limits
    profile, read for what the compiled ``limits`` no longer tell)."""
    policy = scenario.operator
    if limit == "pods_per_node":
        return _max_pods(limits, scenario, profile)
    if limit == "ram_per_run_node":
        return _run_node_type(limits, scenario)
    if limit == "control_plane_objects":
        return _ladder(scenario, limits, ladder)
    if limit == "control_plane_ladder_top":
        return _ladder_top(scenario, limits, ladder)
    if limit.startswith("volumes:"):
        return _storage(limit, limits, scenario)
    if limit == "max_run_nodes_per_cluster":
        # The pod CIDR's node ranges (less the control plane) are a wall: no cap past them helps.
        room = run_node_cap(policy.model_copy(update={"max_run_nodes_per_cluster": None}), limits,
                            policy.shard.new_cluster_ctrl_nodes)  # fmt: skip
        ceiling = min(limits.max_nodes, policy.shard.nodes or limits.max_nodes, room)
        return _halfway(limit, "max run nodes per cluster", "operator.max_run_nodes_per_cluster",
                        run_node_cap(policy, limits, policy.shard.new_cluster_ctrl_nodes), ceiling)  # fmt: skip
    if limit == "shard_nodes":
        return _halfway(limit, "shard trigger: run nodes", "operator.shard.nodes", policy.shard.nodes, limits.max_nodes)
    if limit == "shard_pods":
        return _halfway(limit, "shard trigger: pods", "operator.shard.pods", policy.shard.pods, limits.max_pods_cluster)
    if limit == "shard_etcd_objects":
        return _halfway(limit, "shard trigger: etcd objects", "operator.shard.etcd_objects",
                        shard_etcd_trigger(policy, limits), limits.max_etcd_objects)  # fmt: skip
    if limit.startswith("k8s_"):
        return NoSetting(limit, "a Kubernetes threshold, not a setting: shard earlier or spread the load")
    return NoSetting(limit, "not a setting")


def binding_limits(result: SimResult) -> list[str]:
    """The limits that forced a decision, the earliest first."""
    decisions = result.decisions
    if decisions.empty:
        return []
    taken = decisions[decisions["limit"].notna() & ~decisions["limit"].isin(NOT_LIMITS)]
    taken = taken.sort_values(["decided_date"], kind="stable")
    return list(dict.fromkeys(taken["limit"]))


def _first_day(result: SimResult, limit: str) -> float | None:
    decisions = result.decisions
    rows = decisions[decisions["limit"] == limit] if not decisions.empty else decisions
    return None if rows.empty else float(rows["decided_day"].min())


def _average_eur_month(summary: dict[str, Any]) -> float:
    return summary["cost_eur_total"] / (summary["horizon_days"] / DAYS_PER_MONTH)


def recommend(
    scenario: Scenario,
    result: SimResult,
    seed: int | np.random.SeedSequence,
    *,
    profile: str | None = None,
    run: Callable[..., SimResult] | None = None,
    on_try: Callable[[str], None] | None = None,
    band_runs: int = 1,
    executor: cf.Executor | None = None,
) -> list[dict[str, Any]]:
    """One entry per binding limit of ``result`` (the run of ``scenario``, what-ifs applied, on ``seed``): the
    setting tried, the saving in EUR/month (on average over the horizon, and at its end), the shift in the date the
    limit first forced a decision, the first shard before and after, and a verdict. With ``band_runs`` >= 2 a
    setting that helps on ``seed`` is compared over that many paired seeds too (``saving_band``), on ``executor`` if
    given (a notebook's in-process one) or on a process pool of its own."""
    if band_runs < 1:
        raise ValueError(f"band_runs must be at least 1, got {band_runs}")
    run = run or simulate_run
    config = compile_scenario(scenario, profile)
    limits, ladder = config.limits, config.ladder
    base = result.summary
    out = []
    for limit in binding_limits(result):
        found = candidate(limit, scenario, limits, ladder, config.profile)
        entry: dict[str, Any] = {"limit": limit, "limit_name": limit_name(limit)}
        if isinstance(found, NoSetting):
            entry.update(helps=False, setting=None, verdict=f"no setting helps: {found.reason}")
            out.append(entry)
            continue
        if on_try is not None:
            on_try(found.override)
        try:
            other = run(scenario, seed, profile=profile, overrides=[found.override])
        except ValueError as exc:  # an override the scenario rejects (ConfigError, OverrideError)
            entry.update(helps=False, setting=found.setting, override=found.override, verdict=f"not tried: {exc}")
            out.append(entry)
            continue
        after = other.summary
        saving_avg = _average_eur_month(base) - _average_eur_month(after)
        saving_end = base["cost_eur_month_end"] - after["cost_eur_month_end"]
        before_day, after_day = _first_day(result, limit), _first_day(other, limit)
        entry.update(
            setting=found.setting,
            was=found.was,
            to=found.to,
            override=found.override,
            saving_eur_month=round(saving_avg, 2),
            saving_eur_month_end=round(saving_end, 2),
            saving_eur_total=round(base["cost_eur_total"] - after["cost_eur_total"], 2),
            first_binds_day=before_day,
            first_binds_day_after=after_day,
            binding_shift_days=None if before_day is None or after_day is None else round(after_day - before_day, 1),
            first_shard_limit=base.get("first_shard_limit"),
            first_shard_limit_after=after.get("first_shard_limit"),
            first_shard_date=base.get("first_shard_date"),
            first_shard_date_after=after.get("first_shard_date"),
            customers_lost_after=after["customers_lost"],
            helps=bool(saving_avg > 0 and after["customers_lost"] <= base["customers_lost"]),
        )
        if entry["helps"] and band_runs > 1:
            if on_try is not None:
                on_try(f"{found.override} over {band_runs} paired seeds")
            entry["saving_band"] = saving_band(
                scenario, found.override, band_runs, _seed_int(seed), profile=profile, executor=executor
            )
        entry["verdict"] = _verdict(entry, base)
        out.append(entry)
    return out


def _seed_int(seed: int | np.random.SeedSequence) -> int:
    if isinstance(seed, np.random.SeedSequence):
        return int(seed.generate_state(1)[0])
    return int(seed)


def saving_band(
    scenario: Scenario,
    override: str,
    runs: int,
    seed: int,
    *,
    profile: str | None = None,
    executor: cf.Executor | None = None,
) -> dict[str, Any]:
    """The saving of one ``--set`` over ``runs`` paired seeds: p10/p50/p90 in EUR/month on average over the horizon
    (``sim.outcomes``' percentile method) and on how many seeds the setting is cheaper."""
    if profile is not None:
        scenario = scenario.model_copy(update={"limits_profile": profile})
    changed, _ = apply_overrides(scenario, [override])
    paired = (
        compare(scenario, changed, runs=runs, seed=seed, executor=executor)
        .outcomes.set_index("outcome")
        .loc["cost_total"]
    )
    months = scenario.days / DAYS_PER_MONTH
    # The difference is B - A, so a saving is its negative: the p90 of the cost difference is the p10 saving.
    p10, p50, p90 = (-paired[f"diff_{q}"] / months for q in ("p90", "p50", "p10"))
    return {
        "runs": int(paired["runs_paired"]),
        "p10_eur_month": round(float(p10), 2),
        "p50_eur_month": round(float(p50), 2),
        "p90_eur_month": round(float(p90), 2),
        "cheaper_runs": int(round(paired["b_lower_share"] * paired["runs_paired"])),
    }


def _verdict(e: dict[str, Any], base: dict[str, Any]) -> str:
    shift_days = e["binding_shift_days"]
    if e["first_binds_day_after"] is None:
        shift = "it no longer binds within the horizon"
    elif shift_days:
        shift = f"it first binds {abs(shift_days):,.0f} days {'later' if shift_days > 0 else 'earlier'}"
    else:
        shift = "it binds on the same day"
    first = e["first_shard_limit"]
    after = e["first_shard_limit_after"]
    if first and first == after and first != e["limit"]:
        shift += f"; {limit_name(first)} still forces the first shard whatever the {e['setting']}"
    elif after and after != first:
        shift += f"; the first shard then comes on {e['first_shard_date_after']}, forced by {limit_name(after)}"
    change = f"{e['setting']} {e['was']} -> {e['to']}"
    if e["helps"]:
        band = e.get("saving_band")
        sure = (f" (over {band['runs']} paired seeds: p10-p90 EUR {band['p10_eur_month']:,.0f}-"
                f"{band['p90_eur_month']:,.0f}/month, cheaper on {band['cheaper_runs']} of {band['runs']})"
                if band else "")  # fmt: skip
        return (f"set {change}: saves EUR {e['saving_eur_month']:,.0f}/month on average{sure} "
                f"(EUR {e['saving_eur_month_end']:,.0f}/month at the horizon); {shift}")  # fmt: skip
    if e["customers_lost_after"] > base["customers_lost"]:
        return f"no: {change} loses {e['customers_lost_after'] - base['customers_lost']:,} more customers"
    return f"no setting helps: {change} costs EUR {-e['saving_eur_month']:,.0f}/month more on average; {shift}"
