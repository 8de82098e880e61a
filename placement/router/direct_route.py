"""A FastAPI route whose well-formed requests skip FastAPI's per-request machinery: ``POST /v1/placements``.

For every request FastAPI's route handler reads the body, decides from the content type whether it is JSON (through
``email.message``), parses it with ``json.loads``, solves the dependency tree (the bearer check, then the body's
model), validates the parsed dict, and runs the endpoint inside two ``AsyncExitStack``s of its own. Profiled under
paced placements that was about a third of the router's CPU above the placement's own work, on the one thread
every placement in flight shares.

``DirectJSONRoute`` answers a well-formed request itself: a non-empty ``application/json`` body that the route's
body model accepts from its JSON text (pydantic's ``model_validate_json``, one pass over the raw bytes), no
dependency overrides. It then runs the route's bearer dependencies as FastAPI would (a refused token raises the same
401/403), and awaits the endpoint with the model. Anything else (another content type, a body the model refuses,
invalid JSON) goes to FastAPI's own handler with the body already read, so those answers (422 with FastAPI's errors,
400, 401/403 in FastAPI's order) are FastAPI's. The route is declared as any other: the OpenAPI document, the
middleware (metrics, body limit) and the exception handlers are the app's.
"""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from placement.router.auth import BearerRole

JSON = b"application/json"


class DirectJSONRoute(APIRoute):
    """For an endpoint ``async def f(body: Model) -> Response`` whose dependencies are ``BearerRole`` checks."""

    def __init__(self, path: str, endpoint: Any, **kwargs: Any) -> None:
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
        self.body_name = body[0].name
        self.bearer_checks: list[BearerRole] = checks  # type: ignore[assignment]
        self.fastapi_app = self.app  # FastAPI's handler, for every request not answered here
        self.app = self._direct

    async def _direct(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        body = await request.body()
        model = self._model(scope, body)
        if model is None:
            await self.fastapi_app(scope, _replaying(body, receive), send)
            return
        for check in self.bearer_checks:
            await check(request)
        response: Response = await self.endpoint(**{self.body_name: model})
        await response(scope, receive, send)

    def _model(self, scope: Scope, body: bytes) -> BaseModel | None:
        """The body's model when this route answers the request itself, else None."""
        overrides = self.dependency_overrides_provider
        if not body or (overrides is not None and getattr(overrides, "dependency_overrides", None)):
            return None
        content_type = next((value for name, value in scope["headers"] if name == b"content-type"), None)
        if content_type is None or content_type.lower() != JSON:
            return None
        try:
            return self.body_model.model_validate_json(body)
        except ValidationError:
            return None


def _replaying(body: bytes, receive: Receive) -> Receive:
    """``receive`` that first gives back the body already read."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replay
