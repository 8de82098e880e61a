"""``sim run SCENARIO.yaml``: one replication with a progress bar, the decision table, and the outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from placement.cli_common import error_console, fail, output_folder
from placement.limits import PROFILE_NAMES
from placement.yamlio import ConfigError
from sim import fmt
from sim.overrides import OverrideError, apply_overrides
from sim.recommend import recommend
from sim.report_planning import level_text, never_bound_line
from sim.scenario import Scenario, load_scenario
from sim.simulation import run
from sim.start_from.resolve import started_scenario
from sim.start_from.sources import StartFromError

console = Console()
if not console.is_terminal:
    console.width = 160  # a log or a pipe: keep the decision table's rows on one line each


SET_OPTION = typer.Option(
    "--set",
    metavar="PATH=VALUE",
    help="what-if on any scenario field, repeatable: growth.start_per_month=300, operator.node_lead_days=30, "
    "fleet.clusters[0].run_nodes=5, limits.kubernetes.max_pods_per_node=250 (a limits figure); "
    "validated like the YAML",
)


def load_with_overrides(path: Path, overrides: list[str] | None) -> Scenario:
    """The scenario file, started from its live source when it names one (``start_from:``), with the ``--set``
    what-ifs checked (not applied: the run applies and records them); a bad file, source or override ends the
    command with status 2 and a message naming the field."""
    try:
        scenario = load_live_scenario(path)
        apply_overrides(scenario, overrides or ())
    except (ConfigError, OverrideError) as exc:
        fail(str(exc))
    return scenario


def load_live_scenario(path: Path) -> Scenario:
    """``load_scenario``, then its ``start_from`` source read (``sim.start_from.resolve``); a source that cannot be
    read ends the command with status 2, naming the file's ``start_from`` and why."""
    scenario = load_scenario(path)
    try:
        return started_scenario(scenario)
    except StartFromError as exc:
        fail(f"{path}: start_from: {exc}")


CONSOLE_DECISIONS = 30  # the console shows this many decisions; decisions.csv and the report have them all


def print_decision_table(summary: dict) -> None:
    """The decision table v2 (``sim.decision_table``): the shards and upgrades always, then node orders and the
    rest up to ``CONSOLE_DECISIONS`` rows; and the limits that never bound, with their peak utilisation."""
    decisions = summary.get("decisions") or []
    big = [d for d in decisions if d["kind"] != "run nodes" or d["status"] != "ordered"]
    shown = big[:CONSOLE_DECISIONS]
    shown += [d for d in decisions if d not in big][: max(0, CONSOLE_DECISIONS - len(shown))]
    shown.sort(key=lambda d: (d["decided_date"] or "", d["cluster_id"] or ""))
    table = Table(title=f"Decision table: {summary['scenario']} ({summary['limits_profile']} limits)")
    for column, justify in (("decided", "left"), ("effective", "left"), ("cluster", "left"),
                            ("triggered by", "left"), ("limit", "left"), ("level then / limit", "right"),
                            ("breach", "left"), ("customers cl./fleet", "right"), ("action", "left"),
                            ("EUR/month", "right")):  # fmt: skip
        table.add_column(column, justify=justify, no_wrap=column in ("decided", "effective", "breach"))
    for d in shown:
        status = "" if d["status"] == "ordered" else f" [{d['status']}]"
        table.add_row(
            fmt.day_date(d["decided_date"]),
            fmt.day_date(d["effective_date"]),
            d["cluster_id"],
            d["triggered_by"] or "its region",
            d["limit_name"],
            level_text(d),
            fmt.day_date(d["projected_breach_date"]),
            f"{fmt.number(d['cluster_customers'])}/{fmt.number(d['fleet_customers'])}",
            d["action"] + status,
            fmt.number(d["eur_month"]),
        )
    console.print(table, markup=False)
    if len(shown) < len(decisions):
        console.print(
            f"{len(decisions) - len(shown)} more decisions (run-node orders) in decisions.csv and the report",
            highlight=False,
        )
    line = never_bound_line(summary)
    if line:
        console.print(f"Limits that never bound (peak utilisation): {line}", highlight=False, markup=False)
    if summary["first_shard_limit"] is None:
        console.print("No shard within the horizon.")
    else:
        console.print(
            f"First shard: {summary['first_shard_date']} at {summary['first_shard_customers']} customers, "
            f"forced by [bold]{summary['first_shard_limit']}[/] ({summary['first_shard_why']})",
            highlight=False,
            soft_wrap=True,
        )
    console.print(
        f"Placements: {summary['placements_attempted']:,} attempted, {summary['placements_rejected']:,} rejected; "
        f"customers: {summary['customers_signed_up']:,} signed up, {summary['customers_lost']:,} lost (their first "
        f"service fit nowhere), {summary['customers_churned']:,} churned; end: {summary['customers_end']:,} "
        f"customers, {summary['clusters_end']} clusters, {summary['run_nodes_end']} run nodes, "
        f"EUR {summary['cost_eur_month_end']:,.0f}/month",
        highlight=False,
    )
    for override in summary.get("overrides") or []:
        line = f"what-if: {override['path']} = {override['value']} (scenario: {override['was']})"
        console.print(line, highlight=False, markup=False)


def _yaml_value(value) -> str:
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def print_recommendations(summary: dict, scenario_path: Path) -> None:
    """``--recommend``: one line per binding limit, what to change and what it saves, or why nothing helps."""
    items = summary.get("recommendations")
    if items is None:
        return
    banded = any(i.get("saving_band") for i in items)
    how = "a paired run on the same seed, bands over paired seeds" if banded else "a paired run on the same seed"
    console.print(f"Recommendations (each {how}):", highlight=False)
    if not items:
        console.print("  no limit forced a decision: nothing to recommend", highlight=False)
    for item in items:
        console.print(f"  {item['limit_name']}: {item['verdict']}", highlight=False, markup=False, soft_wrap=True)
    helps = [i for i in items if i.get("helps")]
    base = "".join(f" --set {o['path']}={_yaml_value(o['value'])}" for o in summary.get("overrides") or [])
    if helps and not banded:
        console.print(
            f"  for a band over seeds: sim compare {scenario_path}{base} --set-b {helps[0]['override']} --runs 20",
            highlight=False,
            markup=False,
        )


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def print_packing_table(summary: dict) -> None:
    """The packing checks: run nodes and clusters of the optimum, the greedy engine and the simulated fleet."""
    rows = summary.get("packing_checks")
    if rows is None:
        return
    table = Table(title="Packing checks: greedy engine and simulated fleet vs the optimum (run nodes, clusters)")
    for column, justify in (
        ("date", "left"),
        ("group", "left"),
        ("services", "right"),
        ("L1", "right"),
        ("optimum", "right"),
        ("status", "left"),
        ("greedy", "right"),
        ("greedy/opt", "right"),
        ("sim", "right"),
        ("sim/opt", "right"),
        ("clusters opt/greedy/sim", "right"),
    ):
        table.add_column(column, justify=justify, no_wrap=True)
    for row in rows:
        if row["status"] == "INFEASIBLE":
            table.add_row(row["date"], f"{row['region']} {row['storage_provider']}", str(row["services"]),
                          "", "", "[red]INFEASIBLE[/]", "", "", str(row["sim_run_nodes"]), "", "")  # fmt: skip
            continue
        status = row["status"] if row["status"] == "OPTIMAL" else f"[yellow]{row['status']}[/] gap {row['gap']:.1%}"
        table.add_row(
            row["date"],
            f"{row['region']} {row['storage_provider']}",
            str(row["services"]),
            str(row["l1_nodes"]),
            str(row["optimal_nodes"]),
            status,
            str(row["greedy_nodes"]),
            _ratio(row["greedy_to_optimal_nodes"]),
            str(row["sim_run_nodes"]),
            _ratio(row["sim_to_optimal_nodes"]),
            f"{row['optimal_clusters']}/{row['greedy_clusters']}/{row['sim_clusters']}",
        )
    console.print(table)


def run_command(
    scenario_path: Annotated[Path, typer.Argument(metavar="SCENARIO.yaml", help="the scenario file")],
    seed: Annotated[int, typer.Option("--seed", min=0, help="random seed (same seed, same outputs)")] = 0,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="output directory (default out/<scenario name>)", callback=output_folder),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option("--profile", help=f"limits profile, overriding the scenario's: {'|'.join(PROFILE_NAMES)}"),
    ] = None,
    fmt: Annotated[Literal["parquet", "csv"], typer.Option("--format", help="table format")] = "parquet",
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
    overrides: Annotated[list[str] | None, SET_OPTION] = None,
    recommend_settings: Annotated[
        bool,
        typer.Option(
            "--recommend",
            help="for each binding limit that is a setting (max-pods, run-node type, control-plane rung, storage "
            "provider, shard thresholds), rerun with the next sensible setting on the same seed and report the "
            "saving in EUR/month and the shift of the binding date",
        ),
    ] = False,
    recommend_runs: Annotated[
        int,
        typer.Option(
            "--recommend-runs",
            min=1,
            help="with --recommend: also compare each setting that helps over this many paired seeds and report "
            "the p10-p90 band of its saving (1: the run's own seed only)",
        ),
    ] = 1,
) -> None:
    """Run one replication of a scenario and write its tables, summary and HTML report."""
    if profile is not None and profile not in PROFILE_NAMES:
        fail(f"--profile must be one of {', '.join(PROFILE_NAMES)}, got {profile!r}")
    scenario = load_with_overrides(scenario_path, overrides)
    out_dir = out or output_folder(Path("out") / scenario.name)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=error_console,
        disable=quiet,
        transient=False,
    ) as bar:
        task = bar.add_task(f"simulating {scenario.name}", total=1.0)
        try:
            result = run(
                scenario,
                seed,
                profile=profile,
                overrides=overrides or (),
                progress=lambda done: bar.update(task, completed=done),
            )
        except ConfigError as exc:
            fail(str(exc))
        if recommend_settings:
            applied, _ = apply_overrides(scenario, overrides or ())
            result.summary["recommendations"] = recommend(
                applied,
                result,
                seed,
                profile=profile,
                on_try=lambda override: bar.update(task, description=f"counterfactual --set {override}"),
                band_runs=recommend_runs,
            )
        bar.update(task, description="writing report")
        written = result.write(out_dir, fmt=fmt)
        bar.update(task, description="done", completed=1.0)
    for warning in result.summary.get("warnings", ()):  # the initial fleet over a comfortable level
        console.print(f"warning: {warning}", style="yellow", highlight=False, markup=False)
    design_doc = result.summary.get("design_doc")
    if design_doc:  # the run against what the design document expects of its stage
        style = "yellow" if design_doc["agrees"] is False else None
        for line in design_doc["lines"]:
            console.print(f"design document: {line}", style=style, highlight=False, markup=False)
    print_decision_table(result.summary)
    print_packing_table(result.summary)
    print_recommendations(result.summary, scenario_path)
    for name, path in written.items():
        console.print(f"wrote {name}: {path}", highlight=False)
