"""What the router's store refuses, as exceptions the API layer turns into answers (404, 409, 410, 422, 503)."""

from __future__ import annotations

from datetime import datetime

from placement.engine import Decision
from placement.state import RequestIn


class UnknownCluster(LookupError):
    """No cluster with this id."""


class ClusterExists(ValueError):
    """A cluster with this id or task queue exists already."""


class UnknownStorageProvider(ValueError):
    """A cluster names a storage provider the router's limits profile does not have."""


class SnapshotFromTheFuture(ValueError):
    """A load snapshot dated further ahead of the router's clock than the allowed clock skew."""


class UnknownPlacement(LookupError):
    """No placement with this service id."""


class ServiceReleased(LookupError):
    """The service was placed here once, and its placement has been released."""

    def __init__(self, service_id: str, released_at: datetime):
        super().__init__(service_id)
        self.service_id = service_id
        self.released_at = released_at


class TaskQueueInUse(ValueError):
    """A cluster's task queue cannot change while services live on it, nor become another cluster's."""


class NothingFits(Exception):
    """The engine found no cluster (or a quota refused the request) for ``request``. ``decision`` explains why."""

    def __init__(self, decision: Decision, request: RequestIn):
        super().__init__(decision.reason)
        self.decision = decision
        self.request = request


class Contention(RuntimeError):
    """Reservations kept losing their guards; the caller may retry with the same request id."""


class RequestIdReused(ValueError):
    """The request id was used before with a different body."""


class PlacementReleased(LookupError):
    """The request id's placement was released: replaying its answer would promise room nobody holds."""

    def __init__(self, request_id: str, service_id: str, released_at: datetime):
        super().__init__(
            f"the placement of request_id {request_id!r} (service_id {service_id!r}) was released at "
            f"{released_at.isoformat()}; place again with a new request_id"
        )
        self.service_id = service_id
        self.released_at = released_at


class ServiceIdTaken(ValueError):
    """A client-chosen service id belongs to an active placement."""

    def __init__(self, service_id: str):
        super().__init__(f"service_id {service_id!r} belongs to an active placement; release it first")
        self.service_id = service_id
