"""A scenario compiled against its limits profile: everything a run needs that no random draw decides.

``compile_scenario`` applies the scenario's limits overrides, compiles its engine policy, and checks the
scenario against the profile (unknown control-plane or run-node types, clusters below their storage
provider's minimum or above the operator's cap). It raises one ``ConfigError`` naming every problem, so
nothing runs on a scenario that cannot run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from pydantic import ValidationError

from placement.limits import Limits, LimitsProfile, load_profile
from placement.policy import Policy, PolicyConfig, load_policy
from placement.yamlio import ConfigError, validation_problems
from sim.costs import CostModel
from sim.initial_fleet import initial_fleet_checks
from sim.scenario import OperatorPolicy, Scenario

# The most customers a run may expect to sign up. A run holds a few hundred bytes per customer and service in numpy
# arrays plus its tables: 1M customers take about 1 GB (BENCHMARKS.md, bench.sim_1m), so 10M is about 10 GB.
MAX_EXPECTED_SIGNUPS = 10_000_000


def expected_signups_by_day(scenario: Scenario) -> np.ndarray:
    """The sign-ups the scenario's growth expects by the end of each simulated day (cumulative, day 0 first)."""
    from sim.sampling import signup_rate_per_day  # the growth law's one definition

    days = np.arange(math.floor(scenario.days)) + 0.5
    return np.cumsum(signup_rate_per_day(scenario.growth, days, scenario.start_date))


def signup_excess(scenario: Scenario) -> str | None:
    """Growth that would sign up more customers over the horizon than a run can hold (an exponent's typo, say): what
    it expects, else None."""
    by_day = expected_signups_by_day(scenario)
    expected = float(by_day[-1]) if len(by_day) else 0.0
    initial = sum(spec.customers for spec in scenario.fleet.clusters)
    if math.isfinite(expected) and expected + initial <= MAX_EXPECTED_SIGNUPS:
        return None
    return (
        f"about {expected:,.0f} sign-ups expected over {scenario.days:,.0f} days, more than a run holds "
        f"({MAX_EXPECTED_SIGNUPS:,} customers)"
    )


def signup_problems(scenario: Scenario) -> list[str]:
    excess = signup_excess(scenario)
    return [] if excess is None else [f"growth: {excess}; check the growth rates"]


@dataclass(frozen=True, slots=True)
class RunConfig:
    """The compiled scenario. ``horizon`` is the last simulated day (whole days: the run ends at its sample)."""

    scenario: Scenario
    profile: LimitsProfile
    policy: Policy
    ladder: tuple[str, ...]  # the control-plane ladder, first rung first
    run_node_ram: int  # bytes of one run node of the operator's type
    run_node_max_pods: int  # the kubelet's max-pods on a run node of the operator's type
    costs: CostModel
    horizon: float
    check_days: frozenset[int]  # the packing checks' days that fall within the horizon
    regions: tuple[str, ...]  # the scenario's regions, in order: the draws index into them
    # What runs but deserves a word at the top of the output and the report (an initial fleet over a comfortable
    # level), one line each.
    warnings: tuple[str, ...] = ()

    @property
    def limits(self) -> Limits:
        return self.policy.limits

    @property
    def start(self) -> date:
        return self.scenario.start_date

    def date_of(self, day: float) -> date:
        return self.start + timedelta(days=int(day))


def resolve_limits(scenario: Scenario, profile: str | None = None) -> LimitsProfile:
    """The scenario's limits profile with its customer-mix figures and ``limits_overrides`` applied."""
    base = load_profile(profile or scenario.limits_profile)
    overrides: dict[str, float] = {}
    mix = scenario.customers
    if mix.etcd_objects_per_customer is not None:
        overrides["etcd.objects_per_customer"] = mix.etcd_objects_per_customer
    if mix.etcd_objects_per_service is not None:
        overrides["etcd.objects_per_service"] = mix.etcd_objects_per_service
    overrides.update(scenario.limits_overrides)
    if not overrides:
        return base
    try:
        return base.with_values(overrides)
    except KeyError as exc:
        raise ConfigError(scenario.name, [f"limits_overrides: {exc.args[0]}"]) from None
    except ValidationError as exc:
        raise ConfigError(scenario.name, [f"limits_overrides: {p}" for p in validation_problems(exc)]) from None
    except ValueError as exc:
        raise ConfigError(scenario.name, [f"limits_overrides: {exc}"]) from None


def resolve_policy(scenario: Scenario, profile: LimitsProfile) -> Policy:
    if scenario.policy is None:
        config = PolicyConfig()
    elif isinstance(scenario.policy, PolicyConfig):
        config = scenario.policy
    else:
        # An unresolved path: a scenario built in code rather than by load_scenario.
        return load_policy(scenario.policy, profile)
    return config.compile(profile)


def new_cluster_problems(op: OperatorPolicy, limits: Limits) -> list[str]:
    """New clusters must start within the cap: the provider's minimum and ``new_cluster_run_nodes`` fit under it."""
    if not op.auto_shard:
        return []  # no new clusters
    cap = op.max_run_nodes_per_cluster
    problems = []
    for provider in dict.fromkeys(op.new_cluster_storage.providers):
        if limits.storage[provider].min_nodes > cap:
            problems.append(
                f"operator.max_run_nodes_per_cluster: {cap} is below {provider}'s minimum of "
                f"{limits.storage[provider].min_nodes} run nodes, and new clusters may use {provider}"
            )
    if op.shard.new_cluster_run_nodes is not None and op.shard.new_cluster_run_nodes > cap:
        problems.append(
            f"operator.shard.new_cluster_run_nodes: {op.shard.new_cluster_run_nodes} exceed "
            f"operator.max_run_nodes_per_cluster ({cap})"
        )
    return problems


def provider_problems(scenario: Scenario, limits: Limits) -> list[str]:
    """Every storage provider the scenario names must be one of the limits profile's."""
    known = list(limits.storage)
    named = [
        (f"fleet.clusters[{i}].storage_provider", c.storage_provider) for i, c in enumerate(scenario.fleet.clusters)
    ]
    rule = scenario.operator.new_cluster_storage
    named += [("operator.new_cluster_storage", provider) for provider in rule.providers]
    return [
        f"{where}: unknown storage provider {name!r}; the profile knows {known}"
        for where, name in named
        if name not in known
    ]


def pod_cidr_problems(scenario: Scenario, limits: Limits) -> list[str]:
    """Clusters the pod CIDR cannot hold: every node, servers included, takes one node range of the cluster's
    pod range (``limits.pod_cidr_nodes``), and a node past the last one runs no pod."""
    ranges = limits.pod_cidr_nodes
    op = scenario.operator
    why = (
        f"the cluster pod range /{limits.cluster_cidr_mask_size} holds {ranges} node ranges of "
        f"/{limits.node_cidr_mask_size} (kubernetes.cluster_cidr_mask_size, node_cidr_mask_size)"
    )
    problems = []
    ctrl = op.shard.new_cluster_ctrl_nodes
    if op.max_run_nodes_per_cluster is not None and op.max_run_nodes_per_cluster + ctrl > ranges:
        problems.append(
            f"operator.max_run_nodes_per_cluster: {op.max_run_nodes_per_cluster} run nodes and {ctrl} control-plane "
            f"nodes exceed what one cluster can have: {why}; set it to {ranges - ctrl} or less, or a larger "
            "cluster pod range"
        )
    for i, spec in enumerate(scenario.fleet.clusters):
        if spec.run_nodes + spec.ctrl_nodes > ranges:
            problems.append(
                f"fleet.clusters[{i}].run_nodes: {spec.run_nodes} run nodes and {spec.ctrl_nodes} control-plane "
                f"nodes exceed {why}"
            )
    return problems


def run_node_cap(op: OperatorPolicy, limits: Limits, ctrl_nodes: int) -> int:
    """Run nodes one cluster with ``ctrl_nodes`` control-plane nodes may have: the operator's cap, within the
    node ranges of the pod CIDR its control plane leaves (never below one)."""
    room = max(limits.pod_cidr_nodes - ctrl_nodes, 1)
    return room if op.max_run_nodes_per_cluster is None else min(op.max_run_nodes_per_cluster, room)


def resolve_node_cap(scenario: Scenario, limits: Limits) -> Scenario:
    """The scenario with its run-node cap per cluster set: without one, what the pod CIDR holds less the
    control-plane nodes of the largest control plane it starts or creates."""
    op = scenario.operator
    if op.max_run_nodes_per_cluster is not None:
        return scenario
    ctrl = max([op.shard.new_cluster_ctrl_nodes, *(c.ctrl_nodes for c in scenario.fleet.clusters)])
    cap = run_node_cap(op, limits, ctrl)
    return scenario.model_copy(update={"operator": op.model_copy(update={"max_run_nodes_per_cluster": cap})})


def fleet_problems(scenario: Scenario, limits: Limits, ladder: tuple[str, ...]) -> list[str]:
    """The initial clusters against the ladder, their provider's minimum nodes and the operator's cap."""
    cap = scenario.operator.max_run_nodes_per_cluster
    problems = []
    for i, spec in enumerate(scenario.fleet.clusters):
        if spec.ctrl_node_type is not None and spec.ctrl_node_type not in ladder:
            problems.append(
                f"fleet.clusters[{i}].ctrl_node_type: {spec.ctrl_node_type!r} is not on the ladder {list(ladder)}"
            )
        if spec.ctrl_rung is not None and not -len(ladder) <= spec.ctrl_rung < len(ladder):
            problems.append(f"fleet.clusters[{i}].ctrl_rung: {spec.ctrl_rung} is off the ladder {list(ladder)}")
        min_nodes = limits.storage[spec.storage_provider].min_nodes
        if spec.run_nodes < min_nodes:
            problems.append(
                f"fleet.clusters[{i}].run_nodes: {spec.storage_provider} needs at least "
                f"{min_nodes} run nodes, got {spec.run_nodes}"
            )
        if spec.run_nodes > cap:
            problems.append(
                f"fleet.clusters[{i}].run_nodes: {spec.run_nodes} run nodes exceed "
                f"operator.max_run_nodes_per_cluster ({cap})"
            )
    return problems


def compile_scenario(scenario: Scenario, profile: str | None = None) -> RunConfig:
    """Compile ``scenario`` (``profile`` overrides its limits profile); raise ``ConfigError`` naming every problem."""
    resolved = resolve_limits(scenario, profile)
    policy = resolve_policy(scenario, resolved)
    limits = policy.limits
    op = scenario.operator
    ladder = tuple(op.control_plane.ladder or limits.control_plane_ladder)
    problems = [
        f"operator.control_plane.ladder: unknown type {n!r}" for n in ladder if n not in limits.control_plane_types
    ]
    run_node_type = op.run_node_type or limits.costs.default_run_node_type
    if run_node_type not in limits.costs.run_node_types:
        problems.append(
            f"operator.run_node_type: unknown {run_node_type!r}; known {sorted(limits.costs.run_node_types)}"
        )
    problems += provider_problems(scenario, limits)
    problems += pod_cidr_problems(scenario, limits)
    warnings: list[str] = []
    if not problems:
        scenario = resolve_node_cap(scenario, limits)
        op = scenario.operator
        problems += fleet_problems(scenario, limits, ladder)
        problems += new_cluster_problems(op, limits)
    if not problems:
        max_pods = limits.run_node_max_pods(run_node_type)
        node_ram = limits.costs.run_node_types[run_node_type].ram_bytes
        fleet_checks, warnings = initial_fleet_checks(scenario, limits, ladder, node_ram, max_pods)
        if scenario.start_from is None:
            problems += fleet_checks
        elif scenario.start_from.live is None:
            problems.append(
                "start_from: the live source is not read yet: run the scenario with sim run, sim sweep or sim compare, "
                "or read it with sim.start_from.resolve.started_scenario(scenario)"
            )
        else:
            # A fleet read from live state exists as it is: the check's load is the base mix's mean, not what the
            # source measured, so an apparent overload is reported, never a reason to refuse the forecast.
            warnings = [*(f"{problem} (estimated from the base scenario's mix)" for problem in fleet_checks), *warnings]
            warnings += scenario.start_from.live.notes  # what the start said of its source
    problems += signup_problems(scenario)
    checks = scenario.packing_checks
    if checks is not None and checks.ctrl_node_type not in (None, *limits.control_plane_types):
        problems.append(
            f"packing_checks.ctrl_node_type: unknown {checks.ctrl_node_type!r}; "
            f"known {sorted(limits.control_plane_types)}"
        )
    if problems:
        raise ConfigError(scenario.name, problems)
    horizon = float(math.floor(scenario.days))
    # A loaded scenario has its check days within the horizon; a copy with a shorter horizon (a quick run, a
    # test) runs the checks that still fall within it.
    days = () if checks is None else checks.days_from(scenario.start_date)
    return RunConfig(
        scenario=scenario,
        profile=resolved,
        policy=policy,
        ladder=ladder,
        run_node_ram=limits.costs.run_node_types[run_node_type].ram_bytes,
        run_node_max_pods=limits.run_node_max_pods(run_node_type),
        costs=CostModel.build(limits, run_node_type, ladder, scenario.costs.backup_used_fraction),
        horizon=horizon,
        check_days=frozenset(d for d in days if 0 <= d <= horizon),
        regions=tuple(scenario.regions),
        warnings=tuple(warnings),
    )
