"""Database faults: a PostgreSQL behind a proxy the test stops, restarts and blackholes, under real uvicorn."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.router.conftest import AUTH, LiveRouter, cluster_body, load_body
from tests.router.tcp_proxy import TcpProxy

SELECT = {"customer_id": "c", "ram": "1Gi"}


def placement(request_id: str) -> dict:
    return {"request_id": request_id, "service_name": request_id, "request": {"customer_id": "c", "ram": "1Gi"}}


def wait_ready(http: httpx.Client) -> None:
    for _ in range(100):
        if http.get("/readyz").status_code == 200:
            return
        time.sleep(0.1)
    pytest.fail("the router did not become ready again")


@pytest.fixture
def proxied_router(pg_schema, tmp_path):
    proxy = TcpProxy(5432)
    router = LiveRouter(f"postgresql://postgres@127.0.0.1:{proxy.port}/test?schema={pg_schema}", tmp_path)
    yield proxy, router
    router.stop()
    proxy.stop()


def _register_loaded_cluster(http: httpx.Client) -> None:
    """eu-west-1 registered with a load snapshot, so the router can place on it."""
    assert http.post("/v1/clusters", json=cluster_body("eu-west-1"), headers=AUTH).status_code == 201
    assert http.put("/v1/clusters/eu-west-1/load", json=load_body(observed_at=None), headers=AUTH).status_code == 200


def test_database_down_is_503_and_the_router_recovers_without_restart(proxied_router):
    proxy, router = proxied_router
    # The bound: an answer within 2 s. A refused connection is answered at once, so this is not tight.
    with httpx.Client(base_url=router.base_url, timeout=2.0) as http:
        _register_loaded_cluster(http)
        assert http.post("/v1/select-cluster", json=SELECT).status_code == 200

        proxy.stop()
        for _ in range(3):
            assert http.get("/readyz").status_code == 503
            down = http.post("/v1/select-cluster", json=SELECT)
            assert down.status_code == 503
            assert down.headers["retry-after"] == "1"
            assert http.post("/v1/placements", json=placement("p1"), headers=AUTH).status_code == 503
            assert http.get("/v1/clusters/eu-west-1").status_code == 503
        assert http.get("/healthz").status_code == 200  # alive, just not ready

        proxy.start()
        wait_ready(http)
        assert http.post("/v1/select-cluster", json=SELECT).status_code == 200
        placed = http.post("/v1/placements", json=placement("p1"), headers=AUTH)
        assert placed.status_code == 201
        assert placed.json()["cluster_id"] == "eu-west-1"
        metrics = http.get("/metrics").text
        assert "placement_db_unavailable_total" in metrics


def test_hanging_database_is_503_at_the_deadline_and_recovers(proxied_router):
    proxy, router = proxied_router
    with httpx.Client(base_url=router.base_url, timeout=30) as http:
        _register_loaded_cluster(http)

        proxy.swallow()
        # More concurrent calls than the router has database threads: the queued ones must get their 503 too.
        calls = [("GET", "/readyz", None), ("POST", "/v1/select-cluster", SELECT)] * 6
        with ThreadPoolExecutor(len(calls)) as pool:
            responses = list(pool.map(lambda call: http.request(call[0], call[1], json=call[2]), calls))
        assert [r.status_code for r in responses] == [503] * len(calls)
        assert {r.json()["detail"] for r in responses} == {"the database did not answer in time"}

        proxy.heal()
        wait_ready(http)
        assert http.post("/v1/select-cluster", json=SELECT).status_code == 200
        assert http.post("/v1/placements", json=placement("p2"), headers=AUTH).status_code == 201


def test_a_placement_on_a_hanging_database_is_503_at_the_deadline_and_its_retry_places_it_once(proxied_router):
    proxy, router = proxied_router
    with httpx.Client(base_url=router.base_url, timeout=30) as http:
        _register_loaded_cluster(http)
        # Placed first, so the fleet is cached and the event loop's own connections are open and idle: the hanging
        # statement is the loop's (placement.router.loop_booking), which has the gate's deadline too.
        for n in range(3):
            assert http.post("/v1/placements", json=placement(f"before-{n}"), headers=AUTH).status_code == 201

        proxy.swallow()
        hung = http.post("/v1/placements", json=placement("p3"), headers=AUTH)
        assert hung.status_code == 503
        assert hung.json()["detail"] == "the database did not answer in time"
        assert hung.headers["retry-after"] == "1"

        proxy.heal()
        wait_ready(http)
        retried = http.post("/v1/placements", json=placement("p3"), headers=AUTH)
        assert retried.status_code == 201  # the hung statement never reached the database
        assert retried.json()["request_id"] == "p3"
        assert http.get("/v1/clusters/eu-west-1").json()["reserved_since_snapshot"]["services"] == 4
