"""The API's storage providers are the loaded limits profile's: its OpenAPI document lists them, and a cluster
with any other is a 422 that names the field."""

from __future__ import annotations

import httpx
import pytest
import yaml

from placement.limits import load_profile
from placement.policy import load_policy
from placement.router.app import create_app
from placement.router.config import RouterSettings
from placement.router.store import open_store
from tests.router.conftest import AUTH, TOKEN, FixedClock, cluster_body

MAYASTOR = "openebs-mayastor"
pytestmark = pytest.mark.anyio


@pytest.fixture
def mayastor_policy(tmp_path):
    data = load_profile("seed").model_dump(by_alias=True, exclude_none=True)
    data["name"] = "seed-with-mayastor"
    data["storage"][MAYASTOR] = {**data["storage"]["longhorn"], "provisioners": ["io.openebs.csi-mayastor"]}
    del data["storage"]["rook-ceph"]
    path = tmp_path / "mayastor.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_policy(profile=str(path))


def provider_schema(app) -> dict:
    schemas = app.openapi()["components"]["schemas"]
    body = app.openapi()["paths"]["/v1/clusters"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return schemas[body["$ref"].rsplit("/", 1)[-1]]["properties"]["storage_provider"]


def test_the_openapi_document_lists_the_shipped_profiles_providers(app, store):
    schema = provider_schema(app)
    assert schema["enum"] == list(store.policy.limits.storage) == ["longhorn", "rook-ceph"]
    assert schema["default"] == "longhorn"


async def test_a_profile_with_a_third_provider_takes_it_and_refuses_one_it_lacks(mayastor_policy, tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'router.db'}", policy=mayastor_policy, clock=FixedClock())
    app = create_app(store, RouterSettings(db_url="unused", tokens=(TOKEN,)))
    try:
        assert provider_schema(app)["enum"] == ["longhorn", MAYASTOR]
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://router") as client:
            added = await client.post("/v1/clusters", json=cluster_body("m-1", provider=MAYASTOR), headers=AUTH)
            assert added.status_code == 201, added.text
            assert added.json()["storage_provider"] == MAYASTOR
            refused = await client.post("/v1/clusters", json=cluster_body("c-1", provider="rook-ceph"), headers=AUTH)
            assert refused.status_code == 422
            (problem,) = refused.json()["detail"]
            assert problem["loc"] == ["body", "storage_provider"]
            assert "longhorn" in problem["msg"] and MAYASTOR in problem["msg"]
            listed = await client.get("/v1/clusters")
            assert [c["id"] for c in listed.json()] == ["m-1"]
    finally:
        store.dispose()
