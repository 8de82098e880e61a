"""A small HTTP server that speaks the Kubernetes list API, for tests and the collector benchmark.

It serves cluster-scoped collections at their real paths with ``limit``/``continue`` paging,
``metadata.remainingItemCount``, metadata-only lists (``as=PartialObjectMetadataList``) and Kubernetes
``Status`` error bodies, and injects faults per path: an HTTP status (with ``Retry-After``, as API Priority and
Fairness sends with its 429s), a delay (for timeouts), expired continue tokens (410), a rewritten 200 body (a
proxy's error object, another kind, ``items: null``, items that are not objects) and an answer trickled one byte
at a time. Large collections are generated on the fly from an index, never stored.
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
    "resourcequotas": "ResourceQuota",
    "serviceaccounts": "ServiceAccount",
    "events": "Event",
    "persistentvolumes": "PersistentVolume",
    "endpointslices": "EndpointSlice",
    "daemonsets": "DaemonSet",
    "jobs": "Job",
    "leases": "Lease",
    "csinodes": "CSINode",
    "volumeattachments": "VolumeAttachment",
    "engines": "Engine",
    "replicas": "Replica",
    "instancemanagers": "InstanceManager",
    "engineimages": "EngineImage",
    "settings": "Setting",
    "cephclusters": "CephCluster",
    "cephblockpools": "CephBlockPool",
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
    retry_after: str | None = None  # the Retry-After header sent with the status
    delay: float = 0.0  # seconds to wait before answering
    expire_continue: int = 0  # answer this many continue requests with 410 Gone
    rewrite: Callable[[dict[str, Any]], Any] | None = None  # turns the list answer into another 200 body (bytes: raw)
    trickle: float = 0.0  # send the answer's body one byte every this many seconds
    trickle_headers: bool = False  # ... and its status line and headers too
    times: int | None = None  # all but expire_continue apply to this many requests (None: all of them)
    on_continue: bool = False  # all but expire_continue apply only to requests for a later page

    @property
    def counted(self) -> bool:
        return bool(self.status or self.delay or self.rewrite or self.trickle)


@dataclass
class Trickle:
    """How far a trickled answer got: bytes sent of the total, and whether the client stayed to the end."""

    total: int
    sent: int = 0
    finished: bool = False


@dataclass
class Request:
    path: str
    limit: int | None
    continue_token: str | None
    metadata_only: bool
    method: str = "GET"
    query: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeCluster:
    collections: dict[str, Sequence[dict[str, Any]]] = field(default_factory=dict)
    faults: dict[str, Fault] = field(default_factory=dict)
    remaining_item_count: bool = True
    requests: list[Request] = field(default_factory=list)
    trickles: dict[str, list[Trickle]] = field(default_factory=dict)
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

    def _send(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = isinstance(body, bytes)
        data = body if raw else json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/html" if raw else "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _trickle(self, path: str, body: Any, pause: float, headers_too: bool) -> None:
        """Send a 200 answer one byte every ``pause`` seconds (the body only, or the headers too)."""
        data = json.dumps(body, separators=(",", ":")).encode()
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode()
        slow = head + data if headers_too else data
        progress = Trickle(total=len(slow))
        with self.cluster.lock:
            self.cluster.trickles.setdefault(path, []).append(progress)
        self.close_connection = True
        try:
            if not headers_too:
                self.wfile.write(head)
                self.wfile.flush()
            for index in range(len(slow)):
                if self.stop.wait(pause):
                    return
                self.wfile.write(slow[index : index + 1])
                self.wfile.flush()
                progress.sent = index + 1
            progress.finished = True
        except OSError:
            pass  # the client hung up

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        cluster = self.cluster
        metadata_only = "as=PartialObjectMetadataList" in (self.headers.get("Accept") or "")
        limit = int(query["limit"]) if query.get("limit") else None
        token = query.get("continue")
        with cluster.lock:
            cluster.requests.append(Request(url.path, limit, token, metadata_only, self.command, query))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._send(401, _status(401, "Unauthorized", "Unauthorized"))
            return
        fault = cluster.faults.get(url.path)
        if fault is not None and fault.on_continue and not token and fault.counted:
            fault = None
        if fault is not None and fault.times is not None and fault.counted:
            with cluster.lock:
                if fault.times <= 0:
                    fault = None
                else:
                    fault.times -= 1
        if fault is not None:
            if fault.delay and self.stop.wait(fault.delay):
                return
            if fault.status:
                reasons = {
                    403: "Forbidden",
                    404: "NotFound",
                    429: "TooManyRequests",
                    500: "InternalError",
                    503: "ServiceUnavailable",
                }
                defaults = {403: _forbidden_message(url.path), 429: "Too many requests, please try again later."}
                message = fault.message or defaults.get(fault.status, "etcdserver: request timed out")
                headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
                self._send(fault.status, _status(fault.status, reasons.get(fault.status, "Unknown"), message), headers)
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
            parts = url.path.strip("/").split("/")
            api_version = parts[1] if parts[0] == "api" else f"{parts[1]}/{parts[2]}"
            body = {
                "kind": KINDS.get(plural, "Object") + "List",
                "apiVersion": api_version,
                "metadata": meta,
                "items": page,
            }
        if fault is not None and fault.rewrite is not None:
            body = fault.rewrite(body)
        if fault is not None and fault.trickle:
            self._trickle(url.path, body, fault.trickle, fault.trickle_headers)
            return
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
