"""Over real HTTP, ``POST /v1/placements`` answered by the router's protocol itself (``CombinedWritesProtocol``: no
ASGI scope, request cycle or messages for a well-formed request) answers as FastAPI's own stack would.

The app as built and its twin, whose requests all go through its stack, are each served by uvicorn with the
router's protocol, on a fleet of their own (same clock, fixed service ids). Every request of ``test_direct_route``'s
cases gets the same status, body and headers from both, and the latency metric counts the same answers; requests
the protocol does not answer itself (pipelined behind another, ``Connection: close``, HTTP/1.0, a query string) are
answered whole and in order.
"""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.router.conftest import AUTH, served_in_thread
from tests.router.test_direct_route import CASES, _answers_by_status, _body, _text, twin_apps
from tests.router.test_http_protocol import _complete


@pytest.fixture
def served(tmp_path, clock):
    """(app, port) of the app as built and of its twin that sends every request through its stack."""
    with (
        twin_apps(tmp_path, clock) as (direct, twin),
        served_in_thread(direct) as port,
        served_in_thread(twin) as other,
    ):
        yield (direct, port), (twin, other)


def _answer_headers(answer: httpx.Response) -> list[tuple[str, str]]:
    return sorted((name, value) for name, value in answer.headers.items() if name != "date")


def test_answers_match_fastapis_own_stack_over_http(served):
    (direct, direct_port), (fastapi, fastapi_port) = served
    clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) for port in (direct_port, fastapi_port)]
    try:
        for what, headers, raw in CASES:
            mine, theirs = [client.post("/v1/placements", content=raw, headers=headers) for client in clients]
            assert mine.status_code == theirs.status_code, what
            assert mine.content == theirs.content, what
            assert _answer_headers(mine) == _answer_headers(theirs), what
    finally:
        for client in clients:
            client.close()
    assert _answers_by_status(direct) == _answers_by_status(fastapi)


def _request(body: bytes, *, version: str = "1.1", target: str = "/v1/placements", extra: bytes = b"") -> bytes:
    return (
        f"POST {target} HTTP/{version}\r\nhost: router\r\ncontent-type: application/json\r\n"
        f"authorization: {AUTH['Authorization']}\r\ncontent-length: {len(body)}\r\n".encode()
        + extra
        + b"\r\n"
        + body
    )


def _answers(port: int, sent: bytes, expect: int) -> tuple[list[bytes], bool]:
    """The heads of the ``expect`` answers to ``sent``, and whether the server closed the connection then."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(sent)
        received = b""
        while _complete(received) < expect:
            chunk = sock.recv(65536)
            assert chunk, f"closed after {received!r}"
            received += chunk
        sock.settimeout(0.5)
        try:
            closed = sock.recv(65536) == b""
        except TimeoutError:
            closed = False
    heads = [part.split(b"\r\n", 1)[0] for part in received.split(b"HTTP/1.")[1:]]
    return heads, closed


def test_pipelined_closing_and_old_requests_answered_whole_and_in_order(served):
    (_direct, port), _twin = served
    placed = _text(_body("p-1"))
    refused = _text({"request_id": "p-2"})
    pipelined = _request(placed) + _request(placed) + _request(refused) + b"GET /healthz HTTP/1.1\r\nhost: r\r\n\r\n"
    heads, closed = _answers(port, pipelined, 4)
    assert (heads, closed) == ([b"1 201 Created", b"1 200 OK", b"1 422 Unprocessable Entity", b"1 200 OK"], False)
    heads, closed = _answers(port, _request(_text(_body("p-3")), extra=b"connection: close\r\n"), 1)
    assert (heads, closed) == ([b"1 201 Created"], True)
    heads, closed = _answers(port, _request(_text(_body("p-4")), version="1.0"), 1)
    assert (heads, closed) == ([b"1 201 Created"], True)
    heads, closed = _answers(port, _request(_text(_body("p-5")), target="/v1/placements?x=1"), 1)
    assert (heads, closed) == ([b"1 201 Created"], False)
