from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from placement.collector.snapshot import Snapshot, collect_snapshot
from placement.collector.source import KubernetesSource
from support.kube_apiserver import ApiServer, FakeCluster, write_kubeconfig


class Served:
    def __init__(self, server: ApiServer, kubeconfig: Path) -> None:
        self.server = server
        self.cluster = server.cluster
        self.kubeconfig = kubeconfig

    def source(self, **options: object) -> KubernetesSource:
        return KubernetesSource.from_kubeconfig(self.kubeconfig, **options)

    def collect(self, cluster_id: str = "eu-west-1", *, source_options: dict | None = None, **options) -> Snapshot:
        with self.source(**(source_options or {})) as source:
            return collect_snapshot(source, cluster_id, **options)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[FakeCluster], Served]]:
    """Start a fake API server for a cluster on loopback and write a kubeconfig pointing at it."""
    with ExitStack() as stack:
        count = 0

        def start(cluster: FakeCluster) -> Served:
            nonlocal count
            count += 1
            server = stack.enter_context(ApiServer(cluster))
            return Served(server, write_kubeconfig(tmp_path / f"kubeconfig-{count}", server.url))

        yield start
