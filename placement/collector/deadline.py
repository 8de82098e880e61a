"""A total deadline per HTTP request for the official ``kubernetes`` client.

urllib3's timeouts bound each socket operation, not a request: a server (or a proxy) that trickles its answer one
byte at a time, each byte inside the read timeout, keeps a request alive for as long as it likes. client-go bounds
the whole exchange (``http.Client.Timeout``: connect, headers and body). This module gives the Python client the
same bound without replacing its transport: while a request runs under ``RequestDeadline``, the connections it uses
are watched, and at the deadline a timer shuts their sockets down, which ends any read or write in progress with an
error. The caller then sees ``deadline.expired`` and reports a timeout.

``install(api_client)`` wraps the connection classes of the client's urllib3 pool manager (whatever they are:
plain, TLS, proxied), so every connection the client opens reports itself to the deadline of the request that uses
it. Outside a ``RequestDeadline`` the wrapped connections behave exactly as before.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from functools import cache
from typing import Any

_active = threading.local()


class RequestDeadline:
    """Shuts down the sockets of the current thread's request when ``seconds`` have passed.

    Use as a context manager around one request (the call and the reading of its body). ``expired`` says whether
    the deadline struck; a request that finished first is left alone.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._lock = threading.Lock()
        self._connections: list[Any] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> RequestDeadline:
        _active.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()
        _active.deadline = None
        with self._lock:
            self._connections.clear()

    def watch(self, connection: Any) -> None:
        """Watch a connection the request uses; shut it down at once if the deadline has already struck."""
        with self._lock:
            if self.expired:
                _shutdown(connection)
            elif not any(c is connection for c in self._connections):
                self._connections.append(connection)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for connection in self._connections:
                _shutdown(connection)


def _shutdown(connection: Any) -> None:
    sock = getattr(connection, "sock", None)
    if sock is None:
        return
    # The plain socket's shutdown even for TLS: SSLSocket.shutdown would tear down TLS state under the reader in
    # the other thread; shutting the descriptor down just makes that reader see end-of-file. OSError: already closed.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _report(connection: Any) -> None:
    deadline: RequestDeadline | None = getattr(_active, "deadline", None)
    if deadline is not None:
        deadline.watch(connection)


class _Watched:
    """Mixed into a urllib3 connection class: report to the running request's deadline on connect and on send.

    Both, because an HTTP connection connects lazily inside ``request`` while an HTTPS one connects before it.
    """

    def connect(self) -> None:
        _report(self)
        super().connect()  # type: ignore[misc]
        _report(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _report(self)
        super().request(*args, **kwargs)  # type: ignore[misc]


@cache
def _watched_pool(pool_class: type) -> type:
    if issubclass(pool_class.ConnectionCls, _Watched):
        return pool_class
    connection_class = type(f"Watched{pool_class.ConnectionCls.__name__}", (_Watched, pool_class.ConnectionCls), {})
    return type(f"Watched{pool_class.__name__}", (pool_class,), {"ConnectionCls": connection_class})


def install(api_client: Any) -> None:
    """Make every connection of ``api_client`` (a ``kubernetes.client.ApiClient``) answer to ``RequestDeadline``."""
    manager = api_client.rest_client.pool_manager
    manager.clear()  # pools made before this point would keep unwatched connections
    manager.pool_classes_by_scheme = {
        scheme: _watched_pool(pool_class) for scheme, pool_class in manager.pool_classes_by_scheme.items()
    }
