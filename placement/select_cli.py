"""``placement select``: choose a cluster for one new service from a state file, and explain why."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from placement.cli_common import fail
from placement.engine import Decision, select_cluster
from placement.policy import load_policy
from placement.state import RequestIn, load_state
from placement.yamlio import ConfigError, validation_problems

console = Console()


def render_decision(decision: Decision) -> None:
    verdict = (
        f"[bold green]{decision.cluster_id}[/] (task queue {decision.task_queue}, node hint {decision.node_hint})"
        if decision.placed
        else "[bold red]not placed[/]"
    )
    console.print(f"Decision: {verdict}", highlight=False)
    console.print(f"Why: {decision.reason}", highlight=False, soft_wrap=True)
    for warning in decision.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if not decision.results:
        return
    table = Table(title="Per-cluster filters and scores")
    table.add_column("rank", justify="right")
    table.add_column("cluster")
    table.add_column("filters")
    for name, weight in decision.weights:
        table.add_column(f"{name}\n(x{weight})", justify="right")
    table.add_column("total", justify="right")
    for record in decision.cluster_records():
        scores = {s["name"]: s for s in record["scores"]}
        cells = [
            f"{scores[name]['score']} → {scores[name]['weighted']}" if name in scores else "-"
            for name, _ in decision.weights
        ]
        table.add_row(
            str(record["rank"] or "-"),
            record["cluster_id"],
            "[green]pass[/]" if record["feasible"] else f"[red]{record['reason']}[/]",
            *cells,
            str(record["total"]) if record["total"] is not None else "-",
        )
    console.print(table)


def select(
    state: Annotated[Path, typer.Option(help="YAML state file: clusters and their load snapshots.")],
    ram: Annotated[
        str | None, typer.Option(help="RAM request of the new service, e.g. 2Gi (default: the plan's default).")
    ] = None,
    region: Annotated[str | None, typer.Option(help="The customer's preferred region.")] = None,
    volume: Annotated[
        list[str] | None, typer.Option(help="A volume size (repeatable), e.g. 10Gi; mounted at /data.")
    ] = None,
    has_volume: Annotated[
        bool, typer.Option(help="The service has a volume: one of the plan's default size unless --volume says.")
    ] = False,
    mount_path: Annotated[str, typer.Option(help="Mount path of the volume.")] = "/data",
    customer: Annotated[str, typer.Option(help="Customer id.")] = "cli",
    customer_volumes: Annotated[int, typer.Option(help="Volumes the customer already has.")] = 0,
    plan: Annotated[str, typer.Option(help="The customer's plan (quota set).")] = "default",
    new_customer: Annotated[bool, typer.Option(help="The service is the customer's first.")] = False,
    policy: Annotated[Path | None, typer.Option(help="Policy YAML (default: the shipped policy).")] = None,
    profile: Annotated[str | None, typer.Option(help="Limits profile: seed, published or a path.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision as JSON.")] = False,
) -> None:
    """Choose a cluster for one new service and explain why."""
    try:
        fleet = load_state(state)
        compiled = load_policy(policy, profile)
        request = RequestIn(
            customer_id=customer,
            region=region,
            ram=ram,
            volumes=[{"size": size, "mount_path": mount_path} for size in (volume or [])]
            or ([{"mount_path": mount_path}] if has_volume else []),
            customer_volume_count=customer_volumes,
            plan=plan,
            new_customer=new_customer,
        ).to_model(compiled.request_defaults(plan))
    except ConfigError as exc:
        fail(str(exc))
    except ValidationError as exc:
        fail("bad request: " + "; ".join(validation_problems(exc)))
    except (KeyError, ValueError) as exc:
        fail(str(exc))
    decision = select_cluster(request, fleet, compiled)
    if as_json:
        sys.stdout.write(json.dumps(decision.to_dict(), indent=2) + "\n")
    else:
        render_decision(decision)
    if not decision.placed:
        raise typer.Exit(1)
