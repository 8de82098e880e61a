"""The engine's core stands on its own: a process that only runs ``select_cluster`` on a compiled policy (a
sweep worker, a notebook kernel) loads neither the edges' clients nor the simulator."""

from __future__ import annotations

import pickle
import subprocess
import sys

from placement.model import Cluster, ClusterLoad, PlacementRequest, RunNode, VolumeRequest
from placement.policy import default_policy

GiB = 1024**3
FORBIDDEN = ("kubernetes", "sqlalchemy", "fastapi", "ortools", "sim", "placement.router", "placement.collector")
WORKER = """
import pickle, sys
from placement.engine import select_cluster
request, fleet, policy = pickle.loads(sys.stdin.buffer.read())
decision = select_cluster(request, fleet, policy)
assert decision.placed, decision.reason
print(decision.reason)
print(decision.results[0].cluster_id)
loaded = sorted({n for n in sys.modules for prefix in FORBIDDEN if n == prefix or n.startswith(prefix + ".")})
print("loaded:", loaded)
"""


def test_an_engine_only_process_loads_no_edge_client():
    fleet = [
        (
            Cluster(f"c{i}", f"c{i}", "eu-west", f"q{i}", "r:5000"),
            ClusterLoad((RunNode("run-1", 250 * GiB, i * GiB, 3),), "CX32", volumes=i),
        )
        for i in range(3)
    ]
    request = PlacementRequest("cust", 2 * GiB, "eu-west", (VolumeRequest(5 * GiB),))
    payload = pickle.dumps((request, fleet, default_policy()))
    script = f"FORBIDDEN = {FORBIDDEN!r}\n" + WORKER
    done = subprocess.run([sys.executable, "-c", script], input=payload, capture_output=True, check=True, timeout=120)
    lines = done.stdout.decode().splitlines()
    assert lines[1] == "c0"
    assert lines[-1] == "loaded: []"
