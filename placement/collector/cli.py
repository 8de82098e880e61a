"""``placement collect``: read one cluster's load through its API server and hand the snapshot on."""

from __future__ import annotations

import re
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from placement.cli_common import error_console, fail, output_file
from placement.collector.resources import DEFAULT_COLLECTION_TIMEOUT, DEFAULT_PAGE_SIZE

if TYPE_CHECKING:
    from placement.collector.snapshot import Snapshot

CLUSTER_ID = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


class _StdoutSink:
    def write(self, snapshot: Snapshot) -> str:
        from placement.collector.sinks import snapshot_json

        sys.stdout.write(snapshot_json(snapshot))
        sys.stdout.flush()
        return "stdout"


def collect(
    cluster_id: Annotated[str, typer.Option(help="The cluster's id in the router (its clusters row).")],
    kubeconfig: Annotated[
        Path | None, typer.Option(help="Kubeconfig file (default: in-cluster service account, then ~/.kube/config).")
    ] = None,
    context: Annotated[str | None, typer.Option(help="Kubeconfig context (default: its current context).")] = None,
    db: Annotated[str | None, typer.Option(help="Router database URL: store the load there.")] = None,
    router: Annotated[str | None, typer.Option(help="Router base URL: PUT the load to its API.")] = None,
    token: Annotated[
        str | None, typer.Option(envvar="PLACEMENT_ROUTER_TOKEN", help="Bearer token for --router.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Write the snapshot JSON (load and inventory) to this file.", callback=output_file),
    ] = None,
    print_snapshot: Annotated[bool, typer.Option("--print", help="Print the snapshot JSON to stdout.")] = False,
    watch_mode: Annotated[bool, typer.Option("--watch", help="Collect again every --interval seconds.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between collections with --watch.", min=0)] = 60.0,
    backoff_max: Annotated[float, typer.Option(help="Longest wait after repeated failures, seconds.", min=0)] = 300.0,
    iterations: Annotated[
        int | None, typer.Option(help="With --watch: stop after this many collections.", min=1)
    ] = None,
    page_size: Annotated[int, typer.Option(help="Objects per list request.", min=1)] = DEFAULT_PAGE_SIZE,
    timeout: Annotated[
        float,
        typer.Option(
            help="Total seconds one API request may take: connecting, the headers and the whole body.", min=0.001
        ),
    ] = 30.0,
    collection_timeout: Annotated[
        float,
        typer.Option(
            help="Total seconds one collection may take, the waits the API server asks for (Retry-After) included.",
            min=0.001,
        ),
    ] = DEFAULT_COLLECTION_TIMEOUT,
    profile: Annotated[
        str | None,
        typer.Option(
            help="Limits profile (seed, published or a path) whose control-plane types name the nodes "
            "(default: the default policy's profile, as placement serve uses)."
        ),
    ] = None,
    storage_provider: Annotated[
        str | None,
        typer.Option(
            help="A storage provider of --profile, e.g. longhorn or rook-ceph (default: detected from its classes)."
        ),
    ] = None,
    ctrl_node_type: Annotated[
        str | None,
        typer.Option(
            help="Control-plane node type (in --profile) for control-plane nodes whose instance-type label names "
            "none, e.g. k3s's own 'k3s', or that have none."
        ),
    ] = None,
    secrets: Annotated[
        str,
        typer.Option(
            help="How to count secrets for the etcd estimate: 'list' (a metadata-only list; needs list on secrets) "
            "or 'quota' (ResourceQuotas' count/secrets; no access to secrets, see deploy/collector-rbac-quota.yaml)."
        ),
    ] = "list",
    system_namespace: Annotated[
        list[str] | None, typer.Option(help="Another platform namespace that is not a customer (repeatable).")
    ] = None,
) -> None:
    """Read a k3s cluster's load (run nodes, pods, volumes, object counts) and store one snapshot."""
    # Imported here: the Kubernetes client and httpx load only when a collection runs.
    from placement.collector.controlplane import known_type
    from placement.collector.errors import CollectError
    from placement.collector.resources import SECRETS_COUNTS
    from placement.collector.sinks import DatabaseSink, DeliveryError, FileSink, RouterSink, Sink
    from placement.collector.snapshot import SYSTEM_NAMESPACES, collect_snapshot, default_limits
    from placement.collector.source import KubernetesSource
    from placement.collector.watch import summary, watch
    from placement.router.db import sqlite_file_missing
    from placement.yamlio import ConfigError

    if not CLUSTER_ID.match(cluster_id):
        fail(f"--cluster-id {cluster_id!r}: lower-case letters, digits and '-', as in the router's clusters table")
    if db and router:
        fail("--db and --router: give one of them")
    if db and sqlite_file_missing(db):
        fail(f"--db {db}: no such SQLite file (the router's database, where the cluster is registered)")
    if router and not token:
        fail("--router needs --token (or PLACEMENT_ROUTER_TOKEN)")
    if secrets not in SECRETS_COUNTS:
        fail(f"--secrets {secrets!r}: expected one of {', '.join(SECRETS_COUNTS)}")
    if not (db or router or out or print_snapshot):
        fail("nothing to write: pass --db, --router, --out or --print")
    if kubeconfig is not None and not kubeconfig.is_file():
        fail(f"--kubeconfig: no such file {kubeconfig}")
    try:
        limits = default_limits(profile)
    except (ConfigError, OSError) as exc:
        fail(f"--profile {profile}: {exc}")
    if storage_provider is not None and storage_provider not in limits.storage:
        fail(f"--storage-provider {storage_provider!r}: expected one of {', '.join(limits.storage)} (--profile)")
    if ctrl_node_type is not None and known_type(ctrl_node_type, limits) is None:
        fail(
            f"--ctrl-node-type {ctrl_node_type!r} is not a control-plane type of limits profile {limits.profile} "
            f"({', '.join(sorted(limits.control_plane_types))})"
        )

    # The router first: when it refuses the load, no file or stdout copy suggests otherwise.
    sinks: list[Sink] = []
    if db:
        sinks.append(DatabaseSink(db))
    if router:
        sinks.append(RouterSink(router, token or "", timeout=timeout))
    if out:
        sinks.append(FileSink(out))
    if print_snapshot:
        sinks.append(_StdoutSink())
    try:
        source = KubernetesSource.from_kubeconfig(
            kubeconfig, context, page_size=page_size, timeout=timeout, collection_timeout=collection_timeout
        )
    except CollectError as exc:
        fail(str(exc))
    namespaces = SYSTEM_NAMESPACES | frozenset(system_namespace or ())

    def collect_once() -> Snapshot:
        return collect_snapshot(
            source,
            cluster_id,
            limits=limits,
            storage_provider=storage_provider,
            ctrl_node_type=ctrl_node_type,
            system_namespaces=namespaces,
            secrets=secrets,  # type: ignore[arg-type]  # checked against SECRETS_COUNTS above
        )

    def log(line: str) -> None:
        # markup=False: a line can quote the API server, whose text must never be read as rich markup
        error_console.print(line, markup=False, highlight=False, soft_wrap=True)

    with ExitStack() as cleanup:
        cleanup.enter_context(source)
        for sink in sinks:
            if hasattr(sink, "close"):
                cleanup.callback(sink.close)
        if watch_mode:
            ok = watch(
                collect_once,
                sinks,
                interval=interval,
                backoff_cap=backoff_max,
                cycles=iterations,
                log=log,
            )
            if not ok:
                raise typer.Exit(1)
            return
        try:
            snapshot = collect_once()
            targets = [sink.write(snapshot) for sink in sinks]
        except DeliveryError as exc:
            fail(str(exc), code=1)
        except CollectError as exc:
            fail(f"{exc} (nothing written)", code=1)
    for warning in snapshot.inventory.warnings:
        log(f"warning: {warning}")
    log(f"{summary(snapshot)} -> {', '.join(targets)}")
