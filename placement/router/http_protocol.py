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

And the protocol answers the app's direct routes itself (``DirectRoutesApp``, ``POST /v1/placements``): for every
request uvicorn makes an ASGI scope (a dict of a dozen keys, the app's state copied), a request cycle with an
``asyncio.Event``, a task running the app, the ``http.request`` message the app receives its body in and the two
messages it answers with, each header checked again as it is written: about 7 % of a placement's instructions
(callgrind). A request whose head the app would answer directly (its method and target are a direct route's path,
``DirectRoutesApp.admits`` its headers; HTTP/1.1 kept alive, no ``Expect``, no upgrade, nothing answered before it
still pending) is held as a ``DirectExchange`` until its body is read; a body the route's model accepts
(``direct_route.validated``) goes to the endpoint in a task of its own, and its answer, whole, is written as
uvicorn's cycle writes it (status line, the server's default headers, the answer's). Everything else takes uvicorn's
way, with the scope made at the head's end: any other request; a body the model refuses (the app's stack answers
it, given the body read); an endpoint that raised (the app's handler's answer, or uvicorn's 500), or an answer not
whole, sent through a uvicorn cycle made then (``DirectRoutesApp.respond``). Latency is timed as the app times it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import time
from typing import Any

from pydantic import BaseModel
from starlette.responses import Response
from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from placement.router.direct_route import DirectJSONRoute, DirectRoutesApp, validated

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
        app = self.app
        # Not under a root path or a concurrency limit (uvicorn's 503 counts requests as its own cycles).
        direct = isinstance(app, DirectRoutesApp) and not self.root_path and self.limit_concurrency is None
        self._direct_app: DirectRoutesApp | None = app if direct else None

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._idle_until = None
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    # --- requests answered directly (see the module's docstring) ---------------------------------------------------

    def on_message_begin(self) -> None:
        # uvicorn's, but the ASGI scope is made at the end of the head, and only for a request that goes to the app.
        self.url = b""
        self.expect_100_continue = False
        self.headers = []

    def on_headers_complete(self) -> None:
        app = self._direct_app
        parser = self.parser
        cycle = self.cycle
        if (
            app is not None
            and (cycle is None or cycle.response_complete)  # a pipelined request waits in uvicorn's queue
            and not self.expect_100_continue
            and parser.get_http_version() == "1.1"
            and parser.should_keep_alive()
            and not parser.should_upgrade()
        ):
            method = parser.get_method().decode("ascii")
            route = app.direct_route(method, self.url.decode("latin-1"))
            if route is not None and app.admits(route, self.headers):
                self.cycle = DirectExchange(route, method, self.url, self.headers)  # type: ignore[assignment]
                return
        url, headers, expect_100_continue = self.url, self.headers, self.expect_100_continue
        super().on_message_begin()  # the scope, which uvicorn makes at the head's start
        self.url, self.headers, self.expect_100_continue = url, headers, expect_100_continue
        self.scope["headers"] = headers
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        exchange = self.cycle
        if type(exchange) is DirectExchange:
            exchange.body += body  # at most the app's body limit: no pause
        else:
            super().on_body(body)

    def on_message_complete(self) -> None:
        exchange = self.cycle
        if type(exchange) is not DirectExchange:
            super().on_message_complete()
            return
        model = validated(exchange.route, exchange.body)
        if model is None:  # the app answers it (422, 400) through its stack, given the body read
            cycle = self._cycle_for(exchange)
            cycle.body = bytearray(exchange.body)
            cycle.more_body = False
            cycle.message_event.set()
            self._start_asgi_task(cycle, self.app)
            return
        answer = self._answer_directly(exchange, model)
        if self.config.reset_contextvars:  # as uvicorn's _start_asgi_task
            task = self.loop.create_task(answer, context=contextvars.Context())
        else:
            task = self.loop.create_task(answer)
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    async def _answer_directly(self, exchange: DirectExchange, model: BaseModel) -> None:
        app: DirectRoutesApp = self._direct_app  # type: ignore[assignment]
        route = exchange.route
        try:
            answer: Response | BaseException = await route.endpoint(**{route.body_name: model})
        except BaseException as error:  # a cancellation too: uvicorn's cycle logs it and answers 500, as it did
            answer = error
        written = None
        if not isinstance(answer, BaseException) and not self.flow.write_paused:
            written = _whole_answer(answer, self.server_state.default_headers, exchange.keep_alive)
        if written is None:
            # The app's answer to what the endpoint raised, or an answer not whole (streamed, with a background
            # task): through uvicorn's request cycle, which also answers 500 for an error the app has no handler for.
            cycle = self._cycle_for(exchange)
            await cycle.run_asgi(functools.partial(app.respond, route, exchange.started, answer))
            return
        try:
            if not exchange.disconnected and not self.transport.is_closing():
                self.transport.write(written)
                exchange.response_complete = True
                if not exchange.keep_alive:
                    self.transport.close()
                self.on_response_complete()
        finally:
            app.timing(exchange.method, route.path, answer.status_code, time.perf_counter() - exchange.started)

    def _cycle_for(self, exchange: DirectExchange) -> RequestResponseCycle:
        """uvicorn's request cycle for a request begun as a direct exchange, with the scope uvicorn (0.55.0) makes
        in ``on_message_begin`` and ``on_headers_complete`` (the target is the route's path itself: no query, no
        escapes, no root path)."""
        scope = {
            "type": "http",
            "asgi": {"version": self.asgi_version, "spec_version": "2.3"},
            "http_version": "1.1",
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,
            "root_path": self.root_path,
            "headers": exchange.headers,
            "state": self.app_state.copy(),
            "method": exchange.method,
            "path": exchange.route.path,
            "raw_path": exchange.url,
            "query_string": b"",
        }
        cycle = RequestResponseCycle(
            scope=scope,  # type: ignore[arg-type]
            transport=self.transport,
            flow=self.flow,
            logger=self.logger,
            access_logger=self.access_logger,
            access_log=self.access_log,
            default_headers=self.server_state.default_headers,
            message_event=asyncio.Event(),
            expect_100_continue=False,
            keep_alive=exchange.keep_alive,
            on_response=self.on_response_complete,
        )
        cycle.disconnected = exchange.disconnected
        if self.cycle is exchange:  # (not when a pipelined request's cycle came after it)
            self.cycle = cycle
        return cycle

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


class _NoWaiter:
    """What uvicorn's protocol sets, at a lost connection, in place of a cycle's event: nothing waits on it."""

    def set(self) -> None:
        pass


class DirectExchange:
    """A request answered directly, as the protocol's current cycle: what uvicorn's protocol reads of its cycle
    (``response_complete``, ``disconnected``, ``keep_alive``, ``message_event``) and the request's head and body."""

    __slots__ = (
        "body",
        "disconnected",
        "headers",
        "keep_alive",
        "method",
        "response_complete",
        "route",
        "started",
        "url",
    )
    message_event = _NoWaiter()

    def __init__(self, route: DirectJSONRoute, method: str, url: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        self.route = route
        self.method = method
        self.url = url
        self.headers = headers
        self.started = time.perf_counter()  # the app's latency timing starts at the head, as the app is called
        self.body = b""
        self.keep_alive = True  # uvicorn's server clears it at shutdown
        self.disconnected = False
        self.response_complete = False


def _whole_answer(response: Response, default_headers: list[tuple[bytes, bytes]], keep_alive: bool) -> bytes | None:
    """The head and body uvicorn's request cycle (0.55.0) writes for a response whose whole body is known and
    matches its content-length, without a background task; None for any other (uvicorn's cycle sends it)."""
    body = getattr(response, "body", None)
    headers = response.raw_headers
    if (
        type(body) is not bytes
        or response.background is not None
        or (b"content-length", b"%d" % len(body)) not in headers
    ):
        return None
    content = [STATUS_LINE[response.status_code]]
    for name, value in default_headers:
        content += name, b": ", value, b"\r\n"
    for name, value in headers:
        if HEADER_RE.search(name) or HEADER_VALUE_RE.search(value) or name in (b"connection", b"transfer-encoding"):
            return None
        content += name, b": ", value, b"\r\n"
    if not keep_alive:
        content.append(b"connection: close\r\n")
    content += b"\r\n", body
    return b"".join(content)


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
