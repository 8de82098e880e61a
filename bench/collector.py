"""Collector benchmark: one collection over a large cluster served locally.

    python -m bench.collector [--nodes 5000] [--pods 150000] [--page-size 500]

The fake API server (support/kube_apiserver.py) runs in a separate process, so the collector's memory is
measured alone. Two collections run: one timed (wall time, peak RSS growth), one under tracemalloc (peak
Python allocation). A smaller cluster is collected too, to show that memory does not grow with the pod count.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

from placement.collector.snapshot import collect_snapshot
from placement.collector.source import KubernetesSource
from placement.units import human_bytes


def _serve(nodes: int, pods: int, ready: multiprocessing.Queue) -> None:
    from support.kube_apiserver import ApiServer
    from support.kube_fleets import generated_fleet

    with ApiServer(generated_fleet(nodes, pods, customers=2_000)) as server:
        ready.put(server.url)
        server.stop.wait()


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def collect_once(url: str, page_size: int, trace: bool) -> dict[str, float]:
    from support.kube_apiserver import write_kubeconfig

    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = write_kubeconfig(Path(tmp) / "kubeconfig", url)
        with KubernetesSource.from_kubeconfig(kubeconfig, page_size=page_size, timeout=120) as source:
            rss_before = _peak_rss()
            if trace:
                tracemalloc.start()
            started = time.perf_counter()
            snapshot = collect_snapshot(source, "bench")
            seconds = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1] if trace else 0
            if trace:
                tracemalloc.stop()
    return {
        "seconds": seconds,
        "tracemalloc_peak": peak,
        "rss_growth": _peak_rss() - rss_before,
        "requests": snapshot.inventory.requests,
        "run_nodes": len(snapshot.load.run_nodes),
        "pods": snapshot.inventory.object_counts["pods"],
        "etcd_objects": snapshot.load.etcd_objects,
    }


def run(nodes: int, pods: int, page_size: int) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    server = context.Process(target=_serve, args=(nodes, pods, ready), daemon=True)
    server.start()
    try:
        url = ready.get(timeout=120)
        timed = collect_once(url, page_size, trace=False)
        traced = collect_once(url, page_size, trace=True)
    finally:
        server.terminate()
        server.join()
    timed["tracemalloc_peak"] = traced["tracemalloc_peak"]
    timed["traced_seconds"] = traced["seconds"]
    return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5_000)
    parser.add_argument("--pods", type=int, default=150_000)
    parser.add_argument("--page-size", type=int, default=500)
    args = parser.parse_args()
    run(5, 50, args.page_size)  # warm-up: first-use imports and client set-up are not part of a collection
    print(
        f"{'run nodes':>9} {'pods':>8} {'page':>5} {'requests':>8} {'etcd objs':>9} {'time s':>7} "
        f"{'pods/s':>8} {'tracemalloc peak':>16} {'RSS growth':>11}"
    )
    for nodes, pods in ((args.nodes // 10, args.pods // 10), (args.nodes, args.pods)):
        result = run(nodes, pods, args.page_size)
        print(
            f"{result['run_nodes']:>9,} {result['pods']:>8,} {args.page_size:>5} {result['requests']:>8,} "
            f"{result['etcd_objects']:>9,} {result['seconds']:>7.1f} {result['pods'] / result['seconds']:>8,.0f} "
            f"{human_bytes(result['tracemalloc_peak']):>16} {human_bytes(result['rss_growth']):>11}",
            flush=True,
        )


if __name__ == "__main__":
    main()
