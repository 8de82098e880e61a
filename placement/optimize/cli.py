"""``placement optimize pack|drain|capacity``: thin wrappers over the optimizers, JSON or rich tables."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich.console import Console
from rich.table import Table

from placement.cli_common import fail
from placement.limits import Limits, load_profile
from placement.optimize.capacity import Demand, plan_capacity
from placement.optimize.drain import DrainFleet, plan_drain
from placement.optimize.packing import PackingReport, Service, greedy_to_optimal_ratio
from placement.optimize.solve import Infeasible, SolverOutcome, SolveSettings
from placement.policy import load_policy
from placement.quantity import PositiveBytes
from placement.units import human_bytes
from placement.yamlio import ConfigError, load_yaml_model, validation_problems

optimize_app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Offline CP-SAT planning: packing bound, drain plan, capacity plan.",
)
console = Console()

TimeLimit = Annotated[float, typer.Option(help="Solver time limit in seconds.", min=0.01)]
Workers = Annotated[int, typer.Option(help="CP-SAT worker threads.", min=1)]
Profile = Annotated[str, typer.Option(help="Limits profile: seed, published or a path.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _limits(profile: str) -> Limits:
    try:
        return load_profile(profile).compile()
    except (ConfigError, KeyError, ValueError, OSError) as exc:
        fail(f"profile: {exc}")


class _ServiceIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    ram: PositiveBytes
    volume: PositiveBytes | None = None
    customer: str | None = None


class _ServicesIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    services: list[_ServiceIn] = Field(min_length=1)


def _outcome_line(outcome: SolverOutcome) -> str:
    gap = "-" if outcome.gap is None else f"{outcome.gap:.2%}"
    return (
        f"status {outcome.status} ({outcome.method}), objective {outcome.objective}, best bound "
        f"{outcome.best_bound}, gap {gap}, {outcome.wall_seconds:.2f}s of {outcome.time_limit_seconds:g}s "
        f"limit, {outcome.num_workers} workers"
    )


def _emit(data: dict, as_json: bool) -> bool:
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    return as_json


@optimize_app.command()
def pack(
    services: Annotated[Path, typer.Option(help="YAML/JSON file: services: [{name, ram, volume?, customer?}].")],
    provider: Annotated[str, typer.Option(help="Storage provider of the node type.")] = "longhorn",
    max_nodes_per_cluster: Annotated[int, typer.Option(min=1)] = 20,
    ctrl_node_type: Annotated[str | None, typer.Option(help="Control-plane type (default: top of the ladder).")] = None,
    policy: Annotated[Path | None, typer.Option(help="Policy YAML for the greedy engine.")] = None,
    profile: Profile = "seed",
    time_limit: TimeLimit = 10.0,
    workers: Workers = 2,
    force_solver: Annotated[bool, typer.Option(help="Run CP-SAT even when FFD meets the L1 bound.")] = False,
    as_json: AsJson = False,
) -> None:
    """Fewest run nodes and clusters for a set of services, and the greedy engine against them."""
    try:
        rows = load_yaml_model(services, _ServicesIn).services
        compiled_policy = load_policy(policy, profile)
    except (ConfigError, KeyError, ValueError) as exc:
        fail(str(exc))
    if provider not in compiled_policy.limits.storage:
        fail(f"provider: unknown {provider!r}; known: {sorted(compiled_policy.limits.storage)}")
    items = [Service(r.name, r.ram, r.volume, r.customer) for r in rows]
    try:
        report = greedy_to_optimal_ratio(
            items,
            compiled_policy.limits,
            compiled_policy,
            provider=provider,
            max_nodes_per_cluster=max_nodes_per_cluster,
            ctrl_node_type=ctrl_node_type,
            settings=SolveSettings(time_limit, workers),
            force_solver=force_solver,
        )
    except KeyError as exc:
        fail(f"ctrl_node_type: {exc.args[0]}")
    except Infeasible as exc:
        fail(f"infeasible: {exc}", 1)
    if _emit(report.to_dict(), as_json):
        return
    table = Table(title=f"Packing bound: {report.services} services on {provider} run nodes")
    for column in ("", "L1 bound", "L2 bound", "FFD", "optimum"):
        table.add_column(column, justify="right")
    table.add_row(
        "run nodes",
        str(report.l1_nodes),
        str(report.l2_nodes),
        str(report.ffd_nodes),
        f"{report.nodes} ({report.nodes_outcome.status})",
    )
    table.add_row(
        "clusters",
        str(report.l1_clusters),
        "-",
        str(report.ffd_clusters),
        f"{report.clusters} ({report.clusters_status})",
    )
    console.print(table)
    console.print(_outcome_line(report.nodes_outcome), highlight=False)
    console.print(report.ram_rounding, highlight=False)
    console.print(_greedy_table(report))
    for line in strategy_advice(report):
        console.print(line, highlight=False)


def _greedy_table(report: PackingReport) -> Table:
    against = "optimum" if report.ratio_exact else "best packing found (not proven optimal)"
    table = Table(title=f"Greedy engine (arrival order) against the {against}")
    for column in ("RAM strategy", "run nodes", "/ optimum", "clusters", "/ optimum"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{report.greedy_strategy} (policy)",
        str(report.greedy_nodes),
        f"{report.greedy_to_optimal_nodes:.3f}",
        str(report.greedy_clusters),
        f"{report.greedy_to_optimal_clusters:.3f}",
    )
    if report.most_allocated_nodes is not None and report.greedy_strategy != "most_allocated":
        table.add_row(
            "most_allocated",
            str(report.most_allocated_nodes),
            f"{report.most_allocated_to_optimal_nodes:.3f}",
            str(report.most_allocated_clusters),
            f"{report.most_allocated_to_optimal_clusters:.3f}",
        )
    return table


def strategy_advice(report: PackingReport) -> list[str]:
    """Which RAM strategy the operator should run, from this report's numbers."""
    if report.most_allocated_nodes is None or report.greedy_strategy == "most_allocated":
        return []
    spread, packed = report.greedy_nodes, report.most_allocated_nodes
    lines = []
    if packed < spread:
        lines.append(
            f"most_allocated needs {spread - packed} fewer run nodes ({(spread - packed) / spread:.1%}) than "
            f"{report.greedy_strategy} on these services."
        )
    elif packed > spread:
        lines.append(f"most_allocated needs {packed - spread} more run nodes than {report.greedy_strategy} here.")
    else:
        lines.append(f"Both strategies need {spread} run nodes here: the choice is about headroom, not nodes.")
    lines.append(
        "Use least_allocated (spread) for the live router where headroom per node matters: services that grow in "
        "place, bursts, and a node failure taking fewer services down. Use most_allocated (pack) when nodes cost "
        "more than headroom: filling a fleet before buying, draining nodes to remove them, and large services "
        "(databases, big volumes) that spreading leaves no whole node for."
    )
    return lines


def _infeasible(exc: Infeasible, bad_input: tuple[str, ...]) -> NoReturn:
    """Exit 2 when the input names something the profile lacks or is out of range, 1 when it cannot be met."""
    if exc.constraint in bad_input:
        fail(f"bad input: {exc}", 2)
    fail(f"infeasible: {exc}", 1)


@optimize_app.command()
def drain(
    fleet: Annotated[Path, typer.Option(help="YAML/JSON: drain, target?, clusters with nodes and services.")],
    profile: Profile = "seed",
    time_limit: TimeLimit = 30.0,
    workers: Workers = 2,
    as_json: AsJson = False,
) -> None:
    """Fewest moves (volumes weighted by size) that empty a draining cluster or bring it under a target."""
    try:
        state = DrainFleet.load(fleet)
    except ConfigError as exc:
        fail(str(exc))
    try:
        plan = plan_drain(state, _limits(profile), SolveSettings(time_limit, workers))
    except Infeasible as exc:
        _infeasible(exc, bad_input=("storage_provider",))
    if _emit(plan.to_dict(), as_json):
        return
    table = Table(title=f"Drain plan for {plan.cluster}: {len(plan.moves)} moves, weight {plan.total_weight}")
    for column in ("#", "service", "from", "to", "RAM", "volume", "weight", "why"):
        table.add_column(column)
    for move in plan.moves:
        table.add_row(
            str(move.order),
            move.service,
            f"{move.from_cluster}/{move.from_node}",
            f"{move.to_cluster}/{move.to_node}",
            human_bytes(move.ram_bytes),
            human_bytes(move.volume_bytes) if move.volume_bytes else "-",
            str(move.weight),
            move.why,
        )
    console.print(table)
    console.print(
        f"stays on {plan.cluster}: {len(plan.stays)} services, {human_bytes(plan.remaining_ram_bytes)} "
        f"RAM, {plan.remaining_volumes} volumes",
        highlight=False,
    )
    console.print(_outcome_line(plan.outcome), highlight=False)


@optimize_app.command()
def capacity(
    demand: Annotated[Path, typer.Option(help="YAML/JSON: customers, services: [{ram, volume?, count}].")],
    profile: Profile = "seed",
    max_clusters: Annotated[int, typer.Option(help="Most new clusters per storage provider.", min=1)] = 10,
    max_nodes_per_cluster: Annotated[int, typer.Option(min=1)] = 20,
    utilisation: Annotated[float, typer.Option(help="Usable share of each node's allocatable RAM.")] = 1.0,
    pods_utilisation: Annotated[
        float, typer.Option(help="Usable share of each node's max-pods (its system pods come off the rest).")
    ] = 1.0,
    run_node_type: Annotated[str | None, typer.Option(help="Run node type from the profile's costs.")] = None,
    provider: Annotated[
        list[str] | None,
        typer.Option(help="Storage provider new clusters may have (repeat; default: every provider of the profile)."),
    ] = None,
    time_limit: TimeLimit = 10.0,
    workers: Workers = 2,
    as_json: AsJson = False,
) -> None:
    """Cheapest mix of run nodes, control-plane types and storage providers' clusters that holds a demand."""
    try:
        forecast = Demand.load(demand)
    except ConfigError as exc:
        fail(str(exc))
    except ValidationError as exc:
        fail("; ".join(validation_problems(exc)))
    try:
        plan = plan_capacity(
            forecast,
            _limits(profile),
            SolveSettings(time_limit, workers),
            max_clusters_per_provider=max_clusters,
            max_nodes_per_cluster=max_nodes_per_cluster,
            utilisation=utilisation,
            pods_utilisation=pods_utilisation,
            run_node_type=run_node_type,
            providers=tuple(provider) if provider else None,
        )
    except Infeasible as exc:
        _infeasible(exc, bad_input=("utilisation", "pods_utilisation", "run_node_type", "providers"))
    if _emit(plan.to_dict(), as_json):
        return
    table = Table(title=f"Capacity plan: EUR {plan.eur_month:,.2f}/month ({plan.run_node_type} run nodes)")
    # Cells never wrap or shrink (a money cell cut to "4,01…" at 80 columns is worse than none): short headers keep
    # the table within 80 columns; only the control-plane header may wrap.
    for column in ("provider", "nodes", "control plane", "services", "volumes", "RAM", "EUR/month"):
        table.add_column(column, justify="left" if column in ("provider", "control plane") else "right",
                         no_wrap=column != "control plane")  # fmt: skip
    for c in plan.clusters:
        table.add_row(
            c.provider,
            str(c.run_nodes),
            c.ctrl_node_type,
            str(c.services),
            str(c.volumes),
            human_bytes(c.ram_bytes),
            f"{c.eur_month:,.2f}",
        )
    console.print(table)
    console.print(_outcome_line(plan.outcome), highlight=False)
    short = [(number, c) for number, c in enumerate(plan.clusters, start=1) if c.packed_nodes > c.run_nodes]
    if not short:
        console.print("Packing check: each cluster's services pack onto its planned run nodes.", highlight=False)
    for number, c in short:
        unproven = "" if c.packed_status == "OPTIMAL" else " (the best packing found, not proven minimal)"
        console.print(
            f"Packing check: cluster {number} ({c.provider}) needs {c.packed_nodes} run nodes{unproven}, not "
            f"{c.run_nodes}: the plan's L2 cuts are a bound; budget the packed count.",
            highlight=False,
        )
