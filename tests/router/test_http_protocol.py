"""The router's HTTP protocol sends a response's head and body in one write, and every answer whole."""

from __future__ import annotations

import asyncio
import socket

import pytest
import uvicorn
from fastapi import FastAPI

from placement.router.http_protocol import UVICORN_OPTIONS, _CombinedWrites
from tests.router.conftest import AUTH, LiveRouter


class _Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> str:
        return f"extra {name}"


HEAD = b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n"


@pytest.mark.anyio
async def test_a_head_goes_out_with_the_body_that_follows_it():
    transport = _Transport()
    combined = _CombinedWrites(transport, asyncio.get_running_loop())
    combined.write(HEAD)
    assert transport.writes == []
    combined.write(b"{}")
    assert transport.writes == [HEAD + b"{}"]
    await asyncio.sleep(0)  # the next turn has nothing left to send
    assert transport.writes == [HEAD + b"{}"]
    combined.write(b"more body")  # not a head: at once
    assert transport.writes[-1] == b"more body"
    assert combined.get_extra_info("peername") == "extra peername"  # the rest is the transport's


@pytest.mark.anyio
async def test_a_head_alone_goes_out_on_the_next_turn_or_at_close():
    transport = _Transport()
    combined = _CombinedWrites(transport, asyncio.get_running_loop())
    combined.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    await asyncio.sleep(0)
    assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    combined.write(HEAD)
    combined.close()
    assert transport.writes[-1] == HEAD and transport.closed


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    router = LiveRouter(f"sqlite:///{tmp_path_factory.mktemp('proto') / 'router.db'}", tmp_path_factory.mktemp("log"))
    yield router
    router.stop()


def _exchange(port: int, request: bytes, *, until_closed: bool = False, expect: int = 1) -> bytes:
    """Send ``request`` and read until ``expect`` complete answers arrived (or the server closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while True:
            chunk = sock.recv(65536)
            received += chunk
            if not chunk or (not until_closed and _complete(received) >= expect):
                return received


def _complete(data: bytes) -> int:
    """How many whole answers (head and content-length body) ``data`` holds."""
    count = 0
    while b"\r\n\r\n" in data:
        head, rest = data.split(b"\r\n\r\n", 1)
        lengths = [line for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")]
        length = int(lengths[0].split(b":")[1]) if lengths and not head.startswith(b"HTTP/1.1 100") else 0
        if head.startswith(b"HTTP/1.1 100"):
            data = rest
            continue
        if len(rest) < length:
            break
        count += 1
        data = rest[length:]
    return count


def test_answers_arrive_whole_over_keep_alive_head_expect_and_close(live):
    port = live.port
    get = b"GET /healthz HTTP/1.1\r\nhost: router\r\n\r\n"
    both = _exchange(port, get + get, expect=2)
    assert both.count(b'{"status":"ok"}') == 2 and both.count(b"HTTP/1.1 200 OK") == 2
    head = _exchange(port, b"HEAD /healthz HTTP/1.1\r\nhost: router\r\nconnection: close\r\n\r\n", until_closed=True)
    assert head.startswith(b"HTTP/1.1 ") and head.endswith(b"\r\n\r\n")  # a head alone still goes out
    token = AUTH["Authorization"].encode()
    body = b'{"request_id": "e-1", "service_name": "s", "request": {"customer_id": "c"}}'
    expect = (
        b"POST /v1/placements HTTP/1.1\r\nhost: router\r\ncontent-type: application/json\r\nauthorization: "
        + token
        + b"\r\nexpect: 100-continue\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(expect)
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue")  # sent before the body is
        sock.sendall(body)
        answer = b""
        while _complete(answer) < 1:
            answer += sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 409 Conflict")  # no cluster: nothing fits, answered whole
    closed = _exchange(port, b"GET /healthz HTTP/1.1\r\nhost: router\r\nconnection: close\r\n\r\n", until_closed=True)
    assert closed.startswith(b"HTTP/1.1 200 OK") and closed.endswith(b'{"status":"ok"}')


def test_served_without_forwarded_header_rewriting_or_a_server_header(live):
    app = FastAPI()
    config = uvicorn.Config(app, **UVICORN_OPTIONS)
    config.load()
    assert config.loaded_app is app  # no ProxyHeadersMiddleware around it (nor any other layer of uvicorn's)
    answer = _exchange(
        live.port, b"GET /healthz HTTP/1.1\r\nhost: router\r\nconnection: close\r\n\r\n", until_closed=True
    )
    names = [line.split(b":", 1)[0].lower() for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]]
    assert sorted(names) == [b"connection", b"content-length", b"content-type", b"date"]
