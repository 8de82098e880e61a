"""uvicorn's HTTP protocol (httptools) with a response's head and body sent in one write.

uvicorn writes a response's status line and headers when the app sends ``http.response.start``, and its body when
the app sends ``http.response.body``: two writes, which uvloop sends at once, so two TCP segments (the socket has
``TCP_NODELAY``). On loopback each segment wakes the client, which reads the head, finds the body missing and
sleeps again; on a shared 2-core host the first wake-up may also preempt the router between its two sends. Profiled
under paced placements, the router's thread was found in the first of those sends in about a tenth of its samples.

``CombinedWritesProtocol`` gives uvicorn a transport that holds a response head (a write that starts with the
status line and ends the header block) until the next write, which it is sent with, or until the event loop's next
turn when nothing follows it in this one (a HEAD answer, a 204, ``100 Continue``). Starlette sends the head and the
body one after the other in the same turn. Everything else about the transport is uvloop's own.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_START = b"HTTP/1."
HEAD_END = b"\r\n\r\n"


class CombinedWritesProtocol(HttpToolsProtocol):
    """``uvicorn.run(..., http=CombinedWritesProtocol)``."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_CombinedWrites(transport, asyncio.get_running_loop()))  # type: ignore[arg-type]


# What ``placement serve`` (one worker or several) and the benchmarks' server give ``uvicorn.run`` beside the app and
# the address. No ``X-Forwarded-*`` rewriting (``proxy_headers``): uvicorn would wrap the app in a middleware that
# reads those headers at every request for the ASGI scope's client address and scheme, which the router never uses
# (no access log, no rule by address; a trailing-slash redirect names the scheme the router itself was reached by);
# about 1 % of a placement's instructions (callgrind, the whole server). No ``server: uvicorn`` header: one header
# fewer that uvicorn checks and writes at every answer, and no client reads it.
UVICORN_OPTIONS: dict[str, Any] = {
    "http": CombinedWritesProtocol,
    "access_log": False,
    "proxy_headers": False,
    "server_header": False,
}


class _CombinedWrites:
    """A transport whose response heads wait for the write that follows them (see the module's docstring)."""

    __slots__ = ("_head", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            data = head + data
        elif data.startswith(HEAD_START) and data.endswith(HEAD_END):
            self._head = data
            self._loop.call_soon(self._flush)
            return
        self._transport.write(data)

    def _flush(self) -> None:
        head, self._head = self._head, None
        if head is not None and not self._transport.is_closing():
            self._transport.write(head)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def is_closing(self) -> bool:
        # Asked by uvicorn at every response's end: a method of its own rather than ``__getattr__``'s fallback.
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
