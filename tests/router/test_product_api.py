"""The product API's own calls (issue 21): the design document's ``selectCluster`` input, the plan's defaults,
dry runs without a customer, ``getClusterForService``, and task queues that never move under live services."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, text, update
from sqlalchemy.exc import IntegrityError

from placement.policy import PolicyConfig
from placement.router.answers import NO_CUSTOMER_WARNING
from placement.router.api import DecisionOut
from placement.router.app import create_app
from placement.router.config import RouterSettings
from placement.router.db import clusters
from placement.router.store import PlacementOrder, open_store
from placement.state import RequestIn
from placement.yamlio import ConfigError, parse_yaml_model
from tests.router.conftest import AUTH, TOKEN, cluster_body, load_body, seed_store

pytestmark = pytest.mark.anyio

DESIGN_DOC_INPUT = {"region": "eu-west", "has_volume": True}


def strict_decision(body: dict) -> None:
    """The response is exactly its documented model: every key named by it, none left over."""
    assert DecisionOut.model_validate(body).model_dump(exclude_unset=True) == body


def fleet() -> list[tuple[dict, dict | None]]:
    return [
        (cluster_body("eu-west-1"), load_body(volumes=100)),
        (cluster_body("us-east-1", region="us-east"), load_body(volumes=10)),
    ]


def place(request_id: str, **request) -> dict:
    return {"request_id": request_id, "service_name": request_id, "request": {"customer_id": "c1", **request}}


@pytest.fixture
def seeded(store):
    seed_store(store, fleet())
    return store


# --- the design document's input -----------------------------------------------------------------------------


async def test_select_cluster_accepts_the_design_documents_input(client, seeded):
    response = await client.post("/v1/select-cluster", json=DESIGN_DOC_INPUT)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["cluster_id"], body["task_queue"]) == ("eu-west-1", "deployer-eu-west-1")
    assert body["customer_quota_checked"] is False
    assert NO_CUSTOMER_WARNING in body["warnings"]
    strict_decision(body)
    # The same decision as the full request the defaults stand for (512Mi of RAM, one 10Gi volume at /data).
    full = {"customer_id": "c9", "region": "eu-west", "ram": "512Mi", "volumes": [{"size": "10Gi"}]}
    explicit = (await client.post("/v1/select-cluster", json=full)).json()
    assert explicit["customer_quota_checked"] is True
    assert NO_CUSTOMER_WARNING not in explicit["warnings"]
    same = ("cluster_id", "node_hint", "clusters", "aggregatedScores", "prioritizeResults", "filteredPipelineResults")
    assert {key: body[key] for key in same} == {key: explicit[key] for key in same}


async def test_defaults_come_from_the_policy_per_plan(sqlite_url, clock):
    policy = PolicyConfig(
        defaults={"ram": "3Gi", "volume_size": "20Gi", "plans": {"pro": {"ram": "40Gi"}}},
    ).compile()
    store = open_store(sqlite_url, policy=policy, clock=clock)
    # One node with 50Gi free: 3Gi fits, 40Gi fits, and the volume's size shows in the placement.
    seed_store(store, [(cluster_body("eu-west-1"), load_body([("run-1", "100Gi", "50Gi")]))])
    app = create_app(store, RouterSettings(tokens=(TOKEN,)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as client:
        placed = (await client.post("/v1/placements", json=place("d1", has_volume=True), headers=AUTH)).json()
        assert placed["volume"]["size"] == "20Gi"
        assert placed["volume"]["mount_path"] == "/data"
        view = (await client.get("/v1/clusters/eu-west-1")).json()
        requested = view["nodes"][0]["requested_ram_bytes"]
        # A size without a size: the plan's default size; pro's RAM default is its own.
        pro = await client.post("/v1/placements", json=place("d2", plan="pro", volumes=[{"mount_path": "/x"}]))
        assert pro.status_code == 401
        pro = await client.post(
            "/v1/placements", json=place("d2", plan="pro", volumes=[{"mount_path": "/x"}]), headers=AUTH
        )
        assert pro.status_code == 201, pro.text
        assert pro.json()["volume"]["size"] == "20Gi"
        view = (await client.get("/v1/clusters/eu-west-1")).json()
        assert view["nodes"][0]["requested_ram_bytes"] - requested >= 40 * 1024**3
        # 40Gi more does not fit any more: the pro default really is 40Gi.
        refused = await client.post("/v1/select-cluster", json={"plan": "pro"})
        assert refused.status_code == 409
        assert refused.json()["decision"]["clusters"][0]["reason"].startswith("ram-fit")
        assert (await client.post("/v1/select-cluster", json={})).status_code == 200
    store.dispose()


async def test_the_full_request_keeps_working(client, seeded):
    body = place("full", ram="2Gi", region="eu-west", volumes=[{"size": "5Gi", "mount_path": "/var/lib"}])
    response = await client.post("/v1/placements", json=body, headers=AUTH)
    assert response.status_code == 201, response.text
    assert response.json()["volume"]["size"] == "5Gi"
    assert response.json()["volume"]["mount_path"] == "/var/lib"
    # has_volume may accompany volumes when it agrees with them.
    agreeing = place("agree", has_volume=True, volumes=[{"size": "5Gi"}])
    assert (await client.post("/v1/placements", json=agreeing, headers=AUTH)).status_code == 201
    nothing = place("none", has_volume=False, volumes=[])
    placed = await client.post("/v1/placements", json=nothing, headers=AUTH)
    assert placed.status_code == 201
    assert placed.json()["volumes"] == []


async def test_has_volume_contradicting_volumes_is_422_naming_it(client, seeded):
    cases = [
        ({"has_volume": True, "volumes": []}, "has_volume true contradicts volumes, which lists 0"),
        ({"has_volume": False, "volumes": [{"size": "1Gi"}]}, "has_volume false contradicts volumes, which lists 1"),
    ]
    for request, message in cases:
        dry = await client.post("/v1/select-cluster", json={"region": "eu-west", **request})
        assert dry.status_code == 422
        [problem] = dry.json()["detail"]
        assert problem["loc"] == ["body", "has_volume"]
        assert message in problem["msg"]
        placed = await client.post("/v1/placements", json=place("x", **request), headers=AUTH)
        assert placed.status_code == 422
        assert [p["loc"] for p in placed.json()["detail"]] == [["body", "request", "has_volume"]]
    assert seeded.ledger_totals() == {}


async def test_unknown_fields_and_a_missing_customer_on_a_placement_are_refused(client, seeded):
    for body in ({"region": "eu-west", "hasVolume": True}, {"Region": "eu-west"}):
        response = await client.post("/v1/select-cluster", json=body)
        assert response.status_code == 422
        assert response.json()["detail"][0]["type"] == "extra_forbidden"
    anonymous = {"request_id": "a", "service_name": "a", "request": DESIGN_DOC_INPUT}
    response = await client.post("/v1/placements", json=anonymous, headers=AUTH)
    assert response.status_code == 422
    assert [p["loc"] for p in response.json()["detail"]] == [["body", "request", "customer_id"]]
    counted = await client.post("/v1/select-cluster", json={"customer_volume_count": 3, "has_volume": True})
    assert counted.status_code == 422
    assert counted.json()["detail"][0]["loc"] == ["body", "customer_volume_count"]
    assert (await client.post("/v1/select-cluster", json={"has_volume": "yes"})).status_code == 422


async def test_a_dry_run_without_customer_skips_only_the_customers_quota(client, seeded):
    for index in range(5):
        body = place(f"v{index}", volumes=[{"size": "1Gi"}])
        assert (await client.post("/v1/placements", json=body, headers=AUTH)).status_code == 201
    with_customer = await client.post("/v1/select-cluster", json={"customer_id": "c1", **DESIGN_DOC_INPUT})
    assert with_customer.status_code == 409
    assert with_customer.json()["decision"]["quota_violations"] == [
        "quota: customer would have 6 volumes > 5 (plan default)"
    ]
    assert with_customer.json()["decision"]["customer_quota_checked"] is True
    anonymous = await client.post("/v1/select-cluster", json=DESIGN_DOC_INPUT)
    assert anonymous.status_code == 200
    assert anonymous.json()["customer_quota_checked"] is False
    # The plan's own limits do not depend on the customer and still apply.
    too_big = await client.post("/v1/select-cluster", json={"volumes": [{"size": "60Gi"}]})
    assert too_big.status_code == 409
    assert too_big.json()["decision"]["quota_violations"] == ["quota: volumes[0] size 60Gi > 50Gi (plan default)"]
    assert too_big.json()["decision"]["customer_quota_checked"] is False
    strict_decision(too_big.json()["decision"])


def test_policy_defaults_are_validated():
    def parse(text: str) -> PolicyConfig:
        return parse_yaml_model(text, PolicyConfig, source="policy.yaml")

    assert parse("defaults: {ram: 1Gi}").compile().request_defaults("default").ram_bytes == 1024**3
    for bad, needle in (
        ("defaults: {ram: 0}", "defaults.ram"),
        ("defaults: {volume_size: lots}", "defaults.volume_size"),
        ("defaults: {cpu: 1}", "defaults.cpu"),
        ("defaults: {volume_size: 60Gi}", "line 1: defaults.volume_size: 60Gi is above plan 'default'"),
        (
            "quotas: {default: {}, small: {max_volume_size: 5Gi}}\ndefaults: {plans: {small: {ram: 1Gi}}}",
            "line 2: defaults.volume_size: 10Gi is above plan 'small'",
        ),
        ("defaults: {plans: {pro: {volume_size: 99Gi}}}", "defaults.plans.pro.volume_size"),
    ):
        with pytest.raises(ConfigError) as error:
            parse(bad)
        assert needle in str(error.value), (bad, str(error.value))


def test_a_request_without_has_volume_hashes_as_before_it_existed():
    # A retry that crosses an upgrade must replay, not be refused as a reused request id.
    order = PlacementOrder("r", "web", RequestIn(customer_id="c", ram="1Gi", volumes=[{"size": "1Gi"}]), "repo")
    before = {
        "service_name": "web",
        "repo": "repo",
        "service_id": None,
        "request": {
            "customer_id": "c",
            "region": None,
            "ram": 1024**3,
            "volumes": [{"mount_path": "/data", "size": 1024**3}],
            "customer_volume_count": 0,
            "plan": "default",
            "pods": 1,
            "new_customer": False,
            "etcd_objects": None,
        },
    }
    assert order.body_hash() == hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()


_TEXT = st.text(max_size=30)  # any characters: quotes, backslashes, controls, non-ASCII, surrogates' neighbours


@st.composite
def _orders(draw) -> PlacementOrder:
    volumes = draw(
        st.lists(
            st.builds(
                dict,
                mount_path=_TEXT.map(lambda text: "/" + text.replace(".", "").replace("\\", "")),
                size=st.none() | st.integers(0, 2**53),
            ),
            max_size=2,
        )
    )
    has_volume = draw(st.sampled_from([None, bool(volumes)]))
    customer_id = draw(st.none() | _TEXT.filter(bool))
    request = RequestIn(
        customer_id=customer_id,
        customer_volume_count=0 if customer_id is None else draw(st.integers(0, 2**31 - 1)),
        region=draw(st.none() | _TEXT),
        ram=draw(st.none() | st.integers(1, 2**53)),
        has_volume=has_volume,
        volumes=volumes,
        plan=draw(_TEXT),
        pods=draw(st.integers(1, 2**31 - 1)),
        new_customer=draw(st.booleans()),
        etcd_objects=draw(st.none() | st.integers(0, 2**31 - 1)),
    )
    return PlacementOrder("r", draw(_TEXT), request, draw(st.none() | _TEXT), draw(st.none() | _TEXT))


@settings(max_examples=300, deadline=None)
@given(order=_orders())
def test_a_body_hashes_as_json_dumps_of_its_body_with_sorted_keys(order):
    # The canonical text is written directly (placement.router.ledger._canonical): it must stay json.dumps's.
    request = order.request.model_dump(mode="json")
    if request["has_volume"] is None:
        request.pop("has_volume")
    body = {"service_name": order.service_name, "repo": order.repo, "service_id": order.service_id}
    text = json.dumps({**body, "request": request}, sort_keys=True)
    assert order.body_hash() == hashlib.sha256(text.encode()).hexdigest()


# --- getClusterForService ------------------------------------------------------------------------------------


async def test_service_lookup_resolves_draining_clusters_and_tells_released_from_unknown(client, seeded):
    placed = (await client.post("/v1/placements", json=place("s1", **DESIGN_DOC_INPUT), headers=AUTH)).json()
    service_id = placed["service_id"]
    assert (await client.get(f"/v1/services/{service_id}")).status_code == 401
    found = await client.get(f"/v1/services/{service_id}", headers=AUTH)
    assert found.status_code == 200
    body = found.json()
    assert {key: body[key] for key in ("service_id", "cluster_id", "task_queue", "region", "cluster_status")} == {
        "service_id": service_id,
        "cluster_id": placed["cluster_id"],
        "task_queue": placed["task_queue"],
        "region": "eu-west",
        "cluster_status": "active",
    }
    assert body["node"] == placed["node"]
    assert [(v["mount_path"], v["size"], v["size_bytes"], v["node"]) for v in body["volumes"]] == [
        ("/data", "10Gi", 10 * 1024**3, placed["node"])
    ]
    # Drained: no new services there, but this one's deploys must still reach it.
    await client.patch(f"/v1/clusters/{placed['cluster_id']}", json={"status": "draining"}, headers=AUTH)
    drained = (await client.get(f"/v1/services/{service_id}", headers=AUTH)).json()
    assert (drained["task_queue"], drained["cluster_status"]) == (placed["task_queue"], "draining")
    assert (await client.delete(f"/v1/placements/{service_id}", headers=AUTH)).status_code == 200
    gone = await client.get(f"/v1/services/{service_id}", headers=AUTH)
    assert gone.status_code == 410
    assert "was released at" in gone.json()["detail"]
    assert (await client.get("/v1/services/svc-never", headers=AUTH)).status_code == 404


# --- task queues ---------------------------------------------------------------------------------------------


async def test_task_queue_changes_only_while_no_service_lives_on_the_cluster(client, seeded):
    placed = (await client.post("/v1/placements", json=place("t1", region="eu-west"), headers=AUTH)).json()
    cluster = placed["cluster_id"]
    moved = await client.patch(f"/v1/clusters/{cluster}", json={"task_queue": "deployer-new"}, headers=AUTH)
    assert moved.status_code == 409
    assert "1 live service(s)" in moved.json()["detail"]
    # All or nothing: the status in the same refused call did not change either.
    both = await client.patch(
        f"/v1/clusters/{cluster}", json={"status": "draining", "task_queue": "deployer-new"}, headers=AUTH
    )
    assert both.status_code == 409
    listed = {c["id"]: c for c in (await client.get("/v1/clusters")).json()}
    assert (listed[cluster]["task_queue"], listed[cluster]["status"]) == (f"deployer-{cluster}", "active")
    # Setting the same queue is not a change.
    same = await client.patch(f"/v1/clusters/{cluster}", json={"task_queue": f"deployer-{cluster}"}, headers=AUTH)
    assert same.status_code == 200
    taken = await client.patch("/v1/clusters/us-east-1", json={"task_queue": f"deployer-{cluster}"}, headers=AUTH)
    assert taken.status_code == 409
    assert f"belongs to cluster {cluster!r}" in taken.json()["detail"]
    assert (await client.patch("/v1/clusters/us-east-1", json={}, headers=AUTH)).status_code == 422
    await client.delete(f"/v1/placements/{placed['service_id']}", headers=AUTH)
    moved = await client.patch(f"/v1/clusters/{cluster}", json={"task_queue": "deployer-new"}, headers=AUTH)
    assert moved.status_code == 200
    assert moved.json()["task_queue"] == "deployer-new"
    again = (await client.post("/v1/placements", json=place("t2", region="eu-west"), headers=AUTH)).json()
    assert (again["cluster_id"], again["task_queue"]) == (cluster, "deployer-new")


def test_the_database_holds_task_queues_unique_and_fixed_under_services(db_url, clock):
    store = open_store(db_url, clock=clock)
    try:
        seed_store(store, fleet())
        store.place(PlacementOrder("r1", "web", RequestIn(customer_id="c", ram="1Gi", region="eu-west")))
        # Any other writer, not only the router, is refused by the database itself.
        with pytest.raises(IntegrityError), store.engine.begin() as conn:
            conn.execute(update(clusters).where(clusters.c.id == "eu-west-1").values(task_queue="elsewhere"))
        row = {
            "id": "x-1",
            "name": "X",
            "region": "x",
            "task_queue": "deployer-us-east-1",
            "registry_url": "r:5000",
        }
        with pytest.raises(IntegrityError), store.engine.begin() as conn:
            conn.execute(insert(clusters).values(**row))
        # A cluster without services may be renamed directly, too.
        with store.engine.begin() as conn:
            conn.execute(update(clusters).where(clusters.c.id == "us-east-1").values(task_queue="deployer-us-2"))
            conn.execute(text("SELECT 1"))
        assert store.get_cluster("us-east-1").task_queue == "deployer-us-2"
    finally:
        store.dispose()


def test_placements_racing_a_task_queue_change_always_answer_the_queue_they_live_on(db_url, clock):
    """Placements and renames of the one cluster's queue at once: whatever wins, every live service's answer is
    its cluster's queue, and the queue moved only while the cluster had no service."""
    store = open_store(db_url, clock=clock)
    try:
        seed_store(store, [(cluster_body("eu-west-1"), load_body())])
        orders = [
            PlacementOrder(f"p{i}", f"web{i}", RequestIn(customer_id=f"c{i}", ram="1Gi", region="eu-west"))
            for i in range(12)
        ]
        renames = [f"deployer-{i}" for i in range(12)]

        def rename(queue: str) -> str | None:
            try:
                return store.patch_cluster("eu-west-1", task_queue=queue).task_queue
            except ValueError:
                return None

        with ThreadPoolExecutor(8) as pool:
            placed = pool.map(store.place, orders)
            renamed = pool.map(rename, renames)
            placed, renamed = list(placed), list(renamed)
        final = store.get_cluster("eu-west-1").task_queue
        assert {p.placed.task_queue for p in placed} == {final}
        assert {store.service(p.placed.service_id).task_queue for p in placed} == {final}
        assert final in {*(q for q in renamed if q), "deployer-eu-west-1"}
    finally:
        store.dispose()
