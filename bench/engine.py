"""Median in-process ``select_cluster`` time for fleets of 10, 100 and 1,000 clusters.

``python -m bench.engine [--repeat N]``. Default policy, a 2Gi request with one 10Gi volume, without ``now``
(no snapshot-age check) and with it, as the router calls the engine (every snapshot a minute old). "new shape"
gives every call a request of a RAM size not seen before, so nothing the engine keeps per request shape (its
footprint and thresholds per kind of cluster) is reused: the cost of a request unlike any before it. "+ .results"
also reads ``Decision.results`` and ``.reason``, the full explanation, which is otherwise never built.

The fleet is generated from a seeded ``numpy.random.Generator``: three regions,
Longhorn and Rook-Ceph, 3-12 run nodes per cluster, about 10% draining, volumes and etcd objects spread across
their limits, so some clusters are rejected and the rest score differently. The same fleet object is passed on
every call, as the router (cached fleet) and the simulator pass theirs.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from placement.engine import select_cluster
from placement.model import Cluster, ClusterLoad, PlacementRequest, RunNode, VolumeRequest
from placement.policy import default_policy

GIB = 1024**3
REGIONS = ("eu-west", "eu-central", "us-east")


def make_fleet(count: int, rng: np.random.Generator) -> list[tuple[Cluster, ClusterLoad]]:
    fleet = []
    for index in range(count):
        provider = "longhorn" if rng.random() < 0.6 else "rook-ceph"
        status = "draining" if rng.random() < 0.1 else "active"
        cluster = Cluster(
            id=f"c-{index:05d}",
            name=f"cluster {index}",
            region=REGIONS[int(rng.integers(len(REGIONS)))],
            task_queue=f"deployer-{index:05d}",
            registry_url=f"10.{index // 250}.{index % 250}.4:5000",
            storage_provider=provider,
            status=status,
        )
        nodes = tuple(
            RunNode(f"run-{n}", 250 * GIB, int(rng.integers(0, 250)) * GIB, int(rng.integers(0, 110)))
            for n in range(int(rng.integers(3, 13)))
        )
        max_volumes = 500 if provider == "longhorn" else 10_000
        load = ClusterLoad(
            run_nodes=nodes,
            ctrl_node_type=("CX32", "CX42", "CX52")[int(rng.integers(3))],
            volumes=int(rng.integers(0, max_volumes + 1)),
            services=int(rng.integers(0, 2_000)),
            customers=int(rng.integers(0, 1_000)),
            pods=int(rng.integers(0, 3_000)),
            etcd_objects=int(rng.integers(0, 3_000)),
        )
        fleet.append((cluster, load))
    return fleet


def median_seconds(function, repeat: int) -> float:
    function()  # warm caches (policy plan, fleet columns, per-load largest-free)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def min_cpu_seconds(function, calls: int, rounds: int = 5) -> float:
    """The least CPU time per call over ``rounds`` rounds of ``calls`` calls: steadier than wall time on a machine
    other work shares, though contention still inflates it."""
    function()
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(calls):
            function()
        best = min(best, (time.process_time() - start) / calls)
    return best


def explained(decision) -> tuple:
    return decision.results, decision.reason


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2_000, help="timed calls per fleet size")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--cpu", action="store_true", help="also the least CPU time per call with now= (5 rounds)")
    args = parser.parse_args()
    policy = default_policy()
    request = PlacementRequest("bench", 2 * GIB, "eu-west", (VolumeRequest(10 * GIB),))
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    header = ("clusters", "select_cluster", "with now=", "new shape", "+ .results", "placed")
    print(" ".join(f"{name:>{width}}" for name, width in zip(header, (8, 15, 12, 12, 12, 8), strict=True)))
    for count in (10, 100, 1_000):
        rng = np.random.default_rng(np.random.SeedSequence(args.seed).spawn(1)[0])
        fleet = make_fleet(count, rng)
        # The same fleet observed a minute ago, for the snapshot-age rule the router runs with.
        observed = [(c, dataclasses.replace(ld, observed_at=now - timedelta(seconds=60))) for c, ld in fleet]
        decision = select_cluster(request, fleet, policy)
        fast = median_seconds(lambda fleet=fleet: select_cluster(request, fleet, policy), args.repeat)
        aged = median_seconds(lambda seen=observed: select_cluster(request, seen, policy, now=now), args.repeat)
        # One request per timed call, each of a RAM size no call before it had (the warm-up call's included).
        fresh = iter([dataclasses.replace(request, ram_bytes=2 * GIB + count + k) for k in range(args.repeat + 1)])
        novel = median_seconds(
            lambda seen=observed, shapes=fresh: select_cluster(next(shapes), seen, policy, now=now), args.repeat
        )
        full = median_seconds(
            lambda seen=observed: explained(select_cluster(request, seen, policy, now=now)), args.repeat
        )
        print(
            f"{count:>8} {fast * 1e6:>12.1f} µs {aged * 1e6:>9.1f} µs {novel * 1e6:>9.1f} µs {full * 1e6:>9.1f} µs "
            f"{decision.cluster_id or '-':>8}"
        )
        if args.cpu:
            cpu = min_cpu_seconds(lambda seen=observed: select_cluster(request, seen, policy, now=now), args.repeat)
            print(f"{'':>8} CPU with now=: {cpu * 1e6:.1f} µs (least of 5 rounds of {args.repeat} calls)")


if __name__ == "__main__":
    main()
