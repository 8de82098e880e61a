"""What a placement is asked for and what the ledger keeps of it: the order, and the facts of what was placed.

The ledger row's ``response`` column holds a ``PlacedService`` as JSON (``PLACED``), not an HTTP answer: the API
shapes the first answer and every replay from it (``placement.router.answers``). The records are made at every
placement: plain slotted dataclasses that nothing assigns to once made, not frozen ones (``placement.router.cache``
says why).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from pydantic import TypeAdapter

from placement.engine import Decision
from placement.state import RequestIn

# ``json.dumps(body, sort_keys=True)``'s text (the hash of every ledger row so far), from one encoder made once:
# ``json.dumps`` with an argument makes a new encoder at every call. The same text without the check for circular
# references (a body of a request's plain values has none), which kept an id per container in a dict: ~40 % of the
# encoding's instructions.
_CANONICAL = json.JSONEncoder(sort_keys=True, check_circular=False)


@dataclass(slots=True)
class PlacementOrder:
    """What ``POST /v1/placements`` asks for: the engine request plus the service's identity."""

    request_id: str
    service_name: str
    request: RequestIn
    repo: str | None = None
    service_id: str | None = None

    def body_hash(self) -> str:
        request = self.request.model_dump(mode="json")
        if request.get("has_volume") is None:
            # Absent, the body hashes as it did before has_volume existed, so a retry across an upgrade replays.
            request.pop("has_volume", None)
        body = {
            "service_name": self.service_name,
            "repo": self.repo,
            "service_id": self.service_id,
            "request": request,
        }
        return hashlib.sha256(_CANONICAL.encode(body).encode()).hexdigest()


@dataclass(slots=True)
class PlacedVolume:
    mount_path: str
    size_bytes: int
    replicas: int  # the storage provider's copies of it


@dataclass(slots=True)
class PlacedService:
    """What a placement reserved, as the ledger keeps it: where the service goes and why."""

    request_id: str
    service_id: str
    cluster_id: str
    task_queue: str
    node: str | None
    volumes: tuple[PlacedVolume, ...]
    reason: str
    warnings: tuple[str, ...]


PLACED = TypeAdapter(PlacedService)


@dataclass(slots=True)
class Placement:
    placed: PlacedService
    replayed: bool
    decision: Decision | None  # None when replayed
