"""What a placement is asked for and what the ledger keeps of it: the order, and the facts of what was placed.

The ledger row's ``response`` column holds a ``PlacedService`` as JSON (``PLACED``), not an HTTP answer: the API
shapes the first answer and every replay from it (``placement.router.answers``). The records are made at every
placement: plain slotted dataclasses that nothing assigns to once made, not frozen ones (``placement.router.cache``
says why).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from json.encoder import encode_basestring, encode_basestring_ascii

import pydantic_core
from pydantic import TypeAdapter

from placement.engine import Decision
from placement.state import RequestIn, VolumeIn

# A request id's body hash is the SHA-256 of ``json.dumps(body, sort_keys=True)`` (every ledger row's so far: a retry
# across an upgrade must replay), ``body`` being the order's service name, repo, service id and request
# (``RequestIn.model_dump(mode="json")``, without ``has_volume`` when it is None). ``_canonical`` writes that text
# directly: the keys in sorted order, each value as ``json.dumps`` writes it (strings through its own C escaper,
# ``encode_basestring_ascii``), where ``model_dump`` and the encoder (a list of items sorted per dict, a string
# joined per value) cost ~80,000 instructions a placement (callgrind). The fields are checked here at import, so a
# field added to the request fails loudly rather than hashing without it; tests/router/test_product_api.py checks
# the text against ``json.dumps`` for any request.
_REQUEST_FIELDS = (
    "customer_id",
    "customer_volume_count",
    "etcd_objects",
    "has_volume",
    "new_customer",
    "plan",
    "pods",
    "ram",
    "region",
    "volumes",
)
_VOLUME_FIELDS = ("mount_path", "size")
if sorted(RequestIn.model_fields) != list(_REQUEST_FIELDS) or sorted(VolumeIn.model_fields) != list(_VOLUME_FIELDS):
    raise ImportError("RequestIn's or VolumeIn's fields changed: update placement.router.ledger._canonical")


_string = encode_basestring_ascii  # a string as ``json.dumps`` writes it
_utf8_string = encode_basestring  # a string as ``json.dumps(ensure_ascii=False)`` and pydantic write it


def _json(value: str | int | bool | None) -> str:
    """``value`` as ``json.dumps`` writes it (a string, a whole number, a boolean or None)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _string(value)
    return int.__repr__(value)


def _canonical(service_name: str, repo: str | None, service_id: str | None, request: RequestIn) -> str:
    """``json.dumps(body, sort_keys=True)`` of an order's body (see above). A value that is never None (a string, a
    count, a boolean: the request's types say which, and its counts are never booleans) is written without
    ``_json``'s tests, a call fewer each (~4,500 instructions a placement, callgrind). The request's fields are read
    from its ``__dict__``, where pydantic keeps them: an attribute read first looks the name up along the model's
    MRO."""
    fields = request.__dict__
    volumes = ", ".join(
        [
            f'{{"mount_path": {_string(volume.mount_path)}, "size": {_json(volume.size)}}}'
            for volume in fields["volumes"]
        ]
    )
    has_volume = fields["has_volume"]
    has_volume = "" if has_volume is None else f'"has_volume": {_json(has_volume)}, '
    return (
        f'{{"repo": {_json(repo)}, "request": {{"customer_id": {_json(fields["customer_id"])}, '
        f'"customer_volume_count": {fields["customer_volume_count"]:d}, '
        f'"etcd_objects": {_json(fields["etcd_objects"])}, {has_volume}'
        f'"new_customer": {"true" if fields["new_customer"] else "false"}, "plan": {_string(fields["plan"])}, '
        f'"pods": {fields["pods"]:d}, "ram": {_json(fields["ram"])}, "region": {_json(fields["region"])}, '
        f'"volumes": [{volumes}]}}, "service_id": {_json(service_id)}, "service_name": {_string(service_name)}}}'
    )


@dataclass(slots=True)
class PlacementOrder:
    """What ``POST /v1/placements`` asks for: the engine request plus the service's identity."""

    request_id: str
    service_name: str
    request: RequestIn
    repo: str | None = None
    service_id: str | None = None

    def body_hash(self) -> str:
        # Without has_volume when it is None: the body hashes as it did before has_volume existed.
        text = _canonical(self.service_name, self.repo, self.service_id, self.request)
        return hashlib.sha256(text.encode()).hexdigest()


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
MAX_WHERES = 4096  # "where" fragments kept (``where_json``): beyond, they are made again


def where_key(placed: PlacedService) -> tuple:
    """What a placement's "where" members hold: its cluster, task queue, node and volumes."""
    volumes = placed.volumes
    if len(volumes) == 1:  # the usual shapes (none or one) without a comprehension, a function made per call
        volume = volumes[0]
        return (
            placed.cluster_id,
            placed.task_queue,
            placed.node,
            (volume.mount_path, volume.size_bytes, volume.replicas),
        )
    return (
        placed.cluster_id,
        placed.task_queue,
        placed.node,
        *[(v.mount_path, v.size_bytes, v.replicas) for v in volumes],
    )


def where_json(cache: dict[tuple, str], placed: PlacedService, fields: Callable[[PlacedService], dict]) -> str:
    """``fields(placed)`` as JSON members without braces (``"cluster_id":...,"volumes":[...]``) as pydantic writes
    them, kept in ``cache`` under ``where_key``: a few clusters, nodes and volume shapes recur across placements."""
    key = where_key(placed)
    where = cache.get(key)
    if where is None:
        if len(cache) >= MAX_WHERES:
            cache.clear()
        where = cache[key] = pydantic_core.to_json(fields(placed))[1:-1].decode()
    return where


def with_where(placed: PlacedService, where: str) -> bytes:
    """A placement's JSON object as pydantic writes it: its request and service ids, then ``where`` (the members in
    between, ``where_json``), then its reason and warnings. The strings are written by ``json``'s C escaper without
    ``ensure_ascii``, as pydantic writes them (``"``, ``\\`` and the control characters escaped, ``\\u00XX`` in
    lower case, any other character as it is): a ``pydantic_core.to_json`` call costs ~7,000 instructions however
    small its value. tests/router/test_answer_json.py checks the bytes against pydantic's."""
    return (
        f'{{"request_id":{_utf8_string(placed.request_id)},"service_id":{_utf8_string(placed.service_id)},{where},'
        f"{_why_json(placed.reason, placed.warnings)}"
    ).encode()


_WHYS: dict[tuple[str, tuple[str, ...]], str] = {}


def _why_json(reason: str, warnings: tuple[str, ...]) -> str:
    """The reason and warnings members and the closing brace, kept per distinct value (at most ``MAX_WHERES``):
    a fleet's few clusters and scores give a few reasons, written twice a placement (the ledger's and the answer)."""
    key = (reason, warnings)
    why = _WHYS.get(key)
    if why is None:
        if len(_WHYS) >= MAX_WHERES:
            _WHYS.clear()
        listed = ",".join(map(_utf8_string, warnings))
        why = _WHYS[key] = f'"reason":{_utf8_string(reason)},"warnings":[{listed}]}}'
    return why


def _ledger_where(placed: PlacedService) -> dict:
    return {
        "cluster_id": placed.cluster_id,
        "task_queue": placed.task_queue,
        "node": placed.node,
        "volumes": [
            {"mount_path": v.mount_path, "size_bytes": v.size_bytes, "replicas": v.replicas} for v in placed.volumes
        ],
    }


_LEDGER_WHERES: dict[tuple, str] = {}


def placed_json(placed: PlacedService) -> bytes:
    """``PLACED.dump_json(placed)``, byte for byte, with the "where" members kept per cluster, node and volumes:
    the whole dataclass through pydantic's serialiser cost ~17,000 instructions a placement (callgrind)."""
    return with_where(placed, where_json(_LEDGER_WHERES, placed, _ledger_where))


@dataclass(slots=True)
class Placement:
    placed: PlacedService
    replayed: bool
    decision: Decision | None  # None when replayed
