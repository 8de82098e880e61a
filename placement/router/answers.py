"""The API's answers, shaped from what the store returns: placements (first answer and replays alike, from the
ledger's ``PlacedService``), services and decisions. The store keeps facts; how they read over HTTP is here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pydantic_core
from starlette.responses import Response

from placement.engine import Decision
from placement.model import PlacementRequest
from placement.policy import Policy
from placement.router.cache import Fleet
from placement.router.ledger import PlacedService, where_json, with_where
from placement.state import RequestIn, volume_block

NO_CUSTOMER_WARNING = "no customer_id: the customer's volume quota was not checked"


class JSONBody(Response):
    """An answer already serialised as JSON, with the two headers Starlette's ``Response`` would give it
    (``content-length``, then ``content-type``) made directly: its ``__init__`` renders and looks for headers in
    Python at every answer of the router's hottest routes. For the statuses that have a body (not 1xx, 204, 304)."""

    media_type = "application/json"

    def __init__(self, body: bytes, status_code: int = 200) -> None:
        self.status_code = status_code
        self.background = None
        self.body = body
        self.raw_headers = [(b"content-length", b"%d" % len(body)), (b"content-type", b"application/json")]


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


def _answer_where(placed: PlacedService) -> dict[str, Any]:
    """``placement_answer``'s members between the service id and the reason."""
    answer = placement_answer(placed)
    return {name: answer[name] for name in ("cluster_id", "task_queue", "node", "volume", "volumes")}


_ANSWER_WHERES: dict[tuple, str] = {}


def placement_answer_json(placed: PlacedService) -> bytes:
    """``pydantic_core.to_json(placement_answer(placed))``, byte for byte, with the members that depend on the
    cluster, node and volumes alone (its volume blocks, their sizes written as quantities) kept per those: the whole
    answer built and serialised cost ~25,000 instructions a placement (callgrind)."""
    return with_where(placed, where_json(_ANSWER_WHERES, placed, _answer_where))


def decision_body(decision: Decision, request: RequestIn) -> dict[str, Any]:
    """The decision as ``DecisionOut``: the engine's explanation plus whether the customer's quota was checked."""
    body = decision.to_dict()
    body["customer_quota_checked"] = request.customer_quota_checked
    if not request.customer_quota_checked:
        body["warnings"].append(NO_CUSTOMER_WARNING)
    return body


@dataclass(frozen=True, slots=True)
class _Answer:
    decision: Decision
    decided_at: datetime
    valid_until: datetime | None  # None: for as long as the fleet version lasts
    body: bytes | None  # the 200 answer's JSON (None when nothing fits: the 409 is built when raised)


class DecisionAnswers:
    """select-cluster's answers per cached fleet version and engine request, so a repeated dry run on an
    unchanged fleet costs a lookup rather than a decision and its full explanation.

    A decision depends on the request, the fleet, the policy and, through the snapshot-age rule, on ``now``:
    an answer is kept only until the first snapshot of the fleet turns stale (``age > max_age``), and not at
    all under ``stale_snapshot.action: allow`` while a warning quotes an age that grows with ``now``. Runs on
    the event loop only (no locking). Only the newest fleet version's answers are kept.
    """

    def __init__(self, policy: Policy, max_entries: int = 1024):
        self.policy = policy
        self.max_entries = max_entries
        self._version: int | None = None
        self._answers: dict[tuple[PlacementRequest, bool], _Answer] = {}

    def get(self, version: int, model: PlacementRequest, request: RequestIn, now: datetime) -> _Answer | None:
        if version != self._version:
            return None
        answer = self._answers.get((model, request.customer_quota_checked))
        if answer is None or now < answer.decided_at or (answer.valid_until is not None and now >= answer.valid_until):
            return None
        return answer

    def put(
        self, version: int, model: PlacementRequest, request: RequestIn, now: datetime, decision: Decision, fleet: Fleet
    ) -> _Answer:
        body = pydantic_core.to_json(decision_body(decision, request)) if decision.placed else None
        answer = _Answer(decision, now, self._valid_until(fleet, now), body)
        if answer.valid_until is not None and answer.valid_until <= now:
            return answer
        if version != self._version or len(self._answers) >= self.max_entries:
            self._version, self._answers = version, {}
        self._answers[(model, request.customer_quota_checked)] = answer
        return answer

    def _valid_until(self, fleet: Fleet, now: datetime) -> datetime | None:
        max_age = self.policy.max_snapshot_age_seconds
        if max_age is None:
            return None
        turns_stale = [load.observed_at + timedelta(seconds=max_age) for _, load in fleet if load.observed_at]
        if self.policy.stale_action == "allow" and any(at < now for at in turns_stale):
            return now  # its warning quotes the snapshot's age, which changes with now
        return min((at for at in turns_stale if at >= now), default=None)
