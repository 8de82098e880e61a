"""Counting secrets: a metadata-only list by default, or ResourceQuotas' count/secrets without touching secrets."""

from __future__ import annotations

from typer.testing import CliRunner

from placement.cli import app
from placement.collector.snapshot import Snapshot
from support.kube_fleets import k3s_longhorn_fleet
from support.kube_objects import resource_quota

runner = CliRunner()
SECRETS = "/api/v1/secrets"
QUOTAS = "/api/v1/resourcequotas"


def test_listing_secrets_asks_for_metadata_only(serve):
    served = serve(k3s_longhorn_fleet())
    snapshot = served.collect()
    assert snapshot.inventory.object_counts["secrets"] == 4
    assert snapshot.inventory.secrets_counted_by == "metadata-only list"
    requests = [r for r in served.cluster.requests if r.path == SECRETS]
    assert requests and all(r.metadata_only and r.limit == 1 for r in requests)
    assert QUOTAS not in {r.path for r in served.cluster.requests}


def test_quota_mode_never_touches_secrets(serve):
    served = serve(k3s_longhorn_fleet())
    listed = served.collect()
    served.cluster.requests.clear()
    snapshot = served.collect(secrets="quota")
    assert SECRETS not in {r.path for r in served.cluster.requests}
    assert snapshot.inventory.object_counts["secrets"] == 3  # one per customer namespace, which have quotas
    assert snapshot.load.etcd_objects == listed.load.etcd_objects - 1  # kube-system's secret has no quota
    assert snapshot.inventory.secrets_counted_by == "ResourceQuota count/secrets"
    assert snapshot.inventory.namespaces_without_secret_quota == 5
    assert snapshot.inventory.warnings == [
        "5 of 8 namespaces have no ResourceQuota counting secrets (count/secrets): default, kube-node-lease, "
        "kube-public, kube-system, longhorn-system; their secrets are missing from etcd_objects"
    ]


def test_quota_counts_legacy_keys_and_takes_one_count_per_namespace(serve):
    cluster = k3s_longhorn_fleet()
    legacy = resource_quota("kube-system", None, name="system")
    legacy["status"]["used"]["secrets"] = "12"
    cluster.collections[QUOTAS] = [
        resource_quota("cust-acme", 7),
        resource_quota("cust-acme", 7, name="secrets-only"),  # two quotas, one count
        resource_quota("cust-globex", None),  # tracks no secrets
        legacy,
    ]
    snapshot = serve(cluster).collect(secrets="quota")
    assert snapshot.inventory.object_counts["secrets"] == 7 + 12
    assert snapshot.inventory.namespaces_without_secret_quota == 8 - 2


def _args(served, *extra: str) -> list[str]:
    return ["collect", "--kubeconfig", str(served.kubeconfig), "--cluster-id", "eu-west-1", "--print", *extra]


def test_cli_secrets_option(serve):
    served = serve(k3s_longhorn_fleet())
    result = runner.invoke(app, _args(served, "--secrets", "quota"))
    assert result.exit_code == 0, result.output
    assert Snapshot.model_validate_json(result.stdout).inventory.secrets_counted_by == "ResourceQuota count/secrets"
    assert "warning: 5 of 8 namespaces have no ResourceQuota counting secrets" in result.stderr
    assert SECRETS not in {r.path for r in served.cluster.requests}
    bad = runner.invoke(app, _args(served, "--secrets", "all"))
    assert bad.exit_code == 2 and "--secrets 'all': expected one of list, quota" in bad.output
