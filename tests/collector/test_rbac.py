"""The RBAC manifests grant ``list``, and only ``list``, on exactly what a collection reads, and nothing more.

``deploy/collector-rbac.yaml`` is for the default ``--secrets list``; ``deploy/collector-rbac-quota.yaml`` for
``--secrets quota``, which has no access to secrets at all.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from placement.collector import resources
from support.kube_fleets import generated_fleet, k3s_longhorn_fleet

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
MANIFESTS = {"list": DEPLOY / "collector-rbac.yaml", "quota": DEPLOY / "collector-rbac-quota.yaml"}
COLLECTION_PATHS = {r.path for r in resources.ALL}


def _documents(secrets: str) -> dict[str, dict]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(MANIFESTS[secrets].read_text()) if doc}


def _granted(secrets: str) -> set[tuple[str, str]]:
    granted = set()
    for rule in _documents(secrets)["ClusterRole"]["rules"]:
        assert rule["verbs"] == ["list"], rule  # never get or watch: the collector only lists
        assert set(rule) == {"apiGroups", "resources", "verbs"}, "no resourceNames, nonResourceURLs or wildcards"
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                assert "*" not in group + resource
                granted.add((group, resource))
    return granted


def _read(path: str) -> tuple[str, str]:
    parts = path.strip("/").split("/")
    return ("", parts[-1]) if parts[0] == "api" else (parts[1], parts[-1])


@pytest.mark.parametrize("secrets", resources.SECRETS_COUNTS)
def test_manifest_matches_the_resource_catalogue(secrets):
    assert _granted(secrets) == {(r.group, r.plural) for r in resources.read_by(secrets)}


def test_quota_manifest_grants_nothing_on_secrets():
    assert not any(resource == "secrets" for _, resource in _granted("quota"))
    assert ("", "secrets") in _granted("list")


@pytest.mark.parametrize("secrets", resources.SECRETS_COUNTS)
def test_manifest_matches_what_a_collection_requests(serve, secrets):
    longhorn = serve(k3s_longhorn_fleet())
    longhorn.collect(secrets=secrets)
    ceph = serve(generated_fleet(3, 30, ceph=True))
    ceph.collect(secrets=secrets, source_options={"page_size": 7})
    requests = longhorn.cluster.requests + ceph.cluster.requests
    assert {_read(r.path) for r in requests} == _granted(secrets)
    # Each request is a list: a GET of a whole collection (never one object), paged, never a watch.
    for request in requests:
        assert request.method == "GET"
        assert request.path in COLLECTION_PATHS
        assert request.limit is not None
        assert "watch" not in request.query and "resourceVersionMatch" not in request.query


@pytest.mark.parametrize("secrets", resources.SECRETS_COUNTS)
def test_service_account_is_bound_to_the_role(secrets):
    docs = _documents(secrets)
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
