"""A small HTTP server that speaks the Kubernetes list API, for tests and the collector benchmark.

It serves cluster-scoped collections at their real paths with ``limit``/``continue`` paging,
``metadata.remainingItemCount``, metadata-only lists (``as=PartialObjectMetadataList``) and Kubernetes
``Status`` error bodies, and injects faults per path: an HTTP status, a delay (for timeouts) or expired
continue tokens (410). Large collections are generated on the fly from an index, never stored.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

KINDS = {
    "nodes": "Node",
    "namespaces": "Namespace",
    "pods": "Pod",
    "services": "Service",
    "secrets": "Secret",
    "configmaps": "ConfigMap",
    "persistentvolumeclaims": "PersistentVolumeClaim",
    "endpoints": "Endpoints",
    "deployments": "Deployment",
    "statefulsets": "StatefulSet",
    "replicasets": "ReplicaSet",
    "ingresses": "Ingress",
    "storageclasses": "StorageClass",
    "volumes": "Volume",
}
TOKEN = "collector-test-token"


@dataclass
class Generated:
    """``count`` objects made on demand by ``make(index)``."""

    count: int
    make: Callable[[int], dict[str, Any]]

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.make(index)


@dataclass
class Fault:
    status: int = 0  # answer every request to the path with this status
    message: str = ""
    delay: float = 0.0  # seconds to wait before answering
    expire_continue: int = 0  # answer this many continue requests with 410 Gone
    times: int | None = None  # the status and delay apply to this many requests (None: all of them)


@dataclass
class Request:
    path: str
    limit: int | None
    continue_token: str | None
    metadata_only: bool


@dataclass
class FakeCluster:
    collections: dict[str, Sequence[dict[str, Any]]] = field(default_factory=dict)
    faults: dict[str, Fault] = field(default_factory=dict)
    remaining_item_count: bool = True
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _forbidden_message(path: str) -> str:
    parts = path.strip("/").split("/")
    group = "" if parts[0] == "api" else parts[1]
    return (
        f'{parts[-1]} is forbidden: User "system:serviceaccount:capplan-system:placement-collector" cannot list '
        f'resource "{parts[-1]}" in API group "{group}" at the cluster scope'
    )


class _Handler(BaseHTTPRequestHandler):
    cluster: FakeCluster
    stop: threading.Event
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # silence the default stderr access log
        pass

    def _send(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        cluster = self.cluster
        metadata_only = "as=PartialObjectMetadataList" in (self.headers.get("Accept") or "")
        limit = int(query["limit"]) if query.get("limit") else None
        token = query.get("continue")
        with cluster.lock:
            cluster.requests.append(Request(url.path, limit, token, metadata_only))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._send(401, _status(401, "Unauthorized", "Unauthorized"))
            return
        fault = cluster.faults.get(url.path)
        if fault is not None and fault.times is not None and (fault.status or fault.delay):
            with cluster.lock:
                if fault.times <= 0:
                    fault = None
                else:
                    fault.times -= 1
        if fault is not None:
            if fault.delay and self.stop.wait(fault.delay):
                return
            if fault.status:
                reasons = {403: "Forbidden", 404: "NotFound", 500: "InternalError", 503: "ServiceUnavailable"}
                default = _forbidden_message(url.path) if fault.status == 403 else "etcdserver: request timed out"
                message = fault.message or default
                self._send(fault.status, _status(fault.status, reasons.get(fault.status, "Unknown"), message))
                return
            if token and fault.expire_continue > 0:
                with cluster.lock:
                    fault.expire_continue -= 1
                self._send(
                    410,
                    _status(
                        410,
                        "Expired",
                        "The provided continue parameter is too old to display a "
                        "consistent list result. You can start a new list without the continue "
                        "parameter.",
                    ),
                )
                return
        items = cluster.collections.get(url.path)
        if items is None:
            self._send(404, _status(404, "NotFound", "the server could not find the requested resource"))
            return
        start = int(token) if token else 0
        end = len(items) if not limit else min(len(items), start + limit)
        page = [items[i] for i in range(start, end)]
        meta: dict[str, Any] = {"resourceVersion": "948311"}
        if end < len(items):
            meta["continue"] = str(end)
            if cluster.remaining_item_count:
                meta["remainingItemCount"] = len(items) - end
        plural = url.path.rsplit("/", 1)[-1]
        if metadata_only:
            body = {
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": meta,
                "items": [
                    {
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": item.get("metadata", {}),
                    }
                    for item in page
                ],
            }
        else:
            body = {"kind": KINDS.get(plural, "Object") + "List", "apiVersion": "v1", "metadata": meta, "items": page}
        self._send(200, body)


class ApiServer:
    """Runs a ``FakeCluster`` on 127.0.0.1 on an ephemeral port, in a background thread."""

    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster
        self.stop = threading.Event()
        handler = type("Handler", (_Handler,), {"cluster": cluster, "stop": self.stop})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> ApiServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def write_kubeconfig(path: Path, server: str, context: str = "fake-k3s") -> Path:
    """A kubeconfig with one cluster and two contexts: ``context`` (current) and ``other`` (a dead port)."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "fake", "cluster": {"server": server}},
            {"name": "dead", "cluster": {"server": "http://127.0.0.1:9"}},
        ],
        "users": [{"name": "collector", "user": {"token": TOKEN}}],
        "contexts": [
            {"name": context, "context": {"cluster": "fake", "user": "collector"}},
            {"name": "other", "context": {"cluster": "dead", "user": "collector"}},
        ],
        "current-context": context,
    }
    path.write_text(yaml.safe_dump(document))
    return path
