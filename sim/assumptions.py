"""Every limit, price and operator setting a run used, with its value, unit, source and range, and whether a what-if
or the scenario overrode it: the report's assumptions table, kept in ``summary.json`` as ``assumptions``."""

from __future__ import annotations

from typing import Any

from placement.limits import PROFILE_NAMES, load_profile
from placement.yamlio import ConfigError
from sim.config import RunConfig

OPERATOR_SETTINGS = (
    ("operator.node_order_at_ram_fraction", "ratio", "order run nodes when RAM requested reaches this share"),
    ("operator.node_order_at_pods_fraction", "ratio", "order run nodes when pods reach this share of the node limit"),
    ("operator.node_lead_days", "days", "run-node lead time"),
    ("operator.max_run_nodes_per_cluster", "nodes", "most run nodes per cluster"),
    ("operator.control_plane.upgrade_at_fraction", "ratio", "upgrade the control plane at this share"),
    ("operator.control_plane.lead_days", "days", "control-plane upgrade lead time"),
    ("operator.shard.prepare_fraction", "ratio", "order a successor cluster at this share of a shard trigger"),
    ("operator.shard.close_fraction", "ratio", "close a cluster to new customers at this share"),
    ("operator.shard.lead_days", "days", "new-cluster lead time"),
    ("operator.shard.nodes", "nodes", "shard trigger: run nodes per cluster"),
    ("operator.shard.pods", "pods", "shard trigger: pods per cluster"),
    ("operator.scale_down.enabled", "switch", "remove run nodes the cluster no longer needs"),
    ("operator.scale_down.utilization_threshold", "ratio", "a run node under this binding share may be removed"),
    ("operator.scale_down.unneeded_days", "days", "days a cluster's surplus lasts before a node is removed"),
    ("operator.scale_down.delay_after_add_days", "days", "no removal this soon after a node arrived"),
    ("operator.scale_down.decommission_empty", "switch", "shut down closed clusters with no customer left"),
    ("operator.n_plus.nodes", "nodes", "failure headroom: run nodes a cluster may lose without rejecting pods"),
    ("operator.spill.enabled", "switch", "an existing customer's service may go to another cluster of its region"),
    ("operator.migration.enabled", "switch", "migrate the last customers of a nearly empty closed cluster"),
    ("costs.backup_used_fraction", "ratio", "share of volume bytes backed up to object storage"),
)


def _lookup(model: Any, path: str) -> Any:
    for part in path.split("."):
        model = getattr(model, part)
    return model


def _row(name, value, unit, source, low=None, high=None, overridden=False, was=None, kind="limit") -> dict[str, Any]:
    return {
        "kind": kind,
        "name": name,
        "value": value,
        "unit": unit,
        "source": source,
        "low": low,
        "high": high,
        "overridden": overridden,
        "was": was,
    }


def assumptions(config: RunConfig, overrides: list[dict] | None = None) -> list[dict[str, Any]]:
    """One row per figure of the limits profile, control-plane rung and run-node type used, and operator setting."""
    scenario, profile = config.scenario, config.profile
    set_paths = {o["path"]: o for o in overrides or []}
    try:
        base = load_profile(profile.name if profile.name in PROFILE_NAMES else scenario.limits_profile)
    except (ConfigError, OSError, KeyError):  # a profile file gone since: compare with the used profile itself
        base = profile
    changed = dict(scenario.limits_overrides)
    rows = []
    for path in profile.figure_paths():
        figure = profile.figure(path)
        try:
            original = base.figure(path).value
        except KeyError:
            original = figure.value
        overridden = path in changed or f"limits_overrides.{path}" in set_paths or original != figure.value
        rows.append(
            _row(path, figure.value, figure.unit, figure.source, figure.low, figure.high, overridden,
                 original if overridden else None)
        )  # fmt: skip
    multiplier = profile.costs.price_multiplier.value
    for rung, name in enumerate(config.ladder):
        ctrl = config.limits.control_plane(name)
        rows.append(
            _row(f"control plane rung {rung}: {name}", ctrl.eur_month * multiplier, "EUR/month",
                 f"{ctrl.comfortable_objects:,} comfortable / {ctrl.tight_objects:,} tight etcd objects; "
                 f"{_source_of_ctrl(profile, name)}", kind="price")
        )  # fmt: skip
    node_type = scenario.operator.run_node_type or profile.costs.default_run_node_type
    for node in profile.costs.run_node_types:
        if node.name == node_type:
            rows.append(_row(f"run node {node.name}: monthly", node.eur_month * multiplier, "EUR/month", node.source,
                             kind="price"))  # fmt: skip
            rows.append(_row(f"run node {node.name}: setup fee", node.setup_eur * multiplier, "EUR", node.source,
                             kind="price"))  # fmt: skip
            # The type's own max-pods wins over the kubelet default: the report's pods-per-node line reads this row.
            own = node.max_pods is not None
            rows.append(_row(f"run node {node.name}: max pods", config.limits.run_node_max_pods(node.name), "pods",
                             node.source if own else "kubernetes.max_pods_per_node (the type sets none)",
                             kind="limit"))  # fmt: skip
    for path, unit, meaning in OPERATOR_SETTINGS:
        value = _lookup(scenario, path)
        if value is None:
            continue
        record = set_paths.get(path)
        rows.append(
            _row(path, value, unit, f"scenario: {meaning}", overridden=record is not None,
                 was=None if record is None else record["was"], kind="setting")
        )  # fmt: skip
    return rows


def _source_of_ctrl(profile, name: str) -> str:
    for ctrl in profile.control_plane_types:
        if ctrl.name == name:
            return ctrl.source
    return "limits profile"
