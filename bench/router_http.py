"""Benchmark the live router with ``wrk``: select-cluster (10 clusters) and placements on PostgreSQL.

    python -m bench.router_http [--duration 10] [--workers 1] [--pg postgresql://postgres@127.0.0.1:5432/test]

Needs ``wrk`` (Debian package ``wrk``); when it is missing and we are root, it is installed with apt-get.
Each scenario starts ``placement serve --workers N`` (default one uvicorn worker) on a loopback port, seeds 10
clusters, then runs wrk with a Lua script for the POST bodies. wrk is closed-loop; a paced run gives every
connection a random think time (wrk's ``delay()`` hook, uniform in 0..2x the mean, so the connections do not fire
in bursts) to hold the rate near the target. The achieved rate is reported next to wrk's latency distribution
and the server's own Prometheus histogram (as bucket bounds; with several workers, summed over them).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def require_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL)
        found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is required: apt-get install -y wrk")
    return found


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Router:
    def __init__(self, db: str, log: Path, workers: int = 1):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log.open("w")
        env = dict(os.environ, CAPPLAN_TOKENS=TOKEN)
        command = [sys.executable, "-m", "placement", "serve", "--db", db, "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*command, "--workers", str(workers)],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(600):
            if self.process.poll() is not None:
                break
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200 and self.workers() == workers:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"router did not start; see {log}")

    def workers(self) -> int:
        """Worker processes serving: every one of them, before a run starts."""
        match = re.search(r"^placement_router_workers ([\d.e+]+)$", httpx.get(f"{self.url}/metrics").text, re.MULTILINE)
        return int(float(match.group(1))) if match else 0

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.log.close()


def seed(url: str, clusters: int = 10, *, loads_only: bool = False) -> None:
    """Add the clusters (unless ``loads_only``) and give each a fresh load snapshot.

    A fresh snapshot absorbs the reservations made before it, as the collector's next snapshot would, so each
    placement run starts from the same free room instead of filling the fleet up run after run.
    """
    with httpx.Client(base_url=url, headers=AUTH, timeout=10) as http:
        for index in range(clusters):
            cluster_id = f"eu-west-{index + 1}"
            if not loads_only:
                http.post(
                    "/v1/clusters",
                    json={
                        "id": cluster_id,
                        "name": cluster_id,
                        "region": "eu-west" if index % 2 else "eu-central",
                        "task_queue": f"deployer-{cluster_id}",
                        "registry_url": "10.0.0.1:5000",
                        "storage_provider": "rook-ceph" if index % 3 == 0 else "longhorn",
                    },
                ).raise_for_status()
            http.put(
                f"/v1/clusters/{cluster_id}/load",
                json={
                    "ctrl_node_type": "AX162-R",
                    "run_nodes": [
                        {
                            "name": f"run-{n}",
                            "allocatable_ram": "250Gi",
                            "requested_ram": f"{40 + 7 * n + index}Gi",
                            "pods": 20 + n,
                        }
                        for n in range(6)
                    ],
                    "volumes": 50 + 20 * index,
                    "services": 200 + index,
                    "customers": 150,
                    "pods": 220,
                    "etcd_objects": 3000 + 100 * index,
                },
            ).raise_for_status()


SELECT_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"customer_id": "bench", "ram": "2Gi", "region": "eu-west", "volumes": [%(volumes)s]}'
function delay() if %(delay)d == 0 then return 0 end return math.random(0, 2 * %(delay)d) end
"""

PLACEMENT_LUA = """
local counter = 0
local prefix = "%(prefix)s"
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function init(args) tid = tid or 0; math.randomseed(tid) end
function delay() if %(delay)d == 0 then return 0 end return math.random(0, 2 * %(delay)d) end
request = function()
  counter = counter + 1
  local id = string.format("%%s-%%d-%%d", prefix, tid, counter)
  local volumes = ""
  if counter %% 2 == 0 then volumes = '{"size": "5Gi"}' end
  local body = string.format(
    '{"request_id": "%%s", "service_name": "%%s", "request": {"customer_id": "%%s", "ram": "256Mi", "volumes": [%%s]}}',
    id, id, id, volumes)
  return wrk.format("POST", "/v1/placements", {["Content-Type"] = "application/json",
                    ["Authorization"] = "Bearer %(token)s"}, body)
end
"""


def run_wrk(wrk: str, url: str, path: str, script: str, connections: int, duration: int, workdir: Path) -> dict:
    lua = workdir / f"{uuid.uuid4().hex}.lua"
    lua.write_text(script)
    threads = min(2, connections)
    out = subprocess.run(
        [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(lua), url + path],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = {"raw": out, "rate": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for label in ("50%", "90%", "99%"):
        match = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        value, unit = float(match.group(1)), match.group(2)
        result[label] = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non2xx"] = int(non2xx.group(1)) if non2xx else 0
    return result


def server_histogram(url: str, route: str) -> dict[float, float]:
    """Cumulative bucket counts of the server's latency histogram for 2xx answers on ``route``."""
    text = httpx.get(f"{url}/metrics").text
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        if not line.startswith("placement_http_request_duration_seconds_bucket{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line[: line.rindex("}")]))
        if labels.get("route") != route or labels.get("method") != "POST" or not labels["status"].startswith("2"):
            continue
        bound = float("inf") if labels["le"] == "+Inf" else float(labels["le"])
        buckets[bound] = buckets.get(bound, 0.0) + float(line.rsplit(" ", 1)[1])
    return buckets


def quantile_bound(before: dict[float, float], after: dict[float, float], q: float) -> str:
    diff = {b: after.get(b, 0.0) - before.get(b, 0.0) for b in after}
    total = diff.get(float("inf"), 0.0)
    if not total:
        return "n/a"
    for bound in sorted(diff):
        if diff[bound] >= q * total:
            return "> 2.5 s" if bound == float("inf") else f"≤ {bound * 1000:g} ms"
    return "n/a"


def scenario(
    name: str,
    wrk: str,
    router: Router,
    path: str,
    route: str,
    script: str,
    connections: int,
    duration: int,
    workdir: Path,
) -> dict:
    before = server_histogram(router.url, route)
    result = run_wrk(wrk, router.url, path, script, connections, duration, workdir)
    after = server_histogram(router.url, route)
    result["server_p50"] = quantile_bound(before, after, 0.50)
    result["server_p99"] = quantile_bound(before, after, 0.99)
    print(
        f"| {name} | {connections} | {result['rate']:.0f} | {result['50%']:.2f} | {result['90%']:.2f} | "
        f"{result['99%']:.2f} | {result['server_p50']} | {result['server_p99']} | {result['non2xx']} |",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--workers", type=int, default=1, help="placement serve --workers N")
    args = parser.parse_args()
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    wrk = require_wrk()
    print(
        "| scenario | connections | req/s | wrk p50 ms | wrk p90 ms | wrk p99 ms | server p50 | server p99 | non-2xx |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    select_path = "/v1/select-cluster"
    place_path = "/v1/placements"

    def placing(delay: int, prefix: str) -> str:
        return PLACEMENT_LUA % {"delay": delay, "prefix": prefix, "token": TOKEN}

    def selecting(delay: int, volume: bool = True) -> str:
        return SELECT_LUA % {"delay": delay, "volumes": '{"size": "10Gi"}' if volume else ""}

    # (name, path, Lua script, connections); paced runs: connections / (mean think time + latency) ~ target rate.
    sqlite_runs = [
        ("select-cluster, SQLite, one connection", select_path, selecting(0), 1),
        ("select-cluster, SQLite, paced ~500/s", select_path, selecting(19), 11),
        ("select-cluster without volume (from the cache), SQLite, one connection", select_path, selecting(0, False), 1),
        ("select-cluster without volume (from the cache), SQLite, paced ~500/s", select_path, selecting(19, False), 10),
        ("select-cluster, SQLite, saturated", select_path, selecting(0), 16),
    ]
    pg_runs = [
        ("select-cluster, PostgreSQL, paced ~500/s", select_path, selecting(19), 11),
        ("placements, PostgreSQL, one connection", place_path, placing(0, "one"), 1),
        ("placements, PostgreSQL, paced ~200/s", place_path, placing(20, "paced"), 6),
        ("placements, PostgreSQL, saturated", place_path, placing(0, "sat"), 16),
    ]
    with tempfile.TemporaryDirectory(prefix="router-bench-") as tmp:
        workdir = Path(tmp)
        router = Router(f"sqlite:///{workdir / 'bench.db'}", workdir / "sqlite.log", args.workers)
        try:
            seed(router.url)
            for name, path, script, connections in sqlite_runs:
                scenario(name, wrk, router, path, path, script, connections, args.duration, workdir)
        finally:
            router.stop()

        schema = f"bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            router = Router(f"{args.pg}?schema={schema}", workdir / "pg.log", args.workers)
            try:
                seed(router.url)
                for name, path, script, connections in pg_runs:
                    if path == place_path:
                        seed(router.url, loads_only=True)
                    scenario(name, wrk, router, path, path, script, connections, args.duration, workdir)
            finally:
                router.stop()
        finally:
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
