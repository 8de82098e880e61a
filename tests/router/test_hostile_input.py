"""Hostile and clumsy input over real HTTP (``placement serve`` under uvicorn), on SQLite and PostgreSQL.

Every such request gets a 4xx that names the field, quickly and in a few hundred bytes, and changes nothing:
quantities are bounded before they are parsed, odd numbers and unencodable text are 422s (never 500s), bodies
have a size limit, and what a 422 echoes of the input is a short prefix.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.router.conftest import AUTH, cluster_body, live_router_on, load_body
from tests.router.consistency import check_consistency

MiB = 1024**2


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """One router per backend for the module, with one cluster that takes anything: (base URL, database URL)."""
    with live_router_on(request.param, tmp_path_factory.mktemp("hostile")) as (router, db):
        with httpx.Client(base_url=router.base_url, timeout=60) as http:
            assert http.post("/v1/clusters", json=cluster_body("eu-west-1"), headers=AUTH).status_code == 201
            load = load_body(observed_at=None)
            assert http.put("/v1/clusters/eu-west-1/load", json=load, headers=AUTH).status_code == 200
        yield router.base_url, db


@pytest.fixture
def http(live) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live[0], timeout=60) as client:
        yield client


LONG_CTRL = {**load_body(), "ctrl_node_type": "C" * 5000}


def select(ram="1Gi", volumes=(), **extra) -> dict:
    return {"customer_id": "c1", "ram": ram, "volumes": [{"size": size} for size in volumes], **extra}


def placement(request_id: str, **request) -> dict:
    return {"request_id": request_id, "service_name": "svc", "request": select(**request)}


# Every field that takes a quantity, as (method, path, body with the quantity put in, field's loc).
def quantity_fields(value) -> list[tuple[str, str, dict, list]]:
    node = {"name": "run-1", "allocatable_ram": "250Gi", "requested_ram": "1Gi"}
    return [
        ("POST", "/v1/select-cluster", select(ram=value), ["body", "ram"]),
        ("POST", "/v1/select-cluster", select(volumes=[value]), ["body", "volumes", 0, "size"]),
        ("POST", "/v1/placements", placement("q-1", ram=value), ["body", "request", "ram"]),
        ("POST", "/v1/placements", placement("q-2", volumes=[value]), ["body", "request", "volumes", 0, "size"]),
        (
            "PUT",
            "/v1/clusters/eu-west-1/load",
            {"ctrl_node_type": "CX52", "run_nodes": [{**node, "allocatable_ram": value}]},
            ["body", "run_nodes", 0, "allocatable_ram"],
        ),
        (
            "PUT",
            "/v1/clusters/eu-west-1/load",
            {"ctrl_node_type": "CX52", "run_nodes": [{**node, "requested_ram": value}]},
            ["body", "run_nodes", 0, "requested_ram"],
        ),
    ]


def problems(response: httpx.Response) -> dict[tuple, str]:
    assert response.status_code == 422, response.text[:500]
    return {tuple(problem["loc"]): problem["msg"] for problem in response.json()["detail"]}


def assert_nothing_changed(http: httpx.Client, db: str) -> None:
    view = http.get("/v1/clusters/eu-west-1").json()
    assert view["reserved_since_snapshot"]["services"] == 0
    assert view["load"]["run_nodes"][0]["allocatable_ram"] == 250 * 1024**3
    assert check_consistency(db)["active"] == 0


@pytest.mark.parametrize(
    ("quantity", "says"),
    [
        ("1E300000", "exponent must be within ±30"),
        ("1e1000000", "exponent must be within ±30"),
        ("1e-400000", "exponent must be within ±30"),
        ("9" * 100_000, "at most 64 characters"),
        ("1" + "0" * 70 + "Gi", "at most 64 characters"),
    ],
)
def test_every_quantity_field_is_bounded_before_it_is_parsed(live, http, quantity, says):
    for method, path, body, loc in quantity_fields(quantity):
        answer = http.request(method, path, json=body, headers=AUTH)
        found = problems(answer)
        assert says in found[tuple(loc)], (path, found)
        assert len(answer.content) < 2000
    assert http.get("/healthz").json() == {"status": "ok"}
    assert_nothing_changed(http, live[1])


@pytest.mark.parametrize(
    "value", ["NaN", "nan", "sNaN", "-sNaN", "Infinity", "-Infinity", "inf", "1_000", " 1Gi", "1Gi\n", "0x10"]
)
def test_non_numbers_as_sizes_are_422(live, http, value):
    for method, path, body, loc in quantity_fields(value):
        answer = http.request(method, path, json=body, headers=AUTH)
        assert tuple(loc) in problems(answer), (path, answer.text)
    assert_nothing_changed(http, live[1])


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "true", "1.5"])
def test_json_number_literals_nan_and_infinity_are_422(live, http, literal):
    # Python's JSON reader takes NaN and Infinity (and 1e400 is infinite); the 422 must still be valid JSON.
    raw = '{"customer_id": "c1", "ram": LITERAL, "volumes": [{"size": LITERAL}]}'.replace("LITERAL", literal)
    answer = http.post("/v1/select-cluster", content=raw, headers={"content-type": "application/json"})
    found = problems(answer)
    assert {("body", "ram"), ("body", "volumes", 0, "size")} <= set(found)
    json.loads(answer.text)  # strict JSON: no NaN in the answer


def test_a_lone_surrogate_in_text_is_422_not_500(live, http):
    raw = '{"customer_id": "c\\ud800x", "ram": "1Gi"}'
    headers = {"content-type": "application/json", **AUTH}
    answer = http.post("/v1/select-cluster", content=raw, headers=headers)
    assert "customer_id: not valid UTF-8 text" in answer.text
    assert answer.status_code == 422
    placed = http.post(
        "/v1/placements",
        content='{"request_id": "s-1", "service_name": "\\udfff", "request": {"customer_id": "c", "ram": "1Gi"}}',
        headers=headers,
    )
    assert placed.status_code == 422, placed.text
    assert "service_name: not valid UTF-8 text" in placed.text
    # A surrogate as a key of the body, too: the field is named without breaking the answer.
    odd_key = http.post("/v1/select-cluster", content='{"\\ud800": 1, "customer_id": "c", "ram": 1}', headers=headers)
    assert odd_key.status_code == 422
    assert_nothing_changed(http, live[1])


@pytest.mark.parametrize(
    ("body", "loc", "says"),
    [
        (select(ram=True), ("body", "ram"), "not a boolean"),
        (select(ram=False), ("body", "ram"), "not a boolean"),
        (select(ram="1m"), ("body", "ram"), "not a whole number of bytes"),
        (select(ram="1500m"), ("body", "ram"), "not a whole number of bytes"),
        (select(ram="0.5"), ("body", "ram"), "not a whole number of bytes"),
        (select(volumes=[True]), ("body", "volumes", 0, "size"), "not a boolean"),
        (select(volumes=["999m"]), ("body", "volumes", 0, "size"), "not a whole number of bytes"),
        (select(pods=True), ("body", "pods"), "not a boolean"),
        (select(customer_volume_count=True), ("body", "customer_volume_count"), "not a boolean"),
        (select(etcd_objects=False), ("body", "etcd_objects"), "not a boolean"),
    ],
)
def test_booleans_and_sub_byte_quantities_are_refused(live, http, body, loc, says):
    assert says in problems(http.post("/v1/select-cluster", json=body))[loc]
    placed = http.post("/v1/placements", json={"request_id": "b-1", "service_name": "s", "request": body}, headers=AUTH)
    assert says in problems(placed)[("body", "request", *loc[1:])]
    assert_nothing_changed(http, live[1])


def test_whole_byte_quantities_are_still_accepted(http):
    for ram in ("0.5Ki", "1.5G", "1e9", "1073741824", 1073741824, "1024Mi"):
        assert http.post("/v1/select-cluster", json=select(ram=ram)).status_code == 200, ram


@pytest.mark.parametrize("mount_path", ["/data/../etc", "/..", "/a/b/..", "/../x", "data", ""])
def test_mount_paths_with_parent_segments_are_refused(live, http, mount_path):
    body = {"customer_id": "c1", "ram": "1Gi", "volumes": [{"size": "1Gi", "mount_path": mount_path}]}
    assert ("body", "volumes", 0, "mount_path") in problems(http.post("/v1/select-cluster", json=body))
    placed = http.post("/v1/placements", json={"request_id": "m", "service_name": "s", "request": body}, headers=AUTH)
    assert ("body", "request", "volumes", 0, "mount_path") in problems(placed)
    assert_nothing_changed(http, live[1])


def test_mount_paths_that_only_look_odd_are_fine(http):
    for mount_path in ("/data", "/var/lib/..data", "/srv/a..b/c", "/x/.hidden"):
        body = {"customer_id": "c1", "ram": "1Gi", "volumes": [{"size": "1Gi", "mount_path": mount_path}]}
        assert http.post("/v1/select-cluster", json=body).status_code == 200, mount_path


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("api_endpoint", "javascript:alert(1)", "http:// or https://"),
        ("api_endpoint", "file:///etc/passwd", "http:// or https://"),
        ("api_endpoint", "ftp://k8s.example:6443", "http:// or https://"),
        ("api_endpoint", "https://", "http:// or https://"),
        ("api_endpoint", "10.0.0.1:6443", "http:// or https://"),
        ("registry_url", "file:///etc/passwd", "http:// or https://"),
        ("registry_url", "javascript:alert(1)", "host[:port]"),
        ("registry_url", "gopher://r.example", "http:// or https://"),
        ("registry_url", "10.0.1.4:5000 ; rm -rf /", "host[:port]"),
    ],
)
def test_url_schemes_are_validated(live, http, field, value, says):
    answer = http.post("/v1/clusters", json={**cluster_body("url-1"), field: value}, headers=AUTH)
    assert says in problems(answer)[("body", field)]
    assert http.get("/v1/clusters/url-1").status_code == 404


def test_good_urls_are_accepted(http):
    bodies = [
        cluster_body("url-ok-1", api_endpoint="https://10.0.1.2:6443", registry_url="10.0.1.4:5000"),
        cluster_body("url-ok-2", api_endpoint="http://k3s.internal:6443", registry_url="https://registry.example/v2"),
        cluster_body("url-ok-3", registry_url="registry.example.com/team"),
    ]
    for body in bodies:
        answer = http.post("/v1/clusters", json=body, headers=AUTH)
        assert answer.status_code == 201, answer.text
        assert http.patch(f"/v1/clusters/{body['id']}", json={"status": "maintenance"}, headers=AUTH).status_code == 200


def test_request_bodies_have_a_size_limit(live, http):
    huge = "x" * (10 * MiB)
    # The body limit (1 MiB by default) answers before the body is read; a chunked body is cut off while read.
    answer = http.post("/v1/select-cluster", json={"customer_id": huge, "ram": "1Gi"})
    assert answer.status_code == 413
    assert len(answer.content) < 200

    def chunks() -> Iterator[bytes]:
        yield b'{"customer_id": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'", "ram": "1Gi"}'

    chunked = http.post("/v1/placements", content=chunks(), headers={"content-type": "application/json", **AUTH})
    assert chunked.status_code == 413
    big_name = {**placement("big-1"), "service_name": "z" * (10 * MiB)}
    assert http.post("/v1/placements", json=big_name, headers=AUTH).status_code == 413
    assert_nothing_changed(http, live[1])


@pytest.mark.parametrize(
    ("method", "path", "body", "loc"),
    [
        ("POST", "/v1/select-cluster", select(customer_id="c" * 900_000), ("body", "customer_id")),
        ("POST", "/v1/placements", {**placement("n-1"), "service_name": "s" * 900_000}, ("body", "service_name")),
        ("POST", "/v1/clusters", {**cluster_body("n-2"), "name": "n" * 1_000_000}, ("body", "name")),
        ("POST", "/v1/clusters", {**cluster_body("n-3"), "region": "r" * 5000}, ("body", "region")),
        ("POST", "/v1/clusters", {**cluster_body("n-4"), "task_queue": "q" * 5000}, ("body", "task_queue")),
        ("PUT", "/v1/clusters/eu-west-1/load", LONG_CTRL, ("body", "ctrl_node_type")),
        ("POST", "/v1/select-cluster", select(plan="p" * 5000), ("body", "plan")),
        ("POST", "/v1/select-cluster", select(region="e" * 5000), ("body", "region")),
        ("POST", "/v1/placements", {**placement("n-5"), "repo": "r" * 50_000}, ("body", "repo")),
    ],
)
def test_long_strings_are_422_with_a_short_echo(live, http, method, path, body, loc):
    answer = http.request(method, path, json=body, headers=AUTH)
    assert "at most" in problems(answer)[loc]
    assert len(answer.content) < 2000, len(answer.content)
    assert_nothing_changed(http, live[1])


def test_long_ids_in_paths_are_refused_without_an_echo(live, http):
    long_id = "a" * 5000
    for method, path in (("GET", f"/v1/clusters/{long_id}"), ("DELETE", f"/v1/placements/{long_id}")):
        answer = http.request(method, path, headers=AUTH)
        assert answer.status_code == 422
        assert len(answer.content) < 2000
    for method, path in (("GET", "/v1/clusters/a%00b"), ("DELETE", "/v1/placements/a%00b")):
        assert http.request(method, path, headers=AUTH).status_code == 422


def test_a_cluster_stored_under_older_rules_is_still_shown(live, http):
    # A row written before the URL rules (a bare host:port api_endpoint) must not turn the reads into 500s.
    from sqlalchemy import insert

    from placement.router.db import cluster_counters, clusters
    from placement.router.store import open_store

    store = open_store(live[1], migrate=False)
    try:
        with store.engine.begin() as conn:
            row = {**cluster_body("legacy-1"), "api_endpoint": "10.0.9.2:6443", "registry_url": "reg istry"}
            row["status"] = "maintenance"
            conn.execute(insert(clusters).values(**row))
            conn.execute(insert(cluster_counters).values(cluster_id="legacy-1"))
    finally:
        store.dispose()
    listed = http.get("/v1/clusters")
    assert listed.status_code == 200
    assert {"id": "legacy-1", "api_endpoint": "10.0.9.2:6443"}.items() <= next(
        c for c in listed.json() if c["id"] == "legacy-1"
    ).items()
    view = http.get("/v1/clusters/legacy-1")
    assert view.status_code == 200
    assert view.json()["cluster"]["registry_url"] == "reg istry"
