"""``POST /v1/placements`` answers as FastAPI's own stack would, whichever of the two serves a request.

``DirectRoutesApp`` answers a well-formed request at the app's entry and hands everything else to the app's
middleware and FastAPI's handler with the body already read. Each request below goes to the app as built and to a
twin app that sends every request through its stack (same fleet, same clock, fixed service ids): the status and
body must be the same, and so must the latency metric's count by status.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from placement.router import api
from placement.router.api import PlacementFields, PlacementIn
from placement.router.app import create_app
from placement.router.config import RouterSettings
from placement.router.direct_route import DirectJSONRoute, DirectRoutesApp, _body_model, is_plain_text
from placement.router.store import open_store
from tests.router.conftest import AUTH, OTHER_TOKEN, TOKEN, cluster_body, load_body, seed_store

pytestmark = pytest.mark.anyio

JSON = {"Content-Type": "application/json"}


def _body(request_id: str, **request) -> dict:
    return {
        "request_id": request_id,
        "service_name": f"svc {request_id}",
        "service_id": f"svc-{request_id}",
        "request": {"customer_id": "c1", "ram": "2Gi", "region": "eu-west", **request},
    }


def _text(body: dict) -> bytes:
    return json.dumps(body).encode()


# (what, headers, raw body): well-formed, refused and malformed requests.
CASES = [
    ("placed", {**AUTH, **JSON}, _text(_body("r-1"))),
    ("placed with a volume", {**AUTH, **JSON}, _text(_body("r-2", volumes=[{"size": "5Gi"}]))),
    ("replayed", {**AUTH, **JSON}, _text(_body("r-1"))),
    ("request id with another body", {**AUTH, **JSON}, _text(_body("r-1", ram="3Gi"))),
    ("service id taken", {**AUTH, **JSON}, _text({**_body("r-3"), "service_id": "svc-r-2"})),
    ("nothing fits", {**AUTH, **JSON}, _text(_body("r-4", ram="900Gi"))),
    ("no token", JSON, _text(_body("r-5"))),
    ("unknown token", {"Authorization": "Bearer nope", **JSON}, _text(_body("r-6"))),
    ("not a bearer token", {"Authorization": f"Basic {TOKEN}", **JSON}, _text(_body("r-7"))),
    ("a token without the api role", {"Authorization": f"Bearer {OTHER_TOKEN}", **JSON}, _text(_body("r-8"))),
    ("invalid JSON, no token", JSON, b'{"request_id": '),
    ("invalid JSON", {**AUTH, **JSON}, b'{"request_id": "r-9",}'),
    ("a field missing, no token", JSON, _text({"request_id": "r-10"})),
    ("a field missing", {**AUTH, **JSON}, _text({"request_id": "r-10"})),
    ("an unknown field", {**AUTH, **JSON}, _text({**_body("r-11"), "colour": "blue"})),
    ("NUL in a name", {**AUTH, **JSON}, _text({**_body("r-12"), "service_name": "a\x00b"})),
    ("a lone surrogate", {**AUTH, **JSON}, b'{"request_id": "r-13", "service_name": "\\ud800", "request": {}}'),
    ("a raw NUL byte", {**AUTH, **JSON}, b'{"request_id": "r-20", "service_name": "a\x00b", "request": {}}'),
    ("NUL in the customer", {**AUTH, **JSON}, _text(_body("r-21", customer_id="c\x00"))),
    (
        "text that is not ASCII",
        {**AUTH, **JSON},
        json.dumps(_body("r-22", region="eu-wëst"), ensure_ascii=False).encode(),
    ),
    (
        "not ASCII, and NUL",
        {**AUTH, **JSON},
        json.dumps({**_body("r-23"), "repo": "ü\x00"}, ensure_ascii=False).encode(),
    ),
    ("a backslash before u", {**AUTH, **JSON}, _text({**_body("r-24"), "service_name": "a\\u0000"})),
    ("NaN", {**AUTH, **JSON}, b'{"request_id": "r-14", "service_name": "s", "request": {"pods": NaN}}'),
    ("not JSON's content type", {**AUTH, "Content-Type": "text/plain"}, _text(_body("r-15"))),
    ("JSON with a charset", {**AUTH, "Content-Type": "application/json; charset=utf-8"}, _text(_body("r-16"))),
    ("no content type", AUTH, _text(_body("r-17"))),
    ("empty body", {**AUTH, **JSON}, b""),
    ("an array", {**AUTH, **JSON}, b"[]"),
    ("a body over the limit", {**AUTH, **JSON}, _text({**_body("r-18"), "service_name": "x" * 2_000_000})),
    ("a database error", {**AUTH, **JSON}, _text(_body("r-19", customer_id="database-down"))),
]


@contextmanager
def twin_apps(tmp_path, clock) -> Iterator[tuple[DirectRoutesApp, DirectRoutesApp]]:
    """The app as built, and its twin that sends every request through its middleware and FastAPI's handler, each
    on a fleet of its own."""
    built = []
    for name in ("direct", "fastapi"):
        store = open_store(f"sqlite:///{tmp_path / name}.db", clock=clock)
        seed_store(store, [(cluster_body("eu-west-1"), load_body())])
        app = create_app(store, RouterSettings(db_url="unused", tokens=(TOKEN, f"{OTHER_TOKEN} collector")))
        _refuse_a_customer(store)
        built.append((app, store))
    twin = built[1][0]
    assert isinstance(twin, DirectRoutesApp)
    twin.direct_routes = {}
    try:
        yield built[0][0], twin
    finally:
        for _app, store in built:
            store.dispose()


@pytest.fixture
def apps(tmp_path, clock):
    with twin_apps(tmp_path, clock) as both:
        yield both


def _refuse_a_customer(store) -> None:
    """Placements for the customer "database-down" fail as an unreachable database does (503)."""
    from placement.router.gate import DatabaseUnavailable

    place = store.place

    def failing(order, *args, **kwargs):
        if order.request.customer_id == "database-down":
            raise DatabaseUnavailable("the database is unreachable: OperationalError")
        return place(order, *args, **kwargs)

    store.place = failing


def _placements_route(app) -> DirectJSONRoute:
    (route,) = [r for r in app.routes if getattr(r, "path", None) == "/v1/placements" and "POST" in r.methods]
    assert isinstance(route, DirectJSONRoute)
    return route


def _answers_by_status(app) -> dict[str, float]:
    text = app.state.metrics.exposition().decode()
    return {
        sample.labels["status"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "placement_http_request_duration_seconds_count" and sample.labels["route"] == "/v1/placements"
    }


async def test_answers_match_fastapis_own_handler(apps):
    direct, fastapi = apps
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://router") for app in (direct, fastapi)
    ]
    try:
        for what, headers, raw in CASES:
            mine, theirs = [await client.post("/v1/placements", content=raw, headers=headers) for client in clients]
            assert mine.status_code == theirs.status_code, what
            assert mine.json() == theirs.json(), what
            assert mine.headers.get("www-authenticate") == theirs.headers.get("www-authenticate"), what
            assert mine.headers.get("retry-after") == theirs.headers.get("retry-after"), what
        chunked = [
            await client.post("/v1/placements", content=_chunks(_body("r-20")), headers=AUTH | JSON)
            for client in clients
        ]
        assert [answer.status_code for answer in chunked] == [201, 201]
        assert chunked[0].json() == chunked[1].json()
    finally:
        for client in clients:
            await client.aclose()
    assert _answers_by_status(direct) == _answers_by_status(fastapi)


async def _chunks(body: dict):
    """A body sent chunked: no Content-Length."""
    text = _text(body)
    yield text[:10]
    yield text[10:]


async def test_only_well_formed_requests_skip_the_stack(apps):
    direct, _fastapi = apps
    handed_on = []
    stack = direct.build_middleware_stack()

    async def counting(scope, receive, send):
        handed_on.append(scope["path"])
        await stack(scope, receive, send)

    direct.middleware_stack = counting
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=direct), base_url="http://router") as client:
        placed = await client.post("/v1/placements", content=_text(_body("w-1")), headers={**AUTH, **JSON})
        replayed = await client.post("/v1/placements", content=_text(_body("w-1")), headers={**AUTH, **JSON})
        assert (placed.status_code, replayed.status_code, handed_on) == (201, 200, [])
        refused = await client.post("/v1/placements", content=_text(_body("w-2")), headers=JSON)
        assert (refused.status_code, handed_on) == (401, ["/v1/placements"])
        malformed = await client.post("/v1/placements", content=_text({"request_id": "w-3"}), headers=AUTH | JSON)
        assert (malformed.status_code, handed_on) == (422, ["/v1/placements"] * 2)


def test_refuses_a_route_it_cannot_serve_as_fastapi_would():
    from fastapi import FastAPI

    app = FastAPI()

    async def with_a_query(item: int) -> None:
        return None

    with pytest.raises(TypeError, match="one JSON body model"):
        app.router.add_api_route("/x", with_a_query, methods=["POST"], route_class_override=DirectJSONRoute)


@pytest.mark.parametrize(
    ("body", "plain"),
    [
        (_text(_body("r-1")), True),
        (_text(_body("r-1", customer_id="c\x00")), False),  # written as \u0000
        (json.dumps(_body("r-1", region="eu-wëst"), ensure_ascii=False).encode(), False),
        (_text({**_body("r-1"), "service_name": "a\\u0041"}), False),  # a backslash, then u: looked at anyway
    ],
)
def test_only_a_plain_text_body_skips_the_walk_over_its_strings(monkeypatch, body, plain):
    walked = []
    monkeypatch.setattr(api, "_storable_strings", lambda *args: walked.append(args))
    assert is_plain_text(body) is plain
    assert not is_plain_text(b'{"service_name": "a\x00b"}')  # not JSON either: refused before any validator
    route = SimpleNamespace(body_model=PlacementIn, plain_text_model=PlacementFields)
    _body_model(route, [{"type": "http.request", "body": body, "more_body": False}])  # type: ignore[arg-type]
    assert bool(walked) is not plain
