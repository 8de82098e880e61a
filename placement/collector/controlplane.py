"""Which control-plane node type a cluster's object count is held against.

Every etcd member stores all of the cluster's objects, and every API server caches them all in its watch cache, so
the control plane is only as large as its smallest member: during an upgrade from CX32 to CX52 (CX52 + CX32 + CX32)
the cluster must still fit a CX32. The members are the nodes labelled as control plane (``control-plane``, or the
legacy ``master``) or as etcd members (k3s labels ``etcd`` too, and an etcd-only server has only that label).

A member's type is its ``node.kubernetes.io/instance-type`` label (Hetzner's cloud controller writes ``cx52``),
matched without regard to case against the limits profile's control-plane types. A label that names no known type
(k3s writes ``k3s`` when no cloud controller runs) or no label at all falls back to ``--ctrl-node-type``, with a
warning; without that option such a member is an error, because any guess could overstate the control plane.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from placement.collector.errors import CollectError
from placement.limits import Limits

CONTROL_PLANE_LABELS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
ETCD_LABEL = "node-role.kubernetes.io/etcd"
MEMBER_LABELS = (*CONTROL_PLANE_LABELS, ETCD_LABEL)
INSTANCE_TYPE_LABELS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")


@dataclass(frozen=True, slots=True)
class ControlPlane:
    node_type: str  # the type the cluster's objects are held against
    node: str | None  # the member of that type (the first by name among equals); None when no node is a member
    members: dict[str, str] = field(default_factory=dict)  # every member and the type it counts as
    warnings: tuple[str, ...] = ()


def known_type(name: str, limits: Limits) -> str | None:
    """The profile's spelling of a control-plane type named in any case, or None."""
    wanted = name.strip().upper()
    return next((known for known in limits.control_plane_types if known.upper() == wanted), None)


def resolve(members: dict[str, str | None], limits: Limits, fallback: str | None) -> ControlPlane:
    """Pick the control plane's type from its members' instance-type labels (``None``: no label).

    ``fallback`` (``--ctrl-node-type``) must be a type of the profile; it stands in for members whose label names
    none. Raises ``CollectError`` when a member's type is unknown and there is no fallback.
    """
    known = sorted(limits.control_plane_types)
    types: dict[str, str] = {}
    warnings: list[str] = []
    unknown: list[str] = []
    for node, label in sorted(members.items()):
        name = known_type(label, limits) if label else None
        if name is not None:
            types[node] = name
            continue
        why = (
            f"control-plane node {node} has {INSTANCE_TYPE_LABELS[0]}={label!r}, which names no control-plane type "
            f"of limits profile {limits.profile} ({', '.join(known)})"
            if label
            else f"control-plane node {node} has no {INSTANCE_TYPE_LABELS[0]} label"
        )
        if fallback is None:
            unknown.append(why)
            continue
        warnings.append(f"{why}; counted as --ctrl-node-type {fallback}")
        types[node] = fallback
    if unknown:
        raise CollectError(f"control-plane node type unknown: {'; '.join(unknown)}; pass --ctrl-node-type")
    if not types:
        if fallback is None:
            raise CollectError(
                f"control-plane node type unknown: no node labelled {' or '.join(MEMBER_LABELS)}; pass --ctrl-node-type"
            )
        return ControlPlane(fallback, None, {}, tuple(warnings))
    smallest = min(types, key=lambda node: (limits.control_plane_types[types[node]].tight_objects, node))
    if len(set(types.values())) > 1:
        mix = ", ".join(f"{node} {kind}" for node, kind in types.items())
        warnings.append(
            f"control-plane members of different types ({mix}), as during an upgrade: objects are held against the "
            f"smallest, {types[smallest]} on {smallest}"
        )
    return ControlPlane(types[smallest], smallest, types, tuple(warnings))
