"""Property-based API testing with schemathesis against the router's own OpenAPI, over real HTTP (``placement
serve`` under uvicorn) on SQLite and PostgreSQL: never a 500, and every response (status, content type, headers,
body) as the document says; statefully too, following the document's links from a placement to its release and
from a release to a new placement of the same service id.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.errors import FlakyStrategyDefinition
from hypothesis.stateful import Bundle
from schemathesis.checks import not_a_server_error
from schemathesis.generation.stateful.state_machine import StepInput
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.stateful import transition

from placement.router.app import create_app
from placement.router.config import RouterSettings
from placement.router.store import open_store
from tests.router.conftest import AUTH, TOKEN, cluster_body, live_router_on, load_body

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
]
FLEET = [
    (cluster_body("eu-west-1"), load_body(observed_at=None)),
    (cluster_body("eu-west-2", provider="rook-ceph"), load_body(observed_at=None, ctrl="CX32")),
    (cluster_body("us-east-1", region="us-east"), None),  # no snapshot yet
]


def _document() -> dict:
    # The document as ``placement serve`` publishes it (select-cluster open, tokens configured); read at collection.
    with tempfile.TemporaryDirectory(prefix="router-doc-") as workdir:
        store = open_store(f"sqlite:///{Path(workdir) / 'doc.db'}")
        try:
            return create_app(store, RouterSettings(tokens=(TOKEN,))).openapi()
        finally:
            store.dispose()


schema = schemathesis.openapi.from_dict(_document())
FUZZ = settings(
    max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real router with a seeded fleet for the module; its base URL."""
    with live_router_on(request.param, tmp_path_factory.mktemp("fuzz")) as (router, _db):
        with httpx.Client(base_url=router.base_url, timeout=30) as http:
            for cluster, load in FLEET:
                assert http.post("/v1/clusters", json=cluster, headers=AUTH).status_code == 201
                if load is not None:
                    assert http.put(f"/v1/clusters/{cluster['id']}/load", json=load, headers=AUTH).status_code == 200
        yield router.base_url


@schema.parametrize()
@FUZZ
def test_every_operation_answers_as_documented(case, live):
    case.call_and_validate(base_url=live, headers=AUTH, checks=CHECKS)


def placements_as_a_root(base: type) -> dict:
    """Placements as an entry point of the stateful scenarios, so the links from a placement to its release and
    back are followed. schemathesis would not start there on its own: it infers that ``customer_id`` needs a
    Customer some other operation makes, and none does. Half the bodies are schemathesis' own, half are
    placements that fit the seeded fleet (random bodies mostly do not fit, and then nothing follows)."""
    operation = base.schema["/v1/placements"]["POST"]
    fitting = st.builds(
        lambda request_id, customer, ram, volume, service_id: operation.Case(
            body={
                "request_id": f"req-{request_id.hex}",
                "service_name": "web",
                **({"service_id": service_id} if service_id else {}),
                "request": {
                    "customer_id": customer,
                    "ram": ram,
                    "volumes": [{"size": "1Gi", "mount_path": "/data"}] if volume else [],
                },
            },
            media_type="application/json",
        ),
        st.uuids(),
        st.sampled_from(["acme", "globex", "initech"]),
        st.sampled_from(["256Mi", "1Gi", 2 * 1024**3]),
        st.booleans(),
        st.sampled_from([None, "shop-web", "shop-db"]),
    )
    cases = st.one_of(operation.as_strategy(), fitting).map(StepInput.initial)
    name = "RANDOM__POST_v1_placements_fitting"
    return {
        name: transition(name=name, target=Bundle("catch_all"), input=cases, precondition=lambda machine: True),
        "root_rules": base.root_rules | {name},
        "_root_labels": base._root_labels | {operation.label},
    }


def test_placements_and_releases_follow_the_links_statefully(live):
    # The per-operation fuzzing before may have drained clusters or replaced their loads: start from the fleet.
    with httpx.Client(base_url=live, timeout=30) as http:
        for cluster, load in FLEET:
            assert http.patch(f"/v1/clusters/{cluster['id']}", json={"status": "active"}, headers=AUTH).is_success
            if load is not None:
                assert http.put(f"/v1/clusters/{cluster['id']}/load", json=load, headers=AUTH).is_success
    failures: list[str] = []
    answered: list[tuple[str, int]] = []
    # The placement operations only: their links are what this test follows.
    base = schema.include(path_regex="^/v1/(placements|select-cluster)").as_state_machine()

    class RouterMachine(base):
        locals().update(placements_as_a_root(base))

        def get_call_kwargs(self, case):
            return {"base_url": live, "headers": AUTH}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            answered.append((f"{case.method} {case.path}", response.status_code))
            try:
                case.validate_response(response, checks=CHECKS)
            except Exception as error:
                failures.append(f"{case.method} {case.formatted_path}: {error}")
                raise

    # Which links can be followed depends on the server's answers, and the server keeps its state between
    # scenarios, so Hypothesis may find a replayed scenario drawing differently (FlakyStrategyDefinition).
    # schemathesis' own runner counts that as no failure; here too, but every failed check is recorded as it
    # happens, so none is lost to it. No shrinking: it would only replay against a server in another state.
    completed = False
    with contextlib.suppress(FlakyStrategyDefinition):
        RouterMachine.run(
            settings=settings(
                max_examples=60,
                stateful_step_count=6,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
                phases=[Phase.generate],
            )
        )
        completed = True
    assert failures == []
    if completed:  # the links were followed: placements were made, released, and replayed after release
        assert {("POST /v1/placements", 201), ("DELETE /v1/placements/{service_id}", 200)} <= set(answered)


def test_the_document_states_links_bounds_and_headers():
    document = _document()
    paths = document["paths"]
    placed = paths["/v1/placements"]["post"]["responses"]
    assert placed["201"]["links"]["ReleasePlacement"]["operationId"] == "release_placement"
    released = paths["/v1/placements/{service_id}"]["delete"]["responses"]["200"]["links"]
    assert released["PlaceServiceIdAgain"]["operationId"] == "create_placement"
    assert placed["409"]["content"]["application/json"]["schema"]["$ref"].endswith("/PlacementConflictOut")
    conflict = document["components"]["schemas"]["PlacementConflictOut"]
    assert conflict["required"] == ["detail"]  # not every 409 carries a decision
    for path, operations in paths.items():
        for method, operation in operations.items():
            if "503" in operation["responses"]:
                assert "Retry-After" in operation["responses"]["503"]["headers"], (method, path)
    select = paths["/v1/select-cluster"]["post"]
    assert "security" not in select and "401" not in select["responses"]  # open unless protected
    assert select["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/DecisionOut")
    view = paths["/v1/clusters/{cluster_id}"]["get"]["responses"]["200"]
    assert view["content"]["application/json"]["schema"]["$ref"].endswith("/ClusterViewOut")

    schemas = document["components"]["schemas"]
    # Sizes take an integer or a quantity string; no keyword JSON Schema does not know (pydantic's ge/le/gt).
    ram = schemas["StorableRequestIn"]["properties"]["ram"]
    assert [choice["type"] for choice in ram["anyOf"]] == ["integer", "string", "null"]  # null: the plan's default
    assert ram["anyOf"][1]["maxLength"] == 64
    unknown = {"ge", "le", "gt", "lt"}

    def walk(node, where):
        if isinstance(node, dict):
            assert not unknown & set(node), where
            if node.get("type") == "string" and "enum" not in node and "format" not in node:
                assert "maxLength" in node, where
            for key, child in node.items():
                walk(child, f"{where}/{key}")
        elif isinstance(node, list):
            for index, child in enumerate(node):
                walk(child, f"{where}/{index}")

    request_schemas = ["StorableRequestIn", "StorableClusterIn", "StorableLoadIn", "PlacementIn", "RunNodeIn-Input"]
    for name in [*request_schemas, "VolumeIn", "ClusterPatch"]:
        walk(schemas[name], name)
    for path, operations in paths.items():
        for method, operation in operations.items():
            walk(operation.get("parameters", []), f"{method} {path}")


def test_a_protected_select_cluster_is_documented_as_needing_a_token(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'doc.db'}")
    try:
        document = create_app(store, RouterSettings(tokens=(TOKEN,), protect_select=True)).openapi()
    finally:
        store.dispose()
    select = document["paths"]["/v1/select-cluster"]["post"]
    assert select["security"] == [{"HTTPBearer": []}]
    assert {"401", "403"} <= set(select["responses"])
