"""What the router benchmarks share to drive a server with ``wrk``: the server in a subprocess, the wrk scripts
(select-cluster, placements), a wrk run and its figures, and a run of the database floor (``bench.router_dbfloor``) as
a row beside them. ``bench.router_http`` measures with them; ``bench.router_trace``, ``bench.router_publish`` and
``bench.router_callgrind`` drive the same server the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from bench.router_dbfloor import replay
from bench.router_fleet import TOKEN

ROOT = Path(__file__).resolve().parents[1]
PLACE_PATH = "/v1/placements"
TICKS = os.sysconf("SC_CLK_TCK")
WARM_UP = 1  # seconds before each measured run, at its rate, not measured (wrk's -d counts whole seconds)
# The paced placements: the rate the issue states (p99 <= 20 ms at 200/s) over wrk's connections. A connection
# is a closed loop (think, send, wait for the answer), so its think time is set to the cycle the rate needs less the
# time a request takes (``think_time_ms``), learnt from the runs; a fixed 20 ms mean had held ~280/s on every
# quick host, whose requests take ~1 ms, under a "~200/s" label.
PACED_RATE = 200.0
PACED_CONNECTIONS = 6
GUESSED_LATENCY_MS = 1.0  # a request's time before any run has shown it (a quick host's paced placement)


def think_time_ms(connections: int, rate: float, latency_ms: float = GUESSED_LATENCY_MS) -> float:
    """The mean think time that holds ``connections`` closed-loop connections at ``rate`` requests a second when a
    request takes ``latency_ms``: each connection's cycle (think, then the request) is ``connections / rate``."""
    return max(0.0, 1000 * connections / rate - latency_ms)


def latency_from_rate(connections: int, reached: float, think_ms: float) -> float:
    """A paced run's mean time per request besides its think time, from the rate it reached: its cycle less the
    think time (wrk's and the server's time alike, which is what the next run's think time must leave room for)."""
    if reached <= 0:
        return GUESSED_LATENCY_MS
    return max(0.0, 1000 * connections / reached - think_ms)


@dataclass
class Pacing:
    """The think time of each side of a paced comparison (the floors, the router), each learnt from that side's last
    run, so that every side runs at ``rate`` on any host: a host whose requests take 10 ms, or 0.5 ms, gets the same
    rate, not the same think time. A side's first run uses ``GUESSED_LATENCY_MS``."""

    connections: int
    rate: float
    latency_ms: dict[str, float] = field(default_factory=dict)

    def think_ms(self, side: str) -> float:
        return think_time_ms(self.connections, self.rate, self.latency_ms.get(side, GUESSED_LATENCY_MS))

    def learn(self, side: str, think_ms: float, reached: float) -> None:
        """``side``'s run at ``think_ms`` reached ``reached`` requests a second."""
        self.latency_ms[side] = latency_from_rate(self.connections, reached, think_ms)


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


def wait_until_serving(process: subprocess.Popen, url: str, log: Path, seconds: float, workers: int = 1) -> None:
    """Until the server at ``url`` answers ``/healthz`` (and, with ``workers`` > 1, every worker counts itself in
    ``placement_router_workers``); an error when ``process`` exits or ``seconds`` pass."""
    give_up = time.monotonic() + seconds
    while time.monotonic() < give_up and process.poll() is None:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200 and (
                workers == 1 or serving_workers(url) == workers
            ):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"router did not start; see {log}")


def serving_workers(url: str) -> int:
    """The worker processes serving, as the router's ``/metrics`` sums them over the live workers."""
    match = re.search(r"^placement_router_workers ([\d.e+]+)$", httpx.get(f"{url}/metrics", timeout=5).text, re.M)
    return int(float(match.group(1))) if match else 0


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def tree_cpu(root: int) -> dict[int, float]:
    """CPU seconds of ``root`` and every process under it (uvicorn's workers, a forecast's workers), by pid: each
    one's own (utime, stime) and its reaped children's (cutime, cstime), so the sum over the tree only grows, even
    when a process under it exits between two readings."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                parents[int(entry.name)] = int(_stat(int(entry.name))[1])
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    seconds = {}
    for pid in tree:
        with contextlib.suppress(OSError):
            fields = _stat(pid)
            seconds[pid] = sum(int(value) for value in fields[11:15]) / TICKS
    return seconds


def add_workers_option(parser: argparse.ArgumentParser) -> None:
    """``--workers N``: the router's uvicorn worker processes, as ``placement serve --workers N`` runs them."""

    def count(text: str) -> int:
        if not text.isdigit() or int(text) < 1:
            raise argparse.ArgumentTypeError("a number of worker processes, at least 1")
        return int(text)

    parser.add_argument("--workers", type=count, default=1, help="the router's uvicorn workers (default 1)")


def workers_label(workers: int) -> str:
    """How the benchmarks' headers and tables name the router's worker processes."""
    return f"{workers} router worker{'' if workers == 1 else 's'}"


def _fd_links(pid: int) -> list[str]:
    links = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):  # closed meanwhile
            links.append(os.readlink(fd))
    return links


class Router:
    """``bench.router_floor`` on a loopback port (or ``server``, a module that serves it the same way), with
    ``workers`` uvicorn worker processes (``placement serve --workers N``'s way when N > 1)."""

    def __init__(
        self,
        db: str,
        log: Path,
        server: str = "bench.router_floor",
        options: tuple[str, ...] = (),
        workers: int = 1,
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.log = log.open("w")
        env = dict(os.environ, CAPPLAN_TOKENS=TOKEN)
        command = [sys.executable, "-m", server, "--db", db, "--port", str(self.port), *options]
        if workers != 1:
            command += ["--workers", str(workers)]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_until_serving(self.process, self.url, log, 60, workers)
        except RuntimeError:
            self.stop()  # not left running, with its workers
            raise

    def pids(self) -> list[int]:
        """The server's processes: the one that serves, or uvicorn's supervisor and its workers."""
        return list(tree_cpu(self.process.pid))

    def connections_by_worker(self) -> list[int]:
        """The established connections each worker holds on the router's port, most first: uvicorn's workers share
        one listening socket and a kept-alive connection stays with the worker that accepted it, so wrk's few
        connections may fall unevenly."""
        inodes = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with contextlib.suppress(OSError):
                for line in Path(table).read_text().splitlines()[1:]:
                    fields = line.split()  # local address, remote address, state, ..., inode
                    if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == self.port:
                        inodes.add(f"socket:[{fields[9]}]")
        held = []
        for pid in self.pids():
            with contextlib.suppress(OSError):
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():  # a worker, not the resource tracker
                    held.append(sum(link in inodes for link in _fd_links(pid)))
        return sorted(held, reverse=True)

    def cpu_seconds(self) -> float:
        """The CPU time of all the server's processes (every worker's, with ``--workers N``)."""
        return sum(tree_cpu(self.process.pid).values())

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


# The floor reads the same body as select-cluster, with the same token.
SELECT_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
wrk.body = '{"customer_id": "bench", "ram": "2Gi", "region": "eu-west", "volumes": [%(volumes)s]}'
function delay() if %(delay)d == 0 then return 0 end return math.random(0, 2 * %(delay)d) end
"""

PLACEMENT_LUA = """
local counter = 0
local prefix = "%(prefix)s"
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function init(args) tid = tid or 0; math.randomseed(tid) end
-- uniform in 0..2x the mean, rounded to wrk's whole milliseconds (a mean of 29.4 ms stays 29.4 on average)
function delay() if %(delay).3f == 0 then return 0 end return math.floor(2 * %(delay).3f * math.random() + 0.5) end
request = function()
  counter = counter + 1
  local id = string.format("%%s-%%d-%%d", prefix, tid, counter)
  local volumes = ""
  if counter %% 2 == 0 then volumes = '{"size": "5Gi"}' end
  local body = string.format(
    '{"request_id": "%%s", "service_name": "%%s", "request": {"customer_id": "%%s", "ram": "256Mi", "volumes": [%%s]}}',
    id, id, id, volumes)
  return wrk.format("POST", "%(path)s", {["Content-Type"] = "application/json",
                    ["Authorization"] = "Bearer %(token)s"}, body)
end
"""


def placement_lua(delay: float, prefix: str, path: str = PLACE_PATH) -> str:
    """wrk's script for placements to ``path``: each connection waits 0..2 x ``delay`` ms (uniform) before each
    request, its request ids ``prefix-connection-count``, every other one with a 5Gi volume."""
    return PLACEMENT_LUA % {"delay": delay, "prefix": prefix, "token": TOKEN, "path": path}


ROW_HEADER = (
    "| scenario | connections | router workers | req/s | p50 ms | p99 ms | CPU ms/req | p50 / floor | p99 / floor | "
    "CPU / floor | errors |\n|---|---|---|---|---|---|---|---|---|---|---|"
)


@dataclass
class Run:
    name: str
    connections: int
    rate: float
    p50: float
    p99: float
    cpu_ms: float | None  # the server's (or the floor script's) CPU per request
    errors: int = 0
    floor: Run | None = None
    waits: dict[str, float] = field(default_factory=dict)
    workers: int | None = None  # the router's worker processes; None for the database floor's bare script

    def row(self) -> str:
        def ratio(mine: float | None, floor: float | None) -> str:
            return "" if self.floor is None or not mine or not floor else f"{mine / floor:.2f}×"

        floor = self.floor
        cpu = "" if self.cpu_ms is None else f"{self.cpu_ms:.2f}"
        workers = "script" if self.workers is None else self.workers
        return (
            f"| {self.name} | {self.connections} | {workers} | {self.rate:.0f} | {self.p50:.2f} | {self.p99:.2f} | "
            f"{cpu} | "
            f"{ratio(self.p50, floor and floor.p50)} | {ratio(self.p99, floor and floor.p99)} | "
            f"{ratio(self.cpu_ms, floor and floor.cpu_ms)} | {self.errors} |"
        )


def run_wrk(wrk: str, router: Router, path: str, script: str, connections: int, duration: int, workdir: Path):
    lua = workdir / f"{uuid.uuid4().hex}.lua"
    lua.write_text(script)
    threads = min(2, connections)
    cpu = router.cpu_seconds()
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "-s",
        str(lua),
        router.url + path,
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as running:
        split = ""
        if router.workers > 1:
            time.sleep(min(1.0, duration / 2))  # wrk's connections made and kept
            split = "/".join(str(held) for held in router.connections_by_worker())
        out, err = running.communicate()
    if running.returncode:
        raise subprocess.CalledProcessError(running.returncode, command, out, err)
    cpu = router.cpu_seconds() - cpu
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    result = {"rate": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "requests": requests}
    for label in ("50%", "99%"):
        match = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        value, unit = float(match.group(1)), match.group(2)
        result[label] = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    result["errors"] = (int(non2xx.group(1)) if non2xx else 0) + (
        sum(int(n) for n in re.findall(r"\d+", errors.group(1))) if errors else 0
    )
    result["cpu_ms"] = 1000 * cpu / max(requests, 1)
    result["split"] = split
    return result


def wrk_run(
    name, wrk, router, path, script, connections, duration, workdir, floor=None, warm_up=True, show=True
) -> Run:
    if warm_up:
        run_wrk(wrk, router, path, script, connections, WARM_UP, workdir)
    result = run_wrk(wrk, router, path, script, connections, duration, workdir)
    if result["split"]:
        name = f"{name} (connections by worker {result['split']})"
    run = Run(name, connections, result["rate"], result["50%"], result["99%"], result["cpu_ms"], result["errors"])
    run.floor, run.workers = floor, router.workers
    if show:
        print(run.row(), flush=True)
    return run


def floor_run(name, engine, captured, nodes, connections, duration, delay, prefix, show=True) -> Run:
    result = replay(
        engine,
        captured,
        nodes,
        connections=connections,
        duration=duration,
        mean_delay_ms=delay,
        prefix=prefix,
        warm_up=WARM_UP,
    )
    latencies = np.array(result.latencies_ms)
    run = Run(
        name,
        connections,
        len(latencies) / result.seconds,
        float(np.percentile(latencies, 50)),
        float(np.percentile(latencies, 99)),
        1000 * result.cpu_seconds / max(len(latencies), 1),
        errors=result.guards_lost,  # the floor's lost guards: their statements ran in full and undid themselves
    )
    if show:
        print(run.row(), flush=True)
    return run
