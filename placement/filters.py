"""The filters one at a time, for explanations and tests: each returns its ``Rejection`` (None: it passes).

The rules live in ``placement.pipeline`` (the gates) and ``placement.catalogue`` (the limits); these views run
them on one cluster without stopping at the first rejection, so each filter can be read on its own. They run
in ``FILTER_NAMES`` order in the engine, and the first rejection stops a cluster, as in kube-scheduler.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from placement.catalogue import Rejection
from placement.cycle import Cycle
from placement.model import Cluster, ClusterLoad
from placement.pipeline import explain
from placement.rules import FILTER_NAMES

FilterView = Callable[[Cycle, Cluster, ClusterLoad], Rejection | None]


def check(name: str, cycle: Cycle, cluster: Cluster, load: ClusterLoad) -> Rejection | None:
    """Filter ``name`` on one cluster."""
    return explain(cycle, cluster, load)[0][name]


FILTERS: tuple[tuple[str, FilterView], ...] = tuple((name, partial(check, name)) for name in FILTER_NAMES)
status, snapshot_age, region, volume_limit, control_plane, kubernetes_thresholds, ram_fit, pods_per_node, disk_fit = (
    view for _, view in FILTERS
)
