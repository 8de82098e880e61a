"""A pod's memory request as kube-scheduler counts it against a node, in-place resize included.

kube-scheduler's NodeResourcesFit sums, per node, ``PodRequests(pod, {UseStatusResources: <InPlacePodVerticalScaling
gate>})`` (``calculateResource`` in pkg/scheduler/framework/types.go); the gate is beta and on by default from
Kubernetes 1.33. ``PodRequests`` and ``AggregateContainerRequests`` live in
staging/src/k8s.io/component-helpers/resource/helpers.go (formerly pkg/api/v1/resource/helpers.go); this module
follows their release-1.33 form:

* a container's request is its spec's (desired), except that when its container status has ``resources``, a
  regular container or a sidecar counts the largest of desired, actual (``status.containerStatuses[].resources
  .requests``) and allocated (``status.containerStatuses[].allocatedResources``), leaving desired out when the
  resize is Infeasible (``determineContainerReqs``);
* regular containers add up; a sidecar (an init container with ``restartPolicy: Always``) adds to them and to
  every later init container; the pod needs the larger of that sum and its largest init container;
* pod-level ``spec.resources.requests`` replace the container sum when set; ``spec.overhead`` is added.

Later releases sum desired, allocated and actual separately and take the largest sum (kubernetes/kubernetes#140046,
"Deferred resizes can overestimate request footprint"); for a pod whose containers resize in opposite directions
they count less than the 1.33 rule kept here, which errs on the side of a full node.
"""

from __future__ import annotations

from typing import Any

from placement.units import to_bytes

RESIZE_PENDING = "PodResizePending"
INFEASIBLE = "Infeasible"


def pod_memory_request(pod: dict[str, Any]) -> int:
    """A pod's memory request in bytes, as kube-scheduler 1.33+ counts it on the pod's node.

    Raises ValueError on a malformed quantity, and AttributeError or TypeError on fields of the wrong type.
    """
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    statuses = _container_statuses(status)
    infeasible = resize_infeasible(status)

    def request(container: dict[str, Any], resizable: bool) -> int:
        desired = _memory_request(container.get("resources"))
        container_status = statuses.get(container.get("name")) if resizable else None
        if container_status is None or container_status.get("resources") is None:
            return desired or 0
        actual = _memory_request(container_status.get("resources"))
        allocated = _quantity((container_status.get("allocatedResources") or {}).get("memory"))
        candidates = (actual, allocated) if infeasible else (desired, actual, allocated)
        return max((c for c in candidates if c is not None), default=0)

    total = sum(request(c, resizable=True) for c in spec.get("containers") or ())
    sidecars = 0
    init_peak = 0
    for container in spec.get("initContainers") or ():
        sidecar = container.get("restartPolicy") == "Always"
        need = request(container, resizable=sidecar)
        if sidecar:
            total += need
            sidecars += need
            need = sidecars
        else:
            need += sidecars
        init_peak = max(init_peak, need)
    total = max(total, init_peak)
    pod_level = _memory_request(spec.get("resources"))
    if pod_level is not None:
        total = pod_level
    overhead = _quantity((spec.get("overhead") or {}).get("memory"))
    if overhead is not None:
        total += overhead
    return total


def resize_infeasible(status: dict[str, Any]) -> bool:
    """Whether the kubelet has refused the pod's pending resize as one that can never fit its node."""
    for condition in status.get("conditions") or ():
        if condition.get("type") == RESIZE_PENDING:
            return condition.get("reason") == INFEASIBLE
    return status.get("resize") == INFEASIBLE  # 1.27-1.32 reported it in status.resize


def _container_statuses(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for key in ("containerStatuses", "initContainerStatuses"):
        for container_status in status.get(key) or ():
            found[container_status.get("name")] = container_status
    return found


def _memory_request(resources: dict[str, Any] | None) -> int | None:
    return _quantity(((resources or {}).get("requests") or {}).get("memory"))


def _quantity(quantity: Any) -> int | None:
    return None if quantity is None else to_bytes(quantity)
