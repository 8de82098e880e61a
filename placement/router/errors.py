"""What a 4xx answer may say about the input that caused it: a short, always-encodable prefix, never all of it.

FastAPI's own 422 echoes the offending input whole: a 10 MB field came back as 10 MB, a lone surrogate could not be
encoded as UTF-8 and a NaN not as JSON, and both turned the 422 into a 500. Here each error keeps its ``loc``,
``msg`` and ``type`` (FastAPI's shape) and an ``input`` preview that is short, valid UTF-8 and valid JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import HTTPException, status
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PREVIEW_CHARS = 64
MESSAGE_CHARS = 300


def preview_text(text: str, limit: int = PREVIEW_CHARS) -> str:
    """At most ``limit`` characters of ``text``, unencodable ones (lone surrogates) escaped, and '…' if cut."""
    cut = text[:limit]
    safe = cut.encode("utf-8", "backslashreplace").decode("utf-8")
    return safe + ("…" if len(text) > limit else "")


def preview(value: Any) -> Any:
    """A JSON-safe, short stand-in for a bad input value."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        # Python refuses to print integers of more than 4300 digits; and such a number is no use to read.
        return value if value.bit_length() <= 64 else f"<a {value.bit_length()}-bit integer>"
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return preview_text(value)
    if isinstance(value, Mapping):
        return f"<an object with {len(value)} keys>"
    if isinstance(value, list | tuple):
        return f"<an array of {len(value)} items>"
    return preview_text(type(value).__name__)


def safe_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """pydantic's errors as FastAPI shows them (``loc``, ``msg``, ``type``, ``input``), made short and encodable."""
    shown = []
    for error in errors:
        item = {
            "loc": [part if isinstance(part, int) else preview_text(str(part)) for part in error.get("loc", ())],
            "msg": preview_text(str(error.get("msg", "")), MESSAGE_CHARS),
            "type": preview_text(str(error.get("type", "")), PREVIEW_CHARS),
        }
        if "input" in error:
            item["input"] = preview(error["input"])
        shown.append(item)
    return shown


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413: by Content-Length before reading, and while reading
    (a chunked body has no length to check first). Pure ASGI, so nothing is buffered beyond the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = f"request body larger than {self.max_bytes} bytes"
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _send_json(send, 413, too_large)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI passes an HTTPException raised while reading the body on to its handler as it is.
                    raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, too_large)
            return message

        await self.app(scope, limited, send)


async def _send_json(send: Send, code: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
