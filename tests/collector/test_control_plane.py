"""The control plane's type: known types from --profile, k3s's own label, and a control plane mid-upgrade."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from placement.cli import app
from placement.collector import controlplane
from placement.collector.errors import CollectError
from placement.collector.snapshot import Snapshot, default_limits
from placement.limits import load_profile
from support.kube_fleets import k3s_longhorn_fleet
from support.kube_objects import k3s_server, node, with_control_plane

runner = CliRunner()
SEED = default_limits("seed")


def test_k3s_instance_type_label_is_not_a_node_type(serve):
    """k3s labels its servers instance-type=k3s; that must not become ctrl_node_type 'K3S'."""
    served = serve(with_control_plane(k3s_longhorn_fleet(), k3s_server("k3s-ctrl-1", "k3s")))
    with pytest.raises(
        CollectError,
        match=r"control-plane node type unknown: control-plane node k3s-ctrl-1 has "
        r"node.kubernetes.io/instance-type='k3s', which names no control-plane type of limits profile seed "
        r"\(AX162-R, CX32, CX52\); pass --ctrl-node-type",
    ):
        served.collect()
    snapshot = served.collect(ctrl_node_type="cx32")
    assert snapshot.load.ctrl_node_type == "CX32"
    assert snapshot.inventory.control_plane_nodes == {"k3s-ctrl-1": "CX32"}
    assert snapshot.inventory.warnings == [
        "control-plane node k3s-ctrl-1 has node.kubernetes.io/instance-type='k3s', which names no control-plane "
        "type of limits profile seed (AX162-R, CX32, CX52); counted as --ctrl-node-type CX32"
    ]


def test_a_known_label_wins_over_the_flag(serve):
    snapshot = serve(k3s_longhorn_fleet()).collect(ctrl_node_type="CX32")
    assert snapshot.load.ctrl_node_type == "CX52"
    assert snapshot.inventory.warnings == []


@pytest.mark.parametrize(
    "servers",
    [
        ("cx52", "cx32", "cx32"),
        ("cx32", "cx52", "cx52"),
        ("cx32", "cx32", "cx52"),
    ],
    ids=["upgrade started", "upgrade almost done", "smallest named last"],
)
def test_mid_upgrade_control_plane_counts_its_smallest_member(serve, servers):
    """Every etcd member holds all objects: CX52 + CX32 + CX32 is a CX32 control plane, whatever the names."""
    cluster = with_control_plane(
        k3s_longhorn_fleet(), *(k3s_server(f"k3s-ctrl-{i}", kind) for i, kind in enumerate(servers, 1))
    )
    snapshot = serve(cluster).collect()
    first_cx32 = f"k3s-ctrl-{servers.index('cx32') + 1}"
    assert snapshot.load.ctrl_node_type == "CX32"
    assert snapshot.inventory.control_plane_node == first_cx32
    assert snapshot.inventory.control_plane_nodes == {
        f"k3s-ctrl-{i}": kind.upper() for i, kind in enumerate(servers, 1)
    }
    [warning] = snapshot.inventory.warnings
    assert f"objects are held against the smallest, CX32 on {first_cx32}" in warning


def test_an_etcd_only_member_counts(serve):
    """k3s can run etcd-only servers (labelled etcd, not control-plane); they hold every object too."""
    etcd_only = node(
        "k3s-etcd-1", labels={"node-role.kubernetes.io/etcd": "true", "node.kubernetes.io/instance-type": "cx32"}
    )
    cluster = with_control_plane(k3s_longhorn_fleet(), k3s_server("k3s-ctrl-1", "cx52"), etcd_only)
    snapshot = serve(cluster).collect()
    assert (snapshot.load.ctrl_node_type, snapshot.inventory.control_plane_node) == ("CX32", "k3s-etcd-1")


def test_a_member_of_unknown_type_falls_back_to_the_flag_and_can_be_the_smallest(serve):
    cluster = with_control_plane(
        k3s_longhorn_fleet(), k3s_server("k3s-ctrl-1", "cx52"), k3s_server("k3s-ctrl-2", "k3s")
    )
    served = serve(cluster)
    with pytest.raises(CollectError, match=r"control-plane node k3s-ctrl-2 has .*'k3s'"):
        served.collect()
    snapshot = served.collect(ctrl_node_type="CX32")
    assert (snapshot.load.ctrl_node_type, snapshot.inventory.control_plane_node) == ("CX32", "k3s-ctrl-2")
    assert len(snapshot.inventory.warnings) == 2  # the fallback, and the mixed types


def test_published_profile_names_other_types(serve, tmp_path):
    """Hetzner's current types (cx33, ...) are in the published profile, not in the seed one."""
    cluster = with_control_plane(k3s_longhorn_fleet(), k3s_server("k3s-ctrl-1", "cx33"))
    served = serve(cluster)
    with pytest.raises(CollectError, match=r"'cx33', which names no control-plane type of limits profile seed"):
        served.collect()
    assert served.collect(limits=default_limits("published")).load.ctrl_node_type == "CX33"
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(load_profile("published").model_dump(by_alias=True, exclude_none=True)))
    assert served.collect(limits=default_limits(str(path))).load.ctrl_node_type == "CX33"


def test_unknown_fallback_type_is_refused(serve):
    with pytest.raises(ValueError, match=r"--ctrl-node-type 'CX99' is not a control-plane type of limits profile"):
        serve(k3s_longhorn_fleet()).collect(ctrl_node_type="CX99")


def _args(served, *extra: str) -> list[str]:
    return ["collect", "--kubeconfig", str(served.kubeconfig), "--cluster-id", "eu-west-1", "--print", *extra]


def test_cli_profile_flag_and_warning(serve):
    served = serve(with_control_plane(k3s_longhorn_fleet(), k3s_server("k3s-ctrl-1", "k3s")))
    refused = runner.invoke(app, _args(served))
    assert refused.exit_code == 1
    assert "'k3s', which names no control-plane type" in refused.output
    result = runner.invoke(app, _args(served, "--profile", "published", "--ctrl-node-type", "cx43"))
    assert result.exit_code == 0, result.output
    assert Snapshot.model_validate_json(result.stdout).load.ctrl_node_type == "CX43"
    assert "warning: control-plane node k3s-ctrl-1 has" in result.stderr
    assert "counted as --ctrl-node-type CX43" in result.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--ctrl-node-type", "CX52", "--profile", "published"], "--ctrl-node-type 'CX52' is not a control-plane type"),
        (["--profile", "nope.yaml"], "--profile nope.yaml"),
    ],
)
def test_cli_bad_profile_or_type_exits_2(serve, extra, message):
    result = runner.invoke(app, _args(serve(k3s_longhorn_fleet()), *extra))
    assert result.exit_code == 2
    assert message in result.output


LABELS = st.sampled_from(["cx32", "CX52", "ax162-r", "k3s", "cx99", None])


@given(st.dictionaries(st.from_regex(r"k3s-ctrl-[1-9]", fullmatch=True), LABELS, min_size=1, max_size=5))
def test_resolve_picks_the_member_with_the_fewest_tight_objects(members):
    resolved = controlplane.resolve(members, SEED, "CX52")
    types = {
        node: controlplane.known_type(label, SEED) if label and controlplane.known_type(label, SEED) else "CX52"
        for node, label in members.items()
    }
    assert resolved.members == types
    tight = {node: SEED.control_plane_types[kind].tight_objects for node, kind in types.items()}
    assert resolved.node == min(tight, key=lambda node: (tight[node], node))
    assert resolved.node_type == types[resolved.node]
    fallbacks = sum(1 for label in members.values() if not (label and controlplane.known_type(label, SEED)))
    assert sum("counted as --ctrl-node-type" in w for w in resolved.warnings) == fallbacks
