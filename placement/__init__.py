"""capplan's placement engine: one pure ``select_cluster`` shared by the live router and the simulator."""

from placement.engine import ClusterResult, Decision, check_quotas, select_cluster
from placement.limits import Limits, LimitsProfile, load_profile, shipped_limits
from placement.model import Cluster, ClusterLoad, PlacementRequest, RunNode, VolumeRequest
from placement.policy import Policy, PolicyConfig, default_policy, load_policy
from placement.state import load_state

__all__ = [
    "Cluster",
    "ClusterLoad",
    "ClusterResult",
    "Decision",
    "Limits",
    "LimitsProfile",
    "PlacementRequest",
    "Policy",
    "PolicyConfig",
    "RunNode",
    "VolumeRequest",
    "check_quotas",
    "default_policy",
    "load_policy",
    "load_profile",
    "load_state",
    "select_cluster",
    "shipped_limits",
]
