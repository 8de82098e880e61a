"""No over-commit: 600 concurrent placements from four processes, over real HTTP, against real uvicorn.

One router per backend (SQLite file, PostgreSQL schema) runs three races in turn; each race puts its own
clusters in place and sets the previous race's clusters to maintenance, so the races do not see each other.
"""

from __future__ import annotations

from collections import Counter

import httpx

from placement.router.store import open_store
from tests.router.conftest import AUTH, LiveRouter, cluster_body, load_body
from tests.router.load_client import request_from_processes

PROCESSES = 4
REQUESTS = 600
QUOTA_CUSTOMERS = 15  # x 40 requests each = REQUESTS


def race(base_url: str, bodies: list[dict]) -> list[tuple[str, int, dict]]:
    """Every body at once from four processes; a placement retried after a 503 counts as placed when its retry
    answers 200 (a replay: the first call had placed it)."""
    calls = [("POST", "/v1/placements", b) for b in bodies]
    results = request_from_processes(base_url, calls, AUTH, PROCESSES)
    return [(b["request_id"], 201 if s == 200 else s, a) for b, (s, a) in zip(bodies, results, strict=True)]


def body(request_id: str, customer: str, ram: str = "1Gi", volumes: int = 0) -> dict:
    return {
        "request_id": request_id,
        "service_name": request_id,
        "request": {"customer_id": customer, "ram": ram, "volumes": [{"size": "1Gi"}] * volumes},
    }


def setup_clusters(http: httpx.Client, entries: list[tuple[dict, dict]], retire: list[str]) -> None:
    for old in retire:
        assert http.patch(f"/v1/clusters/{old}", json={"status": "maintenance"}, headers=AUTH).status_code == 200
    for cluster, load in entries:
        assert http.post("/v1/clusters", json=cluster, headers=AUTH).status_code == 201
        load = {k: v for k, v in load.items() if k != "observed_at"}  # the router stamps it now
        assert http.put(f"/v1/clusters/{cluster['id']}/load", json=load, headers=AUTH).status_code == 200


def check_ledger_matches_counters(url: str, cluster_id: str, services: int, volumes: int) -> None:
    store = open_store(url, migrate=False)
    try:
        totals = store.ledger_totals().get(cluster_id, {"services": 0, "volumes": 0})
        _, _, reserved = store.cluster_state(cluster_id)
    finally:
        store.dispose()
    assert totals["services"] == reserved["services"] == services
    assert totals["volumes"] == reserved["volumes"] == volumes


def test_exactly_the_requests_that_fit_succeed(db_url, tmp_path):
    router = LiveRouter(db_url, tmp_path)
    try:
        with httpx.Client(base_url=router.base_url, timeout=30) as http:
            # Race 1: 37 free Longhorn volume slots, 600 one-volume requests from distinct customers.
            setup_clusters(http, [(cluster_body("vol-1"), load_body(volumes=463))], [])
            results = race(router.base_url, [body(f"v{i}", f"cv{i}", volumes=1) for i in range(REQUESTS)])
            statuses = Counter(status for _, status, _ in results)
            assert statuses == {201: 37, 409: REQUESTS - 37}, [a for _, s, a in results if s == 503][:3]
            assert http.get("/v1/clusters/vol-1").json()["load"]["volumes"] == 500
            check_ledger_matches_counters(db_url, "vol-1", 37, 37)

            # Race 2: RAM per node, 20 + 13 services of 1Gi; the first 20 request ids are also sent twice.
            nodes = [("run-1", "100Gi", "80Gi"), ("run-2", "100Gi", "86.5Gi")]
            setup_clusters(http, [(cluster_body("ram-1"), load_body(nodes, volumes=0))], ["vol-1"])
            bodies = [body(f"m{i}", f"cm{i}") for i in range(REQUESTS - 20)]
            results = race(router.base_url, bodies + bodies[:20])
            answers: dict[str, set[str]] = {}
            for request_id, status, answer in results:
                answers.setdefault(request_id, set()).add(f"{status // 100}:{answer.get('service_id')}")
            assert all(len(set_) == 1 for set_ in answers.values()), "a request id got two different answers"
            placed = [rid for rid, set_ in answers.items() if next(iter(set_)).startswith("2:")]
            assert len(placed) == 33
            view = http.get("/v1/clusters/ram-1").json()
            free = {n["name"]: n["free_ram_bytes"] for n in view["nodes"]}
            assert free == {"run-1": 0, "run-2": 512 * 1024**2}
            check_ledger_matches_counters(db_url, "ram-1", 33, 0)

            # Race 3: per-customer volume quota (5): 15 customers x 40 one-volume requests on a roomy cluster.
            setup_clusters(http, [(cluster_body("quota-1", provider="rook-ceph"), load_body())], ["ram-1"])
            bodies = [
                body(f"q{c}-{i}", f"quota-customer-{c}", volumes=1) for i in range(40) for c in range(QUOTA_CUSTOMERS)
            ]
            results = race(router.base_url, bodies)
            customer_of = {b["request_id"]: b["request"]["customer_id"] for b in bodies}
            per_customer = Counter(customer_of[rid] for rid, status, _ in results if status == 201)
            assert per_customer == {f"quota-customer-{c}": 5 for c in range(QUOTA_CUSTOMERS)}
            refused = [answer for _, status, answer in results if status == 409]
            assert len(refused) == QUOTA_CUSTOMERS * 35, [(s, a) for _, s, a in results if s not in (201, 409)][:3]
            assert all(a["decision"]["quota_violations"] for a in refused)
            check_ledger_matches_counters(db_url, "quota-1", QUOTA_CUSTOMERS * 5, QUOTA_CUSTOMERS * 5)
    finally:
        router.stop()
