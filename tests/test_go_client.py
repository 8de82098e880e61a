"""The Go client (clients/go): its own `go test` suite against real routers, run from here, and its contract with
the router's OpenAPI document, checked field by field from both sides.

Without a `go` toolchain these tests are skipped with a message, except in CI (CI set), where they must run:
`.ci/run` installs Debian's golang-go.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from placement.router.app import create_app
from placement.router.config import RouterSettings
from placement.router.store import Store

ROOT = Path(__file__).resolve().parents[1]
CLIENT = ROOT / "clients" / "go"
# The client reads its problems' detail as text whatever the status, so no struct mirrors Problem.
READ_AS_TEXT = {"Problem"}


@pytest.fixture(scope="module")
def go() -> str:
    path = shutil.which("go")
    if path is None:
        message = "no Go toolchain: install Debian's golang-go to test the Go client (clients/go)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI is set, so these tests must run (.ci/run installs it)")
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def go_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = Path(os.environ.get("HOME", "/nonexistent"))
    env = dict(os.environ)
    if not (home.is_dir() and os.access(home, os.W_OK)):
        scratch = tmp_path_factory.mktemp("go")
        env.update(GOCACHE=str(scratch / "cache"), GOPATH=str(scratch / "path"), HOME=str(scratch))
    env.update(
        GOFLAGS="",
        GOPROXY="off",  # standard library only: nothing may be downloaded
        GOTOOLCHAIN="local",
        CGO_ENABLED="0",
        # The router the Go tests start: this interpreter's own entry point.
        CAPPLAN_PLACEMENT=str(Path(sys.executable).parent / "placement"),
        # Run here, the Go tests never skip: PostgreSQL, psql and the router are part of this machine.
        CI=env.get("CI") or "1",
    )
    return env


def run_go(go: str, env: dict[str, str], *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run([go, *args], cwd=CLIENT, env=env, capture_output=True, text=True, timeout=timeout)


def test_go_client_suite_against_live_routers(go, go_env):
    """`go test` starts `placement serve` on SQLite and PostgreSQL: the design document's two calls, a 409, a 422,
    a 503 retried through a stopped database with the same request id, and an idempotent replay."""
    result = run_go(go, go_env, "test", "-count=1", "-v", "./...")
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    for test in ("TestAgainstALiveRouter/sqlite", "TestAgainstALiveRouter/postgresql"):
        assert f"--- PASS: {test}" in result.stdout
    assert "--- PASS: TestPlacementRetriesThroughAStoppedDatabase" in result.stdout
    assert "--- SKIP" not in result.stdout


def test_go_client_is_vetted_formatted_and_standard_library_only(go, go_env):
    vet = run_go(go, go_env, "vet", "./...")
    assert vet.returncode == 0, vet.stderr
    gofmt = subprocess.run(
        [str(Path(go).resolve().parent / "gofmt"), "-l", "."], cwd=CLIENT, capture_output=True, text=True
    )
    assert gofmt.returncode == 0 and gofmt.stdout == "", f"not gofmt'ed: {gofmt.stdout}{gofmt.stderr}"
    listed = run_go(go, go_env, "list", "-deps", "-test", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./...")
    assert listed.returncode == 0, listed.stderr
    module = json.loads(run_go(go, go_env, "list", "-m", "-json").stdout)["Path"]
    outside = [line for line in listed.stdout.splitlines() if line and not line.startswith(module)]
    assert outside == [], f"packages from outside the standard library: {outside}"


# --- the contract ------------------------------------------------------------------------------------------------


def openapi_document() -> dict[str, Any]:
    app = create_app(Store(create_engine("sqlite://")), RouterSettings(db_url="sqlite://"))
    return app.openapi()


def go_description(go: str, env: dict[str, str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "contract.json"
        result = run_go(go, {**env, "CAPPLAN_CONTRACT_OUT": str(out)}, "test", "-count=1", "-run", "^TestContract$")
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(out.read_text())


def _branches(prop: dict[str, Any]) -> list[dict[str, Any]]:
    for key in ("anyOf", "oneOf"):
        if key in prop:
            return [leaf for branch in prop[key] for leaf in _branches(branch)]
    return [prop]


def _refs(prop: Any) -> set[str]:
    """The schema names a schema fragment refers to, directly."""
    if isinstance(prop, dict):
        found = {prop["$ref"].rsplit("/", 1)[-1]} if "$ref" in prop else set()
        return found.union(*(_refs(value) for key, value in prop.items() if key != "$ref"))
    if isinstance(prop, list):
        return set().union(*(_refs(item) for item in prop))
    return set()


def _type_problems(where: str, go_type: dict[str, Any], prop: dict[str, Any]) -> list[str]:
    branches = [b for b in _branches(prop) if b.get("type") != "null"]
    if go_type["kind"] == "any":
        return []
    if not branches or any(not ({"type", "$ref", "enum", "const"} & set(b)) for b in branches):
        return [f"{where}: the API takes any JSON value, the Go field is {go_type['kind']}"]
    kinds = {b["type"] for b in branches if "type" in b}
    refs = {b["$ref"].rsplit("/", 1)[-1] for b in branches if "$ref" in b}
    kind = go_type["kind"]
    if kind == "struct":
        return [] if refs == {go_type["schema"]} and not kinds else [f"{where}: Go {go_type['schema']}, API {prop}"]
    wanted = {"number": {"number", "integer"}}.get(kind, {kind})
    if not kinds & wanted or refs:
        return [f"{where}: Go {kind}, API {sorted(kinds) or sorted(refs)}"]
    if kinds - wanted and go_type.get("direction") == "out":
        return [f"{where}: the API may answer {sorted(kinds - wanted)}, the Go field is {kind}"]
    if go_type.get("format") and not any(b.get("format") == go_type["format"] for b in branches):
        return [f"{where}: Go reads format {go_type['format']}, the API does not promise it"]
    if kind == "array":
        items = next(b["items"] for b in branches if b.get("type") == "array")
        return _type_problems(f"{where}[]", {**go_type["items"], "direction": go_type.get("direction")}, items)
    return []


def contract_problems(description: dict[str, Any], document: dict[str, Any]) -> list[str]:
    """Where the Go structs and the OpenAPI document disagree; empty when they agree field by field."""
    schemas = document["components"]["schemas"]
    problems: list[str] = []
    mirrored = {entry["schema"]: entry for entry in description["structs"]}
    for entry in description["structs"]:
        name, go_type = entry["schema"], entry["go_type"]
        schema = schemas.get(name)
        if schema is None:
            problems.append(f"{go_type} mirrors {name}, which the OpenAPI document does not have")
            continue
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        fields = {field["name"]: field for field in entry["fields"]}
        for missing in sorted(set(properties) - set(fields)):
            problems.append(f"{name}.{missing}: in the OpenAPI document, not in Go's {go_type}")
        for extra in sorted(set(fields) - set(properties)):
            problems.append(f"{go_type}.{fields[extra]['go_name']} ({extra}): in Go, not in {name}")
        for field_name in sorted(set(fields) & set(properties)):
            field = fields[field_name]
            where = f"{name}.{field_name} / {go_type}.{field['go_name']}"
            problems += _type_problems(
                where, {**field["type"], "direction": entry["direction"]}, properties[field_name]
            )
            if entry["direction"] == "in":
                if field_name in required and field["omitempty"]:
                    problems.append(f"{where}: required by the API, but Go leaves it out when empty")
                if field_name not in required and not field["omitempty"]:
                    problems.append(f"{where}: optional in the API, but Go always sends it (zero values included)")
    # Every schema the client's calls send or read is mirrored by a Go struct.
    reachable: set[str] = set()
    for operation in description["operations"]:
        method, path = operation.split(" ", 1)
        spec = document["paths"].get(path, {}).get(method.lower())
        if spec is None:
            problems.append(f"the Go client calls {operation}, which the OpenAPI document does not have")
            continue
        pending = _refs(spec.get("requestBody", {})) | _refs(spec.get("responses", {}))
        while pending:
            name = pending.pop()
            if name not in reachable:
                reachable.add(name)
                pending |= _refs(schemas.get(name, {}))
    for name in sorted(reachable - set(mirrored) - READ_AS_TEXT):
        problems.append(f"{name}: the client's calls use it, but no Go struct mirrors it")
    return problems


@pytest.fixture(scope="module")
def description(go, go_env) -> dict[str, Any]:
    return go_description(go, go_env)


def test_go_structs_agree_with_the_openapi_document(description):
    assert contract_problems(description, openapi_document()) == []


def test_the_contract_check_catches_a_change_on_either_side(description):
    document = openapi_document()

    def drifted_go(edit) -> list[str]:
        changed = copy.deepcopy(description)
        edit({entry["schema"]: entry for entry in changed["structs"]})
        return contract_problems(changed, document)

    def drifted_api(edit) -> list[str]:
        changed = copy.deepcopy(document)
        edit(changed["components"]["schemas"])
        return contract_problems(description, changed)

    def drop(fields: list[dict[str, Any]], name: str) -> None:
        fields[:] = [f for f in fields if f["name"] != name]

    # The Go side: a field lost, a field invented, a type changed, a required field made optional.
    assert drifted_go(lambda s: drop(s["ServiceOut"]["fields"], "task_queue")) == [
        "ServiceOut.task_queue: in the OpenAPI document, not in Go's Service"
    ]
    assert drifted_go(lambda s: s["DecisionOut"]["fields"].append({**s["DecisionOut"]["fields"][0], "name": "x"})) == [
        "Cluster.ID (x): in Go, not in DecisionOut"
    ]

    def to_integer(structs):
        next(f for f in structs["StorableRequestIn"]["fields"] if f["name"] == "has_volume")["type"]["kind"] = "integer"

    assert drifted_go(to_integer)[0].startswith("StorableRequestIn.has_volume / SelectClusterInput.HasVolume: Go")

    def omit_customer(structs):
        next(f for f in structs["PlacedRequestIn"]["fields"] if f["name"] == "customer_id")["omitempty"] = True

    assert drifted_go(omit_customer) == [
        "PlacedRequestIn.customer_id / PlacementRequest.CustomerID: "
        "required by the API, but Go leaves it out when empty"
    ]
    # The API side: a field added to an answer or a request, a new nested schema.
    assert drifted_api(lambda s: s["ServiceOut"]["properties"].update(zone={"type": "string"})) == [
        "ServiceOut.zone: in the OpenAPI document, not in Go's Service"
    ]
    assert drifted_api(lambda s: s["VolumeIn"]["properties"].update(iops={"type": "integer"})) == [
        "VolumeIn.iops: in the OpenAPI document, not in Go's VolumeInput"
    ]

    def nest(schemas):
        schemas["Zone"] = {"type": "object", "properties": {"name": {"type": "string"}}}
        schemas["ServiceOut"]["properties"]["zone"] = {"$ref": "#/components/schemas/Zone"}

    assert drifted_api(nest) == [
        "ServiceOut.zone: in the OpenAPI document, not in Go's Service",
        "Zone: the client's calls use it, but no Go struct mirrors it",
    ]
