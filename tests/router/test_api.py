"""The HTTP API through the ASGI transport, on a real SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from placement import select_cluster
from placement.policy import PolicyConfig
from placement.router.app import create_app
from placement.router.config import RouterSettings
from placement.router.store import open_store
from placement.state import RequestIn
from tests.router.conftest import AUTH, NOW, TOKEN, GiB, cluster_body, load_body, seed_store

pytestmark = pytest.mark.anyio


def fleet_entries() -> list[tuple[dict, dict | None]]:
    return [
        (cluster_body("eu-west-1"), load_body(volumes=497)),
        (cluster_body("eu-west-2", provider="rook-ceph"), load_body([("run-1", "248Gi", "40Gi")], volumes=64)),
        (cluster_body("us-east-1", region="us-east"), load_body([("run-1", "250Gi", "20Gi")], volumes=20)),
        (cluster_body("eu-west-3", status="draining"), load_body()),
    ]


def placement_body(request_id: str, customer: str = "c1", ram: str = "2Gi", volumes=("10Gi",), **request) -> dict:
    return {
        "request_id": request_id,
        "service_name": f"svc-{request_id}",
        "repo": "my-app",
        "request": {
            "customer_id": customer,
            "ram": ram,
            "region": "eu-west",
            "volumes": [{"size": size} for size in volumes],
            **request,
        },
    }


async def test_parity_http_equals_in_process_decision(client, store):
    seed_store(store, fleet_entries())
    requests = [
        {"customer_id": "c1", "ram": "2Gi", "region": "eu-west", "volumes": [{"size": "10Gi"}]},
        {"customer_id": "c2", "ram": "1Gi", "region": "us-east"},
        {"customer_id": "c3", "ram": "64Gi", "new_customer": True, "volumes": [{"size": "1Gi", "mount_path": "/x"}]},
    ]
    for body in requests:
        response = await client.post("/v1/select-cluster", json=body)
        assert response.status_code == 200
        expected = select_cluster(RequestIn.model_validate(body).to_model(), store.fleet(), store.policy, now=NOW)
        assert response.json() == {**expected.to_dict(), "customer_quota_checked": True}
    # The dry run reserved nothing.
    assert store.ledger_totals() == {}


async def test_placement_reserves_and_answers_the_tool_response(client, store):
    seed_store(store, fleet_entries())
    before = store.fleet()
    response = await client.post("/v1/placements", json=placement_body("r-1"), headers=AUTH)
    assert response.status_code == 201, response.text
    body = response.json()
    decision = select_cluster(
        RequestIn.model_validate(placement_body("r-1")["request"]).to_model(), before, store.policy, now=NOW
    )
    assert body["cluster_id"] == decision.cluster_id
    assert body["task_queue"] == decision.task_queue
    assert body["node"] == decision.node_hint
    assert set(body["volume"]) == {"mount_path", "size", "node", "durability", "replicas", "backup_schedule"}
    assert body["volume"]["mount_path"] == "/data"
    assert body["volume"]["size"] == "10Gi"
    assert body["volume"]["node"] == decision.node_hint
    # The reservation shows in the cluster's view: one more volume, service, pod; RAM on the hinted node.
    view = (await client.get(f"/v1/clusters/{body['cluster_id']}")).json()
    assert view["reserved_since_snapshot"]["volumes"] == 1
    assert view["reserved_since_snapshot"]["services"] == 1
    node = next(n for n in view["nodes"] if n["name"] == body["node"])
    old = next(n for c, load in before if c.id == body["cluster_id"] for n in load.run_nodes if n.name == body["node"])
    assert node["requested_ram_bytes"] == old.requested_ram_bytes + 2 * GiB


async def test_placement_is_idempotent_by_request_id(client, store):
    seed_store(store, fleet_entries())
    first = await client.post("/v1/placements", json=placement_body("same"), headers=AUTH)
    again = await client.post("/v1/placements", json=placement_body("same"), headers=AUTH)
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    assert store.ledger_totals()[first.json()["cluster_id"]]["services"] == 1
    different = await client.post("/v1/placements", json=placement_body("same", ram="3Gi"), headers=AUTH)
    assert different.status_code == 409
    assert "request_id 'same'" in different.json()["detail"]


async def test_delete_releases_the_reservation(client, store):
    # One Longhorn cluster with one free volume slot.
    seed_store(store, [(cluster_body("eu-west-1"), load_body(volumes=499))])
    placed = await client.post("/v1/placements", json=placement_body("a", customer="a"), headers=AUTH)
    assert placed.status_code == 201
    full = await client.post("/v1/placements", json=placement_body("b", customer="b"), headers=AUTH)
    assert full.status_code == 409
    assert full.json()["decision"]["clusters"][0]["reason"] == "volume-limit: longhorn 500/500"
    service_id = placed.json()["service_id"]
    released = await client.delete(f"/v1/placements/{service_id}", headers=AUTH)
    assert released.status_code == 200
    assert released.json() == {"service_id": service_id, "released": True}
    assert (await client.delete(f"/v1/placements/{service_id}", headers=AUTH)).json()["released"] is False
    assert (await client.delete("/v1/placements/nope", headers=AUTH)).status_code == 404
    assert (
        await client.post("/v1/placements", json=placement_body("c", customer="c"), headers=AUTH)
    ).status_code == 201


async def test_a_new_snapshot_keeps_newer_reservations_and_drops_older_ones(client, store, clock):
    seed_store(store, [(cluster_body("eu-west-1"), load_body(volumes=100))])
    clock.now = NOW + timedelta(seconds=10)
    assert (
        await client.post("/v1/placements", json=placement_body("r1", customer="a"), headers=AUTH)
    ).status_code == 201
    clock.now = NOW + timedelta(seconds=30)
    # Observed before the reservation: the reservation stays on top.
    await client.put("/v1/clusters/eu-west-1/load", json=load_body(volumes=100, observed_at=NOW), headers=AUTH)
    assert (await client.get("/v1/clusters/eu-west-1")).json()["load"]["volumes"] == 101
    # Observed after it: the snapshot already counts it.
    await client.put("/v1/clusters/eu-west-1/load", json=load_body(volumes=101, observed_at=clock.now), headers=AUTH)
    view = (await client.get("/v1/clusters/eu-west-1")).json()
    assert view["load"]["volumes"] == 101
    assert view["reserved_since_snapshot"]["volumes"] == 0
    # An older snapshot arriving late does not replace the newer one.
    await client.put("/v1/clusters/eu-west-1/load", json=load_body(volumes=5, observed_at=NOW), headers=AUTH)
    assert (await client.get("/v1/clusters/eu-west-1")).json()["load"]["volumes"] == 101


async def test_a_snapshot_dated_in_the_future_is_422_and_changes_nothing(client, store, clock):
    seed_store(store, [(cluster_body("eu-west-1"), load_body(volumes=100))])
    future = await client.put(
        "/v1/clusters/eu-west-1/load",
        json=load_body(volumes=500, observed_at=datetime(2100, 1, 1, tzinfo=UTC)),
        headers=AUTH,
    )
    assert future.status_code == 422
    [problem] = future.json()["detail"]
    assert problem["loc"] == ["body", "observed_at"]
    assert "more than 300 s ahead" in problem["msg"]
    view = (await client.get("/v1/clusters/eu-west-1")).json()
    assert (view["load"]["volumes"], view["snapshot_age_seconds"]) == (100, 0)
    # Later real snapshots still count, and a release still gives its room back.
    clock.now = NOW + timedelta(seconds=60)
    await client.put("/v1/clusters/eu-west-1/load", json=load_body(volumes=499, observed_at=clock.now), headers=AUTH)
    placed = await client.post("/v1/placements", json=placement_body("f1"), headers=AUTH)
    assert placed.status_code == 201
    assert (await client.get("/v1/clusters/eu-west-1")).json()["load"]["volumes"] == 500
    await client.delete(f"/v1/placements/{placed.json()['service_id']}", headers=AUTH)
    assert (await client.get("/v1/clusters/eu-west-1")).json()["load"]["volumes"] == 499


async def test_nothing_fits_is_409_with_per_cluster_reasons(client, store):
    seed_store(store, fleet_entries())
    for path, headers, body in (
        ("/v1/select-cluster", {}, placement_body("x", ram="1000Gi")["request"]),
        ("/v1/placements", AUTH, placement_body("x", ram="1000Gi")),
    ):
        response = await client.post(path, json=body, headers=headers)
        assert response.status_code == 409
        clusters = {c["cluster_id"]: c for c in response.json()["decision"]["clusters"]}
        assert set(clusters) == {"eu-west-1", "eu-west-2", "us-east-1", "eu-west-3"}
        assert clusters["eu-west-3"]["reason"] == "status: draining"
        assert clusters["eu-west-1"]["reason"].startswith("ram-fit: largest free run node 150.0 GiB")
        assert clusters["us-east-1"]["reason"].startswith("ram-fit")
    assert store.ledger_totals() == {}


async def test_quota_refusal_is_409(client, store):
    seed_store(store, fleet_entries())
    response = await client.post(
        "/v1/placements", json=placement_body("q", volumes=("10Gi",), customer_volume_count=5), headers=AUTH
    )
    assert response.status_code == 409
    assert response.json()["decision"]["quota_violations"] == [
        "quota: customer would have 6 volumes > 5 (plan default)"
    ]


async def test_bad_input_is_422_naming_the_fields(client, store):
    seed_store(store, fleet_entries())
    response = await client.post("/v1/select-cluster", json={"customer_id": "", "ram": "lots", "colour": 1})
    assert response.status_code == 422
    fields = {tuple(err["loc"]) for err in response.json()["detail"]}
    assert {("body", "customer_id"), ("body", "ram"), ("body", "colour")} <= fields
    response = await client.post(
        "/v1/placements",
        json={"request_id": "r", "service_name": "s", "request": {"customer_id": "c", "ram": -1}},
        headers=AUTH,
    )
    assert response.status_code == 422
    assert ["body", "request", "ram"] in [err["loc"] for err in response.json()["detail"]]
    response = await client.put("/v1/clusters/eu-west-1/load", json={"run_nodes": "x"}, headers=AUTH)
    assert response.status_code == 422
    assert {("body", "run_nodes"), ("body", "ctrl_node_type")} <= {tuple(e["loc"]) for e in response.json()["detail"]}
    response = await client.post("/v1/clusters", json=cluster_body("ok", name="a\x00b"), headers=AUTH)
    assert response.status_code == 422
    assert "name: NUL" in response.text


async def test_unknown_cluster_is_404(client, store):
    seed_store(store, fleet_entries())
    assert (await client.get("/v1/clusters/nope")).status_code == 404
    assert (await client.put("/v1/clusters/nope/load", json=load_body(), headers=AUTH)).status_code == 404
    assert (await client.patch("/v1/clusters/nope", json={"status": "draining"}, headers=AUTH)).status_code == 404


async def test_clusters_crud_and_draining(client, store):
    assert (await client.post("/v1/clusters", json=cluster_body("eu-west-1"), headers=AUTH)).status_code == 201
    dup = await client.post("/v1/clusters", json=cluster_body("eu-west-1"), headers=AUTH)
    assert dup.status_code == 409
    await client.put("/v1/clusters/eu-west-1/load", json=load_body(), headers=AUTH)
    listed = (await client.get("/v1/clusters")).json()
    assert [c["id"] for c in listed] == ["eu-west-1"]
    assert (await client.post("/v1/select-cluster", json={"customer_id": "c", "ram": "1Gi"})).status_code == 200
    patched = await client.patch("/v1/clusters/eu-west-1", json={"status": "draining"}, headers=AUTH)
    assert patched.json()["status"] == "draining"
    refused = await client.post("/v1/select-cluster", json={"customer_id": "c", "ram": "1Gi"})
    assert refused.status_code == 409
    assert refused.json()["decision"]["clusters"][0]["reason"] == "status: draining"
    assert (await client.patch("/v1/clusters/eu-west-1", json={"status": "gone"}, headers=AUTH)).status_code == 422


async def test_cluster_view_shows_headroom_and_snapshot_age(client, store, clock):
    seed_store(store, [(cluster_body("eu-west-1"), load_body(volumes=497))])
    clock.now = NOW + timedelta(seconds=120)
    view = (await client.get("/v1/clusters/eu-west-1")).json()
    assert view["snapshot_age_seconds"] == 120
    assert view["snapshot_stale"] is False
    limits = {row["limit"]: row for row in view["headroom"]}
    assert limits["longhorn.volumes"] == {"limit": "longhorn.volumes", "used": 497, "capacity": 500, "free": 3}
    assert {
        "ram_bytes",
        "kubernetes.pods",
        "kubernetes.services",
        "kubernetes.namespaces",
        "kubernetes.etcd_objects",
        "kubernetes.nodes",
        "control_plane.objects_tight",
    } <= set(limits)
    assert limits["control_plane.objects_tight"]["capacity"] == 12000


async def test_stale_snapshot_rejected_by_default_policy(client, store, clock):
    seed_store(store, [(cluster_body("eu-west-1"), load_body()), (cluster_body("eu-west-2"), load_body())])
    clock.now = NOW + timedelta(seconds=1000)
    await client.put(
        "/v1/clusters/eu-west-2/load", json=load_body(observed_at=clock.now - timedelta(seconds=10)), headers=AUTH
    )
    response = await client.post("/v1/select-cluster", json={"customer_id": "c", "ram": "1Gi"})
    decision = response.json()
    assert decision["cluster_id"] == "eu-west-2"
    stale = next(c for c in decision["clusters"] if c["cluster_id"] == "eu-west-1")
    assert stale["reason"] == "snapshot-age: load observed 1000s ago > 900s"
    assert (await client.get("/v1/clusters/eu-west-1")).json()["snapshot_stale"] is True


async def test_stale_snapshot_allowed_with_a_warning_when_policy_says_so(sqlite_url, clock):
    import httpx

    policy = PolicyConfig(stale_snapshot={"max_age_seconds": 60, "action": "allow"}).compile()
    store = open_store(sqlite_url, policy=policy, clock=clock)
    seed_store(store, [(cluster_body("eu-west-1"), load_body())])
    clock.now = NOW + timedelta(seconds=600)
    app = create_app(store, RouterSettings(tokens=(TOKEN,)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as client:
        decision = (await client.post("/v1/select-cluster", json={"customer_id": "c", "ram": "1Gi"})).json()
    assert decision["cluster_id"] == "eu-west-1"
    assert decision["warnings"] == ["eu-west-1: stale load snapshot (observed 600s ago), used anyway by policy"]
    store.dispose()


async def test_every_mutating_endpoint_needs_a_token(client, store):
    seed_store(store, fleet_entries())
    calls = [
        ("POST", "/v1/placements", placement_body("t")),
        ("DELETE", "/v1/placements/x", None),
        ("POST", "/v1/clusters", cluster_body("new-1")),
        ("PATCH", "/v1/clusters/eu-west-1", {"status": "draining"}),
        ("PUT", "/v1/clusters/eu-west-1/load", load_body()),
    ]
    for method, path, body in calls:
        missing = await client.request(method, path, json=body)
        assert missing.status_code == 401, (method, path)
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = await client.request(method, path, json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403, (method, path)
    # select-cluster is open unless configured.
    assert (await client.post("/v1/select-cluster", json={"customer_id": "c", "ram": "1Gi"})).status_code == 200


async def test_select_needs_a_token_when_configured(store):
    import httpx

    seed_store(store, fleet_entries())
    app = create_app(store, RouterSettings(tokens=(TOKEN,), protect_select=True))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as client:
        body = {"customer_id": "c", "ram": "1Gi"}
        assert (await client.post("/v1/select-cluster", json=body)).status_code == 401
        assert (
            await client.post("/v1/select-cluster", json=body, headers={"Authorization": "Bearer x"})
        ).status_code == 403
        assert (await client.post("/v1/select-cluster", json=body, headers=AUTH)).status_code == 200


async def test_health_readiness_and_metrics(client, store):
    seed_store(store, fleet_entries())
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ready", "database": "sqlite"}
    chosen_id = (await client.post("/v1/select-cluster", json={"customer_id": "c", "ram": "1Gi"})).json()["cluster_id"]
    await client.post("/v1/select-cluster", json={"customer_id": "c", "ram": "1000Gi"})
    text = (await client.get("/metrics")).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    route = (("method", "POST"), ("route", "/v1/select-cluster"), ("status", "200"))
    assert samples[("placement_http_request_duration_seconds_count", route)] == 1
    chosen = (("cluster", chosen_id), ("endpoint", "select"), ("outcome", "placed"))
    assert samples[("placement_decisions_total", chosen)] == 1
    assert (
        samples[
            ("placement_decisions_total", (("cluster", "none"), ("endpoint", "select"), ("outcome", "unschedulable")))
        ]
        == 1
    )
    assert samples[("placement_rejections_total", (("reason", "status"),))] == 2
    assert samples[("placement_rejections_total", (("reason", "ram-fit"),))] >= 1
