"""Well-formed requests to a JSON route answered at the app's entry, ahead of FastAPI's middleware and routing:
``POST /v1/placements``.

Through FastAPI a request passes a dozen ASGI layers on the way in and again on the way out (Starlette's error and
exception middleware, the app's body limit and latency timing, the routing, which tries the routes one by one), and
then FastAPI's route handler: the body's content type read through ``email.message``, the body parsed with
``json.loads``, the dependency tree solved (a ``Request`` and its headers for the bearer check, then the body's
model), the parsed dict validated, the endpoint run inside two ``AsyncExitStack``s. Profiled under paced placements
that was a fifth of the router's own CPU per placement, on the one thread every placement in flight shares.

``DirectRoutesApp`` answers a well-formed request to a ``DirectJSONRoute`` itself: an ``application/json`` body
whose ``Content-Length`` the app's body limit admits, a bearer token that every bearer check of the route admits,
a body that the route's model accepts from its JSON text (pydantic's ``model_validate_json``, one pass over the raw
bytes; a body of plain text checked by the route's ``plain_text_model``), no dependency overrides. It awaits the
endpoint with the model, turns what the endpoint raises into the answer of the app's own exception handler for it,
sends the answer and times it as the app's latency middleware does (the route's path template, method and
status). Anything else (another content type, a chunked or too large body, a missing or refused token, a body the
model refuses, invalid JSON) goes through the app as usual, with the body already read given back, so those answers
(401/403, 413, 422 with FastAPI's errors, 400) are the app's own.
The route is declared as any other: the OpenAPI document and those answers are FastAPI's.

Served by the router's HTTP protocol (``placement.router.http_protocol``), such a request does not reach the app's
entry at all: the protocol asks ``direct_route``, ``admits`` and ``validated`` the same questions and answers it
with the endpoint's answer itself, or hands it to the app as here.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from placement.router.auth import BearerRole

JSON = b"application/json"
# (method, route's path template, status, seconds): what the app's latency middleware records for a request
Timing = Callable[[str, str, int, float], None]


class DirectJSONRoute(APIRoute):
    """For an endpoint ``async def f(body: Model) -> Response`` whose dependencies are ``BearerRole`` checks.

    ``plain_text_model``: a base of ``Model`` with the same fields, without ``Model``'s checks of text that a body of
    plain text (``is_plain_text``) cannot fail; such a body is validated with it (the endpoint gets an instance of
    it). None: every body is validated with ``Model``."""

    def __init__(self, path: str, endpoint: Any, *, plain_text_model: type[BaseModel] | None = None, **kwargs: Any):
        super().__init__(path, endpoint, **kwargs)
        dependant = self.dependant
        checks = [dependency.call for dependency in dependant.dependencies]
        body = dependant.body_params
        if (
            len(body) != 1
            or not isinstance(body[0].field_info.annotation, type)
            or not issubclass(body[0].field_info.annotation, BaseModel)
            or dependant.path_params
            or dependant.query_params
            or dependant.header_params
            or dependant.cookie_params
            or not all(isinstance(check, BearerRole) for check in checks)
            or getattr(self, "max_body_size", None) is not None  # FastAPI's own limit wraps its handler only
        ):
            raise TypeError(f"{path}: DirectJSONRoute takes one JSON body model, bearer checks, no max_body_size")
        self.body_model: type[BaseModel] = body[0].field_info.annotation
        plain = self.body_model if plain_text_model is None else plain_text_model
        if not issubclass(self.body_model, plain) or _rules(plain) != _rules(self.body_model):
            raise TypeError(f"{path}: plain_text_model must be a base of the body's model with the same fields")
        self.plain_text_model = plain
        self.body_name = body[0].name
        self.bearer_checks: list[BearerRole] = checks  # type: ignore[assignment]

    def admits(self, authorization: str | None) -> bool:
        """Every bearer check of the route lets a request with this Authorization header through."""
        return all(check.admits(authorization) for check in self.bearer_checks)


class DirectRoutesApp(FastAPI):
    """FastAPI whose ``DirectJSONRoute``s' well-formed requests are answered at its entry (see the module's
    docstring). ``max_body_bytes`` and ``timing``: the app's body limit and latency timing, which those requests
    do not pass through."""

    def __init__(self, *, max_body_bytes: int, timing: Timing, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_body_bytes = max_body_bytes
        self.timing = timing
        self.direct_routes: dict[tuple[str, str], DirectJSONRoute] | None = None  # found at the first request

    def direct_route(self, method: str, path: str) -> DirectJSONRoute | None:
        """The ``DirectJSONRoute`` that answers a request to ``method`` ``path`` at the app's entry, if any (none
        under a root path or with dependency overrides)."""
        if self.root_path or self.dependency_overrides:
            return None
        routes = self.direct_routes
        if routes is None:
            routes = self.direct_routes = {
                (method, route.path): route
                for route in self.routes
                if isinstance(route, DirectJSONRoute)
                for method in route.methods
            }
        return routes.get((method, path))

    def admits(self, route: DirectJSONRoute, headers: list[tuple[bytes, bytes]]) -> bool:
        """A request with these headers (ASGI's: names in lower case) is answered directly once its body is read:
        an ``application/json`` body whose length the body limit admits, and a token every bearer check admits."""
        content_type = length = authorization = None
        for name, value in headers:
            if name == b"content-type":
                content_type = value
            elif name == b"content-length":
                length = value
            elif name == b"authorization":
                authorization = value
        return (
            content_type is not None
            and content_type.lower() == JSON
            and length is not None
            and length.isdigit()
            and int(length) <= self.max_body_bytes
            and route.admits(None if authorization is None else authorization.decode("latin-1"))
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            route = self.direct_route(scope["method"], scope["path"])
            if route is not None:
                await self._direct(route, scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def _direct(self, route: DirectJSONRoute, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        if not self.admits(route, scope["headers"]):
            await super().__call__(scope, receive, send)
            return
        read: list[Message] = []
        while True:
            message = await receive()
            read.append(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        model = _body_model(route, read)
        if model is None:
            await super().__call__(scope, _replaying(read, receive), send)
            return
        try:
            answer: Response | BaseException = await route.endpoint(**{route.body_name: model})
        except Exception as error:
            answer = error
        await self.respond(route, started, answer, scope, receive, send)

    async def respond(
        self,
        route: DirectJSONRoute,
        started: float,
        answer: Response | BaseException,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """Send the endpoint's answer, or the app's answer to what it raised, and time it from ``started``."""
        status = 500  # as the latency middleware records an answer never started
        try:
            response = (
                await self._handled(answer, scope, receive, send) if isinstance(answer, BaseException) else answer
            )
            status = response.status_code
            await response(scope, receive, send)
        finally:
            self.timing(scope["method"], route.path, status, time.perf_counter() - started)

    async def _handled(self, error: BaseException, scope: Scope, receive: Receive, send: Send) -> Response:
        """The answer of the app's handler for ``error``, found as Starlette's exception middleware finds it;
        ``error`` itself when the app has none (uvicorn answers 500, as Starlette's error middleware would)."""
        # Starlette's error middleware, not its exception middleware, holds the handler for 500 and Exception.
        handlers = {key: value for key, value in self.exception_handlers.items() if key not in (500, Exception)}
        handler = handlers.get(error.status_code) if isinstance(error, HTTPException) else None
        if handler is None:
            handler = next((handlers[cls] for cls in type(error).__mro__ if cls in handlers), None)
        if handler is None:
            raise error
        request = Request(scope, receive, send)
        if inspect.iscoroutinefunction(handler):
            return await handler(request, error)
        return await run_in_threadpool(handler, request, error)


def _rules(model: type[BaseModel]) -> dict[str, str]:
    return {name: repr(field) for name, field in model.model_fields.items()}


def _body_model(route: DirectJSONRoute, read: list[Message]) -> BaseModel | None:
    """The body's model when the body was read whole (the client did not leave) and the model accepts it."""
    if read[-1]["type"] != "http.request":
        return None
    return validated(route, b"".join(message.get("body", b"") for message in read))


def validated(route: DirectJSONRoute, body: bytes) -> BaseModel | None:
    """The route's model of a whole body, when the model accepts it."""
    if not body:
        return None
    try:
        model = route.plain_text_model if is_plain_text(body) else route.body_model
        return model.model_validate_json(body)
    except ValidationError:
        return None


def is_plain_text(body: bytes) -> bool:
    """Every string of this JSON text is NUL-free UTF-8 as it stands: the text is ASCII, has no NUL byte and no
    ``\\u`` escape (the only way JSON writes a NUL character or a lone surrogate)."""
    return body.isascii() and b"\\u" not in body and b"\x00" not in body


def _replaying(read: list[Message], receive: Receive) -> Receive:
    """``receive`` that first gives back the messages already read."""
    pending = list(reversed(read))

    async def replay() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replay
