"""Answers that are 200 but not the list asked for: each fails the cycle, writes nothing, and never kills --watch."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from placement.cli import app
from placement.collector.errors import CollectError
from placement.collector.snapshot import Snapshot
from support.kube_apiserver import Fault
from support.kube_fleets import k3s_longhorn_fleet
from support.kube_objects import pod

runner = CliRunner()
PODS = "/api/v1/pods"


def _without_items(body):
    return {key: value for key, value in body.items() if key != "items"}


def _items(*items):
    return lambda body: {**body, "items": list(items)}


MALFORMED = [
    pytest.param(
        PODS,
        Fault(rewrite=lambda body: {"error": "upstream connect error or disconnect/reset before headers"}),
        r"malformed answer to list pods \(core/v1\): no 'kind' where 'PodList' was expected \(keys: error\): "
        "upstream connect error",
        id="proxy error object",
    ),
    pytest.param(
        PODS,
        Fault(rewrite=_without_items),
        r"list pods \(core/v1\): a PodList without 'items'",
        id="list without items",
    ),
    pytest.param(
        "/apis/apps/v1/deployments",
        Fault(rewrite=lambda body: {**body, "kind": "ConfigMapList"}),
        r"list deployments \(apps/v1\): kind 'ConfigMapList' where 'DeploymentList' or "
        r"'PartialObjectMetadataList' was expected",
        id="wrong kind",
    ),
    pytest.param(
        "/api/v1/nodes",
        Fault(rewrite=lambda body: {"kind": "Status", "status": "Failure", "message": "etcd leader changed"}),
        r"list nodes \(core/v1\): kind 'Status' where 'NodeList' was expected: etcd leader changed",
        id="status with 200",
    ),
    pytest.param(
        "/api/v1/secrets",
        Fault(rewrite=lambda body: b"<html><body>502 Bad Gateway</body></html>"),
        r"list secrets \(core/v1\): the body is not JSON",
        id="html page",
    ),
    pytest.param(
        "/api/v1/namespaces",
        Fault(rewrite=lambda body: [body]),
        r"list namespaces \(core/v1\): the body is a JSON array, not an object",
        id="array body",
    ),
    pytest.param(
        "/apis/storage.k8s.io/v1/storageclasses",
        Fault(rewrite=lambda body: {**body, "items": {"longhorn": {}}}),
        r"list storageclasses \(storage.k8s.io/v1\): 'items' is a JSON object, not an array",
        id="items not an array",
    ),
    pytest.param(
        PODS,
        Fault(rewrite=_items(1, "web-7d9f8b6c4-x2k9p", None)),
        r"list pods \(core/v1\): items\[0\] is a JSON number, not an object",
        id="items not objects",
    ),
    pytest.param(
        "/api/v1/nodes",
        Fault(rewrite=_items({"metadata": {"name": "run-9", "labels": ["pool=run"]}})),
        r"list nodes \(core/v1\): object run-9: AttributeError",
        id="labels not a map",
    ),
    pytest.param(
        PODS,
        Fault(rewrite=_items({**pod("cust-acme", "web-1", "run-1", []), "spec": ["containers"]})),
        r"list pods \(core/v1\): object cust-acme/web-1: AttributeError",
        id="spec not a map",
    ),
    pytest.param(
        "/apis/longhorn.io/v1beta2/volumes",
        Fault(rewrite=_items({"metadata": {"name": "pvc-1"}, "status": "healthy"})),
        r"list volumes \(longhorn.io/v1beta2\): object pvc-1: AttributeError",
        id="status not a map",
    ),
]


@pytest.mark.parametrize(("path", "fault", "message"), MALFORMED)
def test_malformed_answer_fails_the_collection(serve, path, fault, message):
    cluster = k3s_longhorn_fleet()
    cluster.faults[path] = fault
    with pytest.raises(CollectError, match=message):
        serve(cluster).collect()


def test_a_later_page_without_items_is_not_a_short_last_page(serve):
    """The issue's case: page 2 of the pods came back as a PodList without items; 10 of 67 pods were stored."""
    cluster = k3s_longhorn_fleet()
    cluster.faults[PODS] = Fault(rewrite=_without_items, on_continue=True)
    with pytest.raises(CollectError, match=r"list pods \(core/v1\): a PodList without 'items'"):
        serve(cluster).collect(source_options={"page_size": 5})


def _empty_as_go_writes_it(body):
    return {**body, "metadata": {"resourceVersion": "948311"}, "items": None}


def test_items_null_is_an_empty_list(serve):
    cluster = k3s_longhorn_fleet()
    cluster.faults["/apis/apps/v1/statefulsets"] = Fault(rewrite=_empty_as_go_writes_it)
    cluster.faults["/apis/networking.k8s.io/v1/ingresses"] = Fault(rewrite=_empty_as_go_writes_it)
    snapshot = serve(cluster).collect()
    assert snapshot.inventory.object_counts["statefulsets"] == 0
    assert snapshot.inventory.object_counts["ingresses"] == 0
    assert snapshot.load.services == 7  # the customer Deployments only


def _args(served, *extra: str) -> list[str]:
    return ["collect", "--kubeconfig", str(served.kubeconfig), "--cluster-id", "eu-west-1", *extra]


@pytest.mark.parametrize(
    "fault",
    [Fault(rewrite=lambda body: {"error": "bad gateway"}), Fault(rewrite=_items(7))],
    ids=["proxy error", "item not an object"],
)
def test_cli_exits_1_and_keeps_the_previous_snapshot(serve, tmp_path, fault):
    served = serve(k3s_longhorn_fleet())
    out = tmp_path / "snapshot.json"
    assert runner.invoke(app, _args(served, "--out", str(out))).exit_code == 0
    previous = out.read_bytes()
    served.cluster.faults[PODS] = fault
    result = runner.invoke(app, _args(served, "--out", str(out)))
    assert result.exit_code == 1
    assert "malformed answer to list pods (core/v1)" in result.output and "nothing written" in result.output
    assert out.read_bytes() == previous


def test_watch_survives_malformed_answers(serve, tmp_path):
    cluster = k3s_longhorn_fleet()
    cluster.faults[PODS] = Fault(rewrite=_items(None, 3), times=1)
    cluster.faults["/api/v1/nodes"] = Fault(rewrite=lambda body: {"error": "bad gateway"}, times=1)
    served = serve(cluster)
    out = tmp_path / "snap.json"
    result = runner.invoke(app, _args(served, "--out", str(out), "--watch", "--interval", "0.01", "--iterations", "3"))
    assert result.exit_code == 0, result.output
    assert "collection failed (1 in a row)" in result.output
    assert "collection failed (2 in a row)" in result.output
    assert "malformed answer to list nodes (core/v1)" in result.output
    assert "malformed answer to list pods (core/v1): items[0] is a JSON null" in result.output
    assert Snapshot.model_validate_json(out.read_text()).load.pods == 13


def test_server_text_is_never_read_as_markup(serve, tmp_path):
    """A message quoted from the server that looks like rich markup ("[/]") is printed as it is, in both modes."""
    cluster = k3s_longhorn_fleet()
    message = "proxy [/] said [bold]no[/bold]"
    cluster.faults["/api/v1/nodes"] = Fault(rewrite=lambda body: {"kind": "Status", "message": message}, times=2)
    served = serve(cluster)
    out = tmp_path / "snap.json"
    once = runner.invoke(app, _args(served, "--out", str(out)))
    assert once.exit_code == 1 and message in once.output
    watched = runner.invoke(app, _args(served, "--out", str(out), "--watch", "--interval", "0.01", "--iterations", "2"))
    assert watched.exit_code == 0, watched.output
    assert message in watched.output


def _allocatable(**values):
    def rewrite(body):
        items = [
            {**node, "status": {**node["status"], "allocatable": {**node["status"]["allocatable"], **values}}}
            for node in body["items"]
        ]
        return {**body, "items": items}

    return rewrite


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"pods": "1E300000"}, "exponent must be within ±30"),
        ({"memory": "1e1000000"}, "exponent must be within ±30"),
        ({"pods": "1" * 5000}, "at most 64 characters"),
        ({"memory": "NaN"}, "not a Kubernetes quantity"),
    ],
    ids=["pods exponent", "memory exponent", "pods length", "memory NaN"],
)
def test_node_quantities_are_bounded_before_they_are_parsed(serve, values, says):
    # Parsed unbounded, "1E300000" pods took seconds and "1e1000000" bytes minutes; now the cycle fails at once.
    cluster = k3s_longhorn_fleet()
    cluster.faults["/api/v1/nodes"] = Fault(rewrite=_allocatable(**values))
    with pytest.raises(CollectError, match=rf"node \S+: bad status.allocatable: .*{says}"):
        serve(cluster).collect()
