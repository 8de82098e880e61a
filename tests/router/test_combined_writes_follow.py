"""Over real HTTP, the router's protocol (one keep-alive timer per connection, a head with a content-length held
for its body without a callback) still answers kept-alive and pipelined requests whole and in order, still sends a
head whose body is not there yet, and still closes a connection left idle for the keep-alive timeout."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.router.conftest import served_in_thread
from tests.router.test_http_protocol import _complete

TIMEOUT = 1  # the keep-alive timeout, seconds


async def _json(request):
    return JSONResponse({"path": request.url.path, "n": request.query_params.get("n")})


async def _empty(request):
    return Response(status_code=204)


async def _slow_stream(request):
    async def chunks():
        await asyncio.sleep(0.5)
        yield b"late"

    return StreamingResponse(chunks(), media_type="text/plain")


@pytest.fixture(scope="module")
def port():
    app = Starlette(
        routes=[
            Route("/json", _json, methods=["GET", "HEAD"]),
            Route("/empty", _empty),
            Route("/stream", _slow_stream),
        ]
    )
    with served_in_thread(app, timeout_keep_alive=TIMEOUT) as free:
        yield free


def _get(path: str, method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nhost: t\r\n\r\n".encode()


def _read(sock: socket.socket, answers: int) -> bytes:
    received = b""
    while _complete(received) < answers:
        chunk = sock.recv(65536)
        assert chunk, f"closed after {received!r}"
        received += chunk
    return received


def test_kept_alive_requests_each_answered_across_more_than_the_timeout(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for n in range(4):  # idle 0.6 s between them: 2.4 s in all, the timer's deadline moved at each answer
            sock.sendall(_get(f"/json?n={n}"))
            answer = _read(sock, 1)
            assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(f'"n":"{n}"}}'.encode())
            time.sleep(0.6)
        sock.sendall(_get("/empty"))
        assert _read(sock, 1).startswith(b"HTTP/1.1 204 No Content")


def test_pipelined_requests_answered_whole_and_in_order(port):
    last = b"GET /json?n=3 HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
    requests = [_get("/json?n=0"), _get("/json?n=1", "HEAD"), _get("/empty"), last]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"".join(requests))
        received = b""
        while chunk := sock.recv(65536):  # until the server closes, after the last answer
            received += chunk
    assert received.endswith(b'"n":"3"}')
    heads = [part.split(b"\r\n", 1)[0] for part in received.split(b"HTTP/1.1 ")[1:]]
    assert heads == [b"200 OK", b"200 OK", b"204 No Content", b"200 OK"]
    assert received.index(b'"n":"0"') < received.index(b'"n":"3"') and b'"n":"1"' not in received  # HEAD: no body


def test_a_head_alone_and_a_slow_body_s_head_go_out(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_get("/json?n=1", "HEAD"))
        started = time.monotonic()
        head = b""
        while not head.endswith(b"\r\n\r\n"):  # a content-length and no body: sent at the response's end
            head += sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 200 OK") and time.monotonic() - started < TIMEOUT / 2  # not at the close
        sock.sendall(_get("/stream"))
        started = time.monotonic()
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 OK") and b"transfer-encoding: chunked" in first
        assert time.monotonic() - started < 0.4  # the head did not wait for the first chunk
        received = first
        while not received.endswith(b"0\r\n\r\n"):
            received += sock.recv(65536)
        assert b"late" in received


def test_an_idle_connection_is_closed_after_the_timeout(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_get("/json?n=0"))
        _read(sock, 1)
        answered = time.monotonic()
        assert sock.recv(65536) == b""  # closed by the server
        waited = time.monotonic() - answered
    assert TIMEOUT - 0.2 < waited < TIMEOUT + 1.5
