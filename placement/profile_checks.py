"""What a limits profile's figures may be: limits are positive, nothing is negative, and a node's max-pods fits
its pod range. ``LimitsProfile`` runs these on every profile it builds, a what-if's overrides included, so an
absurd figure is refused when it is read rather than found out at the end of a run.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

# Figures that are limits or sizes a fleet cannot have zero of: a zero or negative one is an error, not a what-if.
# Every other figure (an overhead, an object count, a price) may be zero but not negative.
POSITIVE = frozenset(
    {
        "max_nodes",
        "max_pods_cluster",
        "max_namespaces",
        "max_services_cluster",
        "max_pods_per_node",
        "max_etcd_objects",
        "etcd_quota_bytes",
        "node_cidr_mask_size",
        "cluster_cidr_mask_size",
        "ram_bytes",
        "max_volumes",
        "min_nodes",
        "replicas",
        "price_multiplier",
    }
)
# An IPv4 node pod range: a /32 holds no pod, a /8 is as large as kube-controller-manager's cluster CIDRs go.
MASK_RANGE = (8, 30)


def figure_problem(path: str, value: float, unit: str) -> str | None:
    """Why the figure at ``path`` cannot have ``value``, or None."""
    name = path.rsplit(".", 1)[-1]
    if name in POSITIVE and value <= 0:
        return f"{value:g} {unit}: a limit must be positive"
    if value < 0:
        return f"{value:g} {unit}: cannot be negative"
    if name == "node_cidr_mask_size" and not MASK_RANGE[0] <= value <= MASK_RANGE[1]:
        return f"/{value:g}: an IPv4 node pod range between /{MASK_RANGE[0]} and /{MASK_RANGE[1]}"
    if name == "cluster_cidr_mask_size" and not 1 <= value <= MASK_RANGE[1]:
        return f"/{value:g}: an IPv4 cluster pod range between /1 and /{MASK_RANGE[1]}"
    return None


def pod_addresses(mask_size: float) -> int:
    """Pod IPs in a node's /``mask_size`` range: all addresses but the network and broadcast ones."""
    return 2 ** (32 - round(mask_size)) - 2


# kube-controller-manager's node IPAM (pkg/controller/nodeipam/ipam/cidrset, clusterSubnetMaxDiff) splits the
# cluster CIDR into at most 2^16 node ranges: the node mask may be at most 16 bits longer than the cluster's.
MAX_MASK_DIFFERENCE = 16


def cluster_cidr_problems(cluster_mask: float, node_mask: float) -> list[tuple[tuple[Any, ...], str, Any]]:
    """A cluster pod range that cannot be split into node ranges, as (location, message, value)."""
    loc = ("kubernetes", "cluster_cidr_mask_size", "value")
    if cluster_mask > node_mask:
        return [
            (
                loc,
                f"the cluster pod range /{cluster_mask:g} is smaller than one node's /{node_mask:g} "
                "(kubernetes.node_cidr_mask_size): no node would get a pod range; k3s --cluster-cidr must be "
                "larger than each node's range",
                cluster_mask,
            )
        ]
    if node_mask - cluster_mask > MAX_MASK_DIFFERENCE:
        return [
            (
                loc,
                f"/{cluster_mask:g} split into /{node_mask:g} node ranges is more than kube-controller-manager's "
                f"{MAX_MASK_DIFFERENCE}-bit difference (2^{MAX_MASK_DIFFERENCE} node ranges); use a cluster mask "
                f"of {node_mask - MAX_MASK_DIFFERENCE:g} or more",
                cluster_mask,
            )
        ]
    return []


def node_pod_problems(
    mask: float, default_max_pods: int, type_max_pods: list[int | None]
) -> list[tuple[tuple[Any, ...], str, Any]]:
    """Max-pods settings (the kubelet default and each run node type's, in order) above what a node's /``mask`` pod
    range holds, as (location, message, value)."""
    addresses = pod_addresses(mask)
    wanted = [(("kubernetes", "max_pods_per_node", "value"), default_max_pods)]
    wanted += [
        (("costs", "run_node_types", i, "max_pods"), max_pods)
        for i, max_pods in enumerate(type_max_pods)
        if max_pods is not None
    ]
    problems = []
    for loc, max_pods in wanted:
        if max_pods > addresses:
            larger = next(m for m in range(round(mask), 7, -1) if pod_addresses(m) >= max_pods)
            problems.append(
                (
                    loc,
                    f"max-pods {max_pods} exceeds the {addresses} pod addresses of a node's /{mask:g} pod range "
                    f"(kubernetes.node_cidr_mask_size); set node_cidr_mask_size to {larger} or less "
                    f"(k3s: --kube-controller-manager-arg=node-cidr-mask-size-ipv4={larger}, and a cluster-cidr "
                    "large enough for every node's range)",
                    max_pods,
                )
            )
    return problems


def field_errors(problems: list[tuple[tuple[Any, ...], str, Any]]) -> ValidationError:
    """One validation error naming every (location, message, value), so a profile's problems are told at once."""
    details = [
        InitErrorDetails(type=PydanticCustomError("invalid", message), loc=loc, input=value)
        for loc, message, value in problems
    ]
    return ValidationError.from_exception_data("LimitsProfile", details)
