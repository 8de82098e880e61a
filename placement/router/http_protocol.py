"""uvicorn's HTTP protocol (httptools) with a response's head and body sent in one write.

uvicorn writes a response's status line and headers when the app sends ``http.response.start``, and its body when
the app sends ``http.response.body``: two writes, which uvloop sends at once, so two TCP segments (the socket has
``TCP_NODELAY``). On loopback each segment wakes the client, which reads the head, finds the body missing and
sleeps again; on a shared 2-core host the first wake-up may also preempt the router between its two sends. Profiled
under paced placements, the router's thread was found in the first of those sends in about a tenth of its samples.

``CombinedWritesProtocol`` gives uvicorn a transport that holds a response head (a write that starts with the
status line and ends the header block) until the next write, which it is sent with. Starlette sends the head and the
body one after the other in the same turn. A head with a ``content-length`` has its body written next (uvicorn
writes even an empty one) or, answering HEAD, none: the response's end sends it (``on_response_complete``), and no
callback is scheduled for it. Any other head (a chunked answer, whose first chunk may take a while, a 204,
``100 Continue``) is sent on the event loop's next turn when nothing follows it in this one. An answer whose
content-length body is read after its head is sent (a file's, which the router never serves) leaves its head held
until the body's first write. Everything else about the transport is uvloop's own.

The protocol also keeps one keep-alive timer per connection: uvicorn arms a new one at the end of every response and
cancels it at the next request's first bytes, a timer made and unscheduled per request. Here a request's bytes only
clear the deadline, and the timer, when it fires, closes an idle connection or waits on for the newer deadline.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_START = b"HTTP/1."
HEAD_END = b"\r\n\r\n"
CONTENT_LENGTH = b"\r\ncontent-length: "  # as uvicorn writes the header (ASGI's header names are lower case)


class CombinedWritesProtocol(HttpToolsProtocol):
    """``uvicorn.run(..., http=CombinedWritesProtocol)``."""

    _idle_until: float | None = None  # when a connection idle since its last response times out
    _idle_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._combined = _CombinedWrites(transport, asyncio.get_running_loop())
        super().connection_made(self._combined)  # type: ignore[arg-type]

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._idle_until = None
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _unset_keepalive_if_required(self) -> None:
        self._idle_until = None  # a timer armed lapses when it fires

    def on_response_complete(self) -> None:
        # uvicorn's, but for the keep-alive timer (see the module's docstring) and the held head sent first.
        self._combined.flush()
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._idle_until = None
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        loop = self.loop
        self._idle_until = loop.time() + self.timeout_keep_alive
        if self._idle_timer is None:
            self._idle_timer = loop.call_at(self._idle_until, self._idle_check)

    def _idle_check(self) -> None:
        self._idle_timer = None
        until = self._idle_until
        if until is None:
            return  # a request came; its response's end arms the timer again
        if self.loop.time() < until:
            self._idle_timer = self.loop.call_at(until, self._idle_check)
        else:
            self.timeout_keep_alive_handler()


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
            if CONTENT_LENGTH not in data:
                self._loop.call_soon(self.flush)
            return
        self._transport.write(data)

    def flush(self) -> None:
        """Send the head held, if any."""
        head, self._head = self._head, None
        if head is not None and not self._transport.is_closing():
            self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        # Asked by uvicorn at every response's end: a method of its own rather than ``__getattr__``'s fallback.
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
