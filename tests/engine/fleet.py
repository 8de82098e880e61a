"""Small builders for engine tests: plain model objects with sensible defaults."""

from __future__ import annotations

from datetime import datetime

from placement.cycle import Cycle
from placement.model import Cluster, ClusterLoad, PlacementRequest, RunNode, VolumeRequest
from placement.policy import Policy, default_policy

GIB = 1024**3


def cluster(cid: str = "c1", *, region: str = "eu-west", provider: str = "longhorn", status: str = "active") -> Cluster:
    return Cluster(cid, cid.upper(), region, f"deployer-{cid}", f"registry.{cid}:5000", None, provider, status)


def load(
    *,
    nodes: tuple[tuple[int, int, int], ...] = ((250, 100, 50),),
    ctrl: str = "CX52",
    volumes: int = 10,
    services: int = 10,
    customers: int = 5,
    pods: int = 10,
    etcd: int = 100,
    observed_at: datetime | None = None,
) -> ClusterLoad:
    """``nodes``: (allocatable GiB, requested GiB, pods) per run node, named run-1, run-2, ..."""
    run_nodes = tuple(
        RunNode(f"run-{i}", alloc * GIB, used * GIB, pods) for i, (alloc, used, pods) in enumerate(nodes, start=1)
    )
    return ClusterLoad(run_nodes, ctrl, volumes, services, customers, pods, etcd, observed_at)


def request(
    *, ram_gib: float = 2, region: str | None = "eu-west", volumes: tuple[int, ...] = (10,), **kwargs
) -> PlacementRequest:
    return PlacementRequest(
        kwargs.pop("customer_id", "cust"),
        int(ram_gib * GIB),
        region,
        tuple(VolumeRequest(size * GIB) for size in volumes),
        **kwargs,
    )


def cycle(req: PlacementRequest | None = None, policy: Policy | None = None, now: datetime | None = None) -> Cycle:
    return Cycle.start(req or request(), policy or default_policy(), now)
