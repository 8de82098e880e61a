"""The API's answers, shaped from what the store returns: placements (first answer and replays alike, from the
ledger's ``PlacedService``), services and decisions. The store keeps facts; how they read over HTTP is here."""

from __future__ import annotations

from typing import Any

from placement.engine import Decision
from placement.router.reservation import PlacedService
from placement.state import RequestIn, volume_block

NO_CUSTOMER_WARNING = "no customer_id: the customer's volume quota was not checked"


def placement_answer(placed: PlacedService) -> dict[str, Any]:
    """``PlacementOut``: the design document's tool response (its ``volume`` block is the first volume)."""
    blocks = [
        volume_block(
            volume.size_bytes,
            volume.mount_path,
            placed.node,
            volume.replicas,
            "replicated" if volume.replicas > 1 else "single-copy",
        )
        for volume in placed.volumes
    ]
    return {
        "request_id": placed.request_id,
        "service_id": placed.service_id,
        "cluster_id": placed.cluster_id,
        "task_queue": placed.task_queue,
        "node": placed.node,
        "volume": blocks[0] if blocks else None,
        "volumes": blocks,
        "reason": placed.reason,
        "warnings": list(placed.warnings),
    }


def decision_body(decision: Decision, request: RequestIn) -> dict[str, Any]:
    """The decision as ``DecisionOut``: the engine's explanation plus whether the customer's quota was checked."""
    body = decision.to_dict()
    body["customer_quota_checked"] = request.customer_quota_checked
    if not request.customer_quota_checked:
        body["warnings"].append(NO_CUSTOMER_WARNING)
    return body
