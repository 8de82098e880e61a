"""deploy/collector-rbac.yaml grants get, list and watch on exactly what the collector reads, and nothing more."""

from __future__ import annotations

from pathlib import Path

import yaml

from placement.collector import resources
from tests.collector.objects import generated_fleet, k3s_longhorn_fleet

MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "collector-rbac.yaml"


def _documents() -> dict[str, dict]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(MANIFEST.read_text()) if doc}


def _granted() -> set[tuple[str, str]]:
    granted = set()
    for rule in _documents()["ClusterRole"]["rules"]:
        assert sorted(rule["verbs"]) == ["get", "list", "watch"], rule
        assert set(rule) == {"apiGroups", "resources", "verbs"}, "no resourceNames, nonResourceURLs or wildcards"
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                assert "*" not in group + resource
                granted.add((group, resource))
    return granted


def _read(path: str) -> tuple[str, str]:
    parts = path.strip("/").split("/")
    return ("", parts[-1]) if parts[0] == "api" else (parts[1], parts[-1])


def test_manifest_matches_the_resource_catalogue():
    assert _granted() == {(r.group, r.plural) for r in resources.ALL}


def test_manifest_matches_what_a_collection_requests(serve):
    longhorn = serve(k3s_longhorn_fleet())
    longhorn.collect()
    ceph = serve(generated_fleet(3, 30, ceph=True))
    ceph.collect()
    requested = {_read(r.path) for r in longhorn.cluster.requests + ceph.cluster.requests}
    assert requested == _granted()


def test_service_account_is_bound_to_the_role():
    docs = _documents()
    account, binding = docs["ServiceAccount"], docs["ClusterRoleBinding"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": docs["ClusterRole"]["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": account["metadata"]["namespace"]}
    ]
    assert docs["Namespace"]["metadata"]["name"] == account["metadata"]["namespace"]
