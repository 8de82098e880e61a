"""Where a snapshot goes: a JSON file, the router's database, or the router's HTTP API.

A sink either stores the whole snapshot or raises ``DeliveryError`` having stored nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import httpx

from placement.atomic import atomic_write
from placement.collector.errors import CollectError
from placement.collector.snapshot import Snapshot
from placement.state import ClusterLoadIn


class DeliveryError(CollectError):
    """The snapshot was collected but could not be stored."""


class Sink(Protocol):
    def write(self, snapshot: Snapshot) -> str:
        """Store the snapshot and say where it went."""
        ...


def snapshot_json(snapshot: Snapshot) -> str:
    return snapshot.model_dump_json(indent=2) + "\n"


class FileSink:
    """Writes the snapshot document (cluster id, load, inventory) as JSON, atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, snapshot: Snapshot) -> str:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, snapshot_json(snapshot))
        except OSError as exc:
            raise DeliveryError(f"cannot write {self.path}: {exc}") from exc
        return str(self.path)


class DatabaseSink:
    """Stores the load in the router's database through the router's own store (same schema, same rules)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._store: Any = None

    def write(self, snapshot: Snapshot) -> str:
        from placement.router.store import UnknownCluster, open_store

        try:
            if self._store is None:
                self._store = open_store(self.url)
            self._store.put_load(snapshot.cluster_id, snapshot.to_model())
        except UnknownCluster as exc:
            raise DeliveryError(
                f"cluster {snapshot.cluster_id!r} is not registered in the router's database: {exc}"
            ) from exc
        except (OSError, ValueError) as exc:
            raise DeliveryError(f"cannot store the load in {self._safe_url()}: {exc}") from exc
        except Exception as exc:
            # SQLAlchemy and driver errors: keep the message, hide credentials in the URL.
            if type(exc).__module__.split(".")[0] in {"sqlalchemy", "psycopg", "sqlite3"}:
                raise DeliveryError(f"cannot store the load in {self._safe_url()}: {exc}") from exc
            raise
        return f"database {self._safe_url()}"

    def close(self) -> None:
        if self._store is not None:
            self._store.dispose()
            self._store = None

    def _safe_url(self) -> str:
        from sqlalchemy.engine import make_url

        try:
            return make_url(self.url).render_as_string(hide_password=True)
        except Exception:
            return "(database)"


class RouterSink:
    """``PUT {router}/v1/clusters/{id}/load`` with the ``ClusterLoadIn`` body and a bearer token."""

    def __init__(self, url: str, token: str, *, timeout: float = 30.0, transport: httpx.BaseTransport | None = None):
        self.url = url.rstrip("/")
        self.client = httpx.Client(timeout=timeout, headers={"Authorization": f"Bearer {token}"}, transport=transport)

    def write(self, snapshot: Snapshot) -> str:
        target = f"{self.url}/v1/clusters/{snapshot.cluster_id}/load"
        body = ClusterLoadIn.from_model(snapshot.to_model()).model_dump(mode="json")
        try:
            response = self.client.put(target, json=body)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"router unreachable: PUT {target}: {exc}") from exc
        if response.status_code >= 400:
            raise DeliveryError(f"router refused the load: PUT {target} -> {response.status_code}: {_detail(response)}")
        return f"router {target}"

    def close(self) -> None:
        self.client.close()


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])[:500]
    return str(body)[:500]
