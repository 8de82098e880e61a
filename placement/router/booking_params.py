"""How the booking's one PostgreSQL statement binds its values (``placement.router.booking``): each parameter's
name (the values every row of a booking shares bound once, under one name) and type, and the statement compiled
once per shape with the bind processors its typed parameters need."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Json
from sqlalchemy import JSON, Integer, String, bindparam
from sqlalchemy.types import UserDefinedType

# The rows' columns that hold the same value in every row of one booking, bound once under one name (the
# counters' guards bind the cluster and the node under these names too). Fewer and shorter parameters keep the
# statement within what psycopg caches the parsing of (4,096 characters, 50 parameters).
SHARED = {
    ("reservations", "service_id"): "service_id",
    ("services", "id"): "service_id",
    ("volumes", "service_id"): "service_id",
    ("reservations", "cluster_id"): "match_cluster_id",
    ("services", "cluster_id"): "match_cluster_id",
    ("volumes", "cluster_id"): "match_cluster_id",
    ("reservations", "node_name"): "match_node_name",
    ("volumes", "node_name"): "match_node_name",
    ("reservations", "customer_id"): "customer_id",
    ("services", "customer_id"): "customer_id",
    ("reservations", "reserved_at"): "now",
    ("services", "created_at"): "now",
    ("volumes", "created_at"): "now",
}


class _Uncast(UserDefinedType):
    """A value bound as the driver sends it, without a cast (``_bind``)."""

    cache_ok = True


_UNCAST = _Uncast()


def _name(table: Any, column: str, prefix: str) -> str:
    return SHARED.get((table.name, column)) or f"{prefix}{column}"


def binds(table: Any, names: tuple[str, ...], prefix: str) -> dict[str, Any]:
    return {name: _bind(table, name, prefix) for name in names}


def _bind(table: Any, column: str, prefix: str) -> Any:
    name, type_ = _name(table, column, prefix), table.c[column].type
    # A row's own text or whole number goes into its column once: PostgreSQL takes the column's type, so it needs
    # no cast, and a statement under psycopg's 4,096 characters has its parsing cached. A shared one is also
    # compared in the guards (typed there): bound typed alike, its type is deduced once.
    if (table.name, column) not in SHARED and isinstance(type_, (String, Integer)):
        return bindparam(name, type_=_UNCAST)
    return bindparam(name, type_=type_)


# (table name, prefix) -> {column: its parameter's name}: a few dozen names in all, worked out once.
_NAMES: dict[tuple[str, str], dict[str, str]] = {}


def prefixed(table: Any, values: dict[str, Any], prefix: str) -> dict[str, Any]:
    names = _NAMES.setdefault((table.name, prefix), {})
    try:
        return {names[column]: value for column, value in values.items()}
    except KeyError:
        names.update((column, _name(table, column, prefix)) for column in values)
        return {names[column]: value for column, value in values.items()}


def volume_id(service_id: str, index: int) -> str:
    """The id of a service's volume ``index`` (its mount order), on either backend."""
    return f"{service_id}-vol-{index}"


def volume_params(index: int) -> tuple[str, str, str]:
    """The statement's parameters of the volume row ``index``: its id, mount path and size."""
    return (f"v{index}_id", f"v{index}_mount_path", f"v{index}_size_bytes")


VOLUME_PARAMS = tuple(volume_params(index) for index in range(8))


def _as_is(text: bytes) -> bytes:
    return text


def json_param(text: bytes) -> Json:
    """A JSON column's value already serialised (``TypeAdapter.dump_json``: pydantic's serialiser writes it once,
    where SQLAlchemy's JSON type would have ``json.dumps`` a dict made for it), sent as psycopg sends JSON."""
    return Json(text, _as_is)


@dataclass(frozen=True, slots=True)
class Compiled:
    """A booking statement compiled once for the connection's dialect: its SQL text and the bind processors of
    its typed parameters (a JSON column's), applied as SQLAlchemy would. Executing the text skips SQLAlchemy's
    per-call compile-cache lookup and parameter processing (about 0.2 ms of a placement's CPU)."""

    sql: str
    processors: dict[str, Callable[[Any], Any]]

    @classmethod
    def of(cls, statement: Any, dialect: Any) -> Compiled:
        compiled = statement.compile(dialect=dialect)
        processors = {}
        for name, bind in compiled.binds.items():
            if isinstance(bind.type, JSON):
                continue  # given serialised already (``json_param``)
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                processors[name] = processor
        return cls(compiled.string, processors)

    def processed(self, params: dict[str, Any]) -> dict[str, Any]:
        for name, processor in self.processors.items():
            params[name] = processor(params[name])
        return params
