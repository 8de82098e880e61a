"""Property-based API testing with schemathesis against the router's own OpenAPI: never a 500."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from placement.router.app import create_app
from placement.router.config import RouterSettings
from placement.router.store import open_store
from tests.router.conftest import AUTH, TOKEN, cluster_body, load_body, seed_store

# schemathesis reads the schema when the module is collected, so the app (on a throwaway SQLite file) exists then.
_workdir = tempfile.TemporaryDirectory(prefix="router-fuzz-")
_store = open_store(f"sqlite:///{Path(_workdir.name) / 'fuzz.db'}")
seed_store(
    _store,
    [
        (cluster_body("eu-west-1"), load_body(observed_at=None)),
        (cluster_body("eu-west-2", provider="rook-ceph"), load_body(observed_at=None, ctrl="CX32")),
        (cluster_body("us-east-1", region="us-east"), None),  # no snapshot yet
    ],
)
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(_store, RouterSettings(tokens=(TOKEN,))))


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
def test_no_server_errors(case):
    case.call_and_validate(headers=AUTH, checks=[not_a_server_error])
