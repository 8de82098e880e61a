"""The router's FastAPI app: the engine's decision over HTTP, placements with atomic reservations.

Handlers are ``async``; every database call runs in the thread pool under a deadline, so an unreachable
database is answered 503 in bounded time, and the next request simply tries again (the connection pool
pre-pings, so the service recovers on its own when the database is back).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Annotated, Any

import pydantic_core
from fastapi import Depends, FastAPI, HTTPException, Path, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from placement.router.answers import DecisionAnswers, JSONBody, decision_body, placement_answer_json
from placement.router.api import (
    DECIDED_LINKS,
    ID_LENGTH,
    ID_PATTERN,
    PLACED_LINKS,
    RELEASED_LINKS,
    ClusterPatch,
    ClusterViewOut,
    DecisionOut,
    LoadAccepted,
    NothingFitsOut,
    PlacementConflictOut,
    PlacementFields,
    PlacementIn,
    PlacementOut,
    Problem,
    ReleaseOut,
    ServiceOut,
    StorableClusterIn,
    StorableLoadIn,
    StorableRequestIn,
    cluster_body,
)
from placement.router.auth import BearerRole
from placement.router.config import Role, RouterSettings
from placement.router.direct_route import DirectJSONRoute, DirectRoutesApp
from placement.router.errors import BodyLimit, preview_text, safe_errors
from placement.router.fleet_page import add_fleet_page
from placement.router.forecast_api import add_forecast_routes, forecast_for_scrape, forecast_gauges
from placement.router.gate import DatabaseGate, DatabaseUnavailable
from placement.router.loop_booking import LoopPlacements
from placement.router.metrics import LatencyMiddleware, RouterMetrics
from placement.router.refill import CacheFiller
from placement.router.store import (
    ClusterExists,
    Contention,
    NothingFits,
    PlacementOrder,
    PlacementReleased,
    RequestIdReused,
    ServiceIdTaken,
    ServiceReleased,
    SnapshotFromTheFuture,
    Store,
    TaskQueueInUse,
    UnknownCluster,
    UnknownPlacement,
    UnknownStorageProvider,
)
from placement.router.views import cluster_view
from placement.state import CLUSTER_ID_LENGTH, CLUSTER_ID_PATTERN, ClusterIn

ClusterId = Annotated[str, Path(max_length=CLUSTER_ID_LENGTH, pattern=CLUSTER_ID_PATTERN)]
ServiceId = Annotated[str, Path(max_length=ID_LENGTH, pattern=ID_PATTERN)]


def _problem(code: int, detail: str) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Problem, "description": detail}}


AUTH_RESPONSES = {
    **_problem(401, "missing bearer token"),
    **_problem(403, "an unknown token, or one without the role this endpoint needs"),
}
DB_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {
        "model": Problem,
        "description": "the database is unreachable, or did not answer in time: retry (a placement with the same "
        "request id)",
        "headers": {
            "Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}},
        },
    }
}
BODY_RESPONSES = {
    **_problem(400, "the request body cannot be read as JSON text (not UTF-8)"),
    **_problem(413, "the request body is larger than the router reads (--max-body-bytes)"),
}


def create_app(store: Store, settings: RouterSettings | None = None, *, multiprocess_metrics: bool = False) -> FastAPI:
    """The app over an open ``Store``. ``settings`` holds the tokens and the select-cluster protection.

    ``multiprocess_metrics``: one of ``serve --workers N``'s workers; ``/metrics`` sums over all of them.
    """
    settings = settings or RouterSettings(db_url=str(store.engine.url))
    metrics = RouterMetrics(multiprocess=multiprocess_metrics)
    gate = DatabaseGate(settings.db_deadline_seconds)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await placing.close()
        filler.close()
        gate.shutdown()
        metrics.process_exited()

    app = DirectRoutesApp(
        max_body_bytes=settings.max_body_bytes,
        timing=metrics.observe_request,
        lifespan=lifespan,
        title="capplan router",
        version="1",
        description="Cluster placement for the k3s PaaS: select_cluster over HTTP, with atomic reservations.",
        # The router's metrics are its own Prometheus registry. FastAPI's OpenTelemetry hooks asked three providers
        # per request whether anyone listened: ~4 % of a placement's CPU in the router, profiled.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.store = store
    app.state.settings = settings
    app.state.metrics = metrics
    app.add_middleware(LatencyMiddleware, metrics=metrics)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)

    app.state.gate = gate
    db = gate.call
    answers = DecisionAnswers(store.policy)
    placing = LoopPlacements(store, gate, lambda decision: metrics.record_decision_on_loop("placements", decision))
    filler = CacheFiller(store, gate, placing)

    def need(role: Role | None) -> Any:
        """A dependency that lets a request through with a known token that has ``role`` (any, when None)."""
        return Depends(BearerRole(settings.tokens, role))

    # select-cluster only decides: open unless configured, then any known token. The OpenAPI document shows
    # the token requirement exactly where it applies.
    select_guard = [need(None)] if settings.protect_select else []
    select_auth = AUTH_RESPONSES if settings.protect_select else {}

    @app.exception_handler(DatabaseUnavailable)
    async def _db_down(_request: Request, error: DatabaseUnavailable) -> JSONResponse:
        metrics.db_unavailable.inc()
        return JSONResponse({"detail": str(error)}, status_code=503, headers={"Retry-After": "1"})

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": safe_errors(error.errors())}, status_code=422)

    @app.exception_handler(UnknownCluster)
    async def _unknown_cluster(_request: Request, error: UnknownCluster) -> JSONResponse:
        return JSONResponse({"detail": f"unknown cluster {preview_text(error.args[0])!r}"}, status_code=404)

    @app.exception_handler(SnapshotFromTheFuture)
    async def _future_snapshot(_request: Request, error: SnapshotFromTheFuture) -> JSONResponse:
        # FastAPI's own 422 shape, naming the field.
        problem = {"loc": ["body", "observed_at"], "msg": str(error), "type": "value_error"}
        return JSONResponse({"detail": [problem]}, status_code=422)

    @app.exception_handler(UnknownStorageProvider)
    async def _unknown_provider(_request: Request, error: UnknownStorageProvider) -> JSONResponse:
        # The providers are the loaded limits profile's; FastAPI's own 422 shape, naming the field.
        problem = {"loc": ["body", "storage_provider"], "msg": str(error), "type": "value_error"}
        return JSONResponse({"detail": [problem]}, status_code=422)

    @app.exception_handler(NothingFits)
    async def _nothing_fits(_request: Request, error: NothingFits) -> JSONResponse:
        body = {"detail": error.decision.reason, "decision": decision_body(error.decision, error.request)}
        return JSONResponse(body, status_code=409)

    # --- decisions ---------------------------------------------------------------------------------------

    @app.post(
        "/v1/select-cluster",
        tags=["placement"],
        dependencies=select_guard,
        response_model=DecisionOut,
        operation_id="select_cluster",
        responses={
            200: {"description": "the engine's decision", "links": DECIDED_LINKS},
            **select_auth,
            **DB_RESPONSES,
            **BODY_RESPONSES,
            409: {"model": NothingFitsOut, "description": "nothing fits, or a quota refused the request"},
        },
        summary="Dry run: the engine's full decision, with per-cluster reasons and scores",
        description=(
            "Accepts the design document's `SelectClusterInput{Region, HasVolume}` as `{region, has_volume}`: "
            "a missing `ram` or volume `size` is the plan's default from the policy. Without `customer_id` the "
            "customer's volume quota is not checked, and `customer_quota_checked` is false."
        ),
    )
    async def select_cluster_endpoint(body: StorableRequestIn) -> Response:
        # Most dry runs need no database read (the fleet and the customer's volume count are cached): those skip
        # the thread hop, but only while the database answers, so an outage is reported as one rather than hidden
        # behind the cache. Their answers are kept per fleet version (DecisionAnswers).
        model = store.request_model(body)
        hit = await filler.from_cache(body, model)
        payload = None
        if hit is not None:
            counted, cached = hit
            now = store.clock()
            answer = answers.get(cached.version, counted, body, now)
            if answer is None:
                answer = answers.put(
                    cached.version, counted, body, now, store.decide_on(counted, cached, now), cached.fleet
                )
            decision, payload = answer.decision, answer.body
        else:
            decision = await db(store.decide, body, None, model)
        metrics.record_decision_on_loop("select", decision)
        if not decision.placed:
            raise NothingFits(decision, body)
        # Serialised here, once: FastAPI would validate the dict against the model and encode it again.
        payload = payload or pydantic_core.to_json(decision_body(decision, body))
        return JSONBody(payload)

    def place_and_count(order: PlacementOrder) -> Any:
        # Counted in the database thread: a placement made after its caller stopped waiting (a 503) still
        # counts, once; its retry is a replay, which decides nothing.
        try:
            placement = store.place(order)
        except NothingFits as error:
            metrics.record_decision("placements", error.decision)
            raise
        if placement.decision is not None:
            metrics.record_decision("placements", placement.decision)
        return placement

    async def create_placement(body: PlacementIn) -> Response:
        order = PlacementOrder(body.request_id, body.service_name, body.request, body.repo, body.service_id)
        await filler.ready()  # the fleet read once for all placements, outside their transactions
        try:
            # From the event loop when it can (PostgreSQL, decided on the cached fleet), else a database thread.
            placement = await placing.place(order) or await db(place_and_count, order)
        except (RequestIdReused, ServiceIdTaken) as error:
            raise HTTPException(409, str(error)) from error
        except PlacementReleased as error:
            raise HTTPException(410, str(error)) from error
        except Contention as error:
            raise HTTPException(503, str(error), headers={"Retry-After": "1"}) from error
        # Serialised here, once (PlacementOut is the documented shape): FastAPI would validate it again.
        code = status.HTTP_200_OK if placement.replayed else status.HTTP_201_CREATED
        return JSONBody(placement_answer_json(placement.placed), code)

    # The router's hottest route: a well-formed request is answered at the app's entry (DirectRoutesApp).
    app.router.add_api_route(
        "/v1/placements",
        create_placement,
        methods=["POST"],
        route_class_override=functools.partial(DirectJSONRoute, plain_text_model=PlacementFields),
        tags=["placement"],
        status_code=status.HTTP_201_CREATED,
        dependencies=[need("api")],
        response_model=PlacementOut,
        operation_id="create_placement",
        responses={
            **AUTH_RESPONSES,
            **DB_RESPONSES,
            **BODY_RESPONSES,
            201: {"description": "placed and reserved", "links": PLACED_LINKS},
            200: {
                "model": PlacementOut,
                "description": "a replay of a request id whose placement holds: the first answer",
                "links": PLACED_LINKS,
            },
            409: {
                "model": PlacementConflictOut,
                "description": "nothing fits or a quota refused it (with the decision), the request id was used with "
                "another body, or an active placement holds the service id",
            },
            **_problem(410, "the request id's placement was released: place again with a new request id"),
        },
        summary="Decide and atomically reserve; idempotent by request id",
    )

    @app.delete(
        "/v1/placements/{service_id}",
        tags=["placement"],
        dependencies=[need("api")],
        operation_id="release_placement",
        responses={
            **AUTH_RESPONSES,
            **DB_RESPONSES,
            **_problem(404, "unknown placement"),
            200: {"description": "released now, or released before (released: false)", "links": RELEASED_LINKS},
        },
        summary="Release what a placement reserved",
    )
    async def release_placement(service_id: ServiceId) -> ReleaseOut:
        try:
            released = await db(store.release, service_id)
        except UnknownPlacement as error:
            raise HTTPException(404, f"unknown placement {service_id!r}") from error
        except Contention as error:
            raise HTTPException(503, str(error), headers={"Retry-After": "1"}) from error
        return ReleaseOut(service_id=service_id, released=released)

    @app.get(
        "/v1/services/{service_id}",
        tags=["placement"],
        response_model=ServiceOut,
        dependencies=[need("api")],
        responses={
            **AUTH_RESPONSES,
            **DB_RESPONSES,
            **_problem(404, "no service was ever placed with this id"),
            **_problem(410, "the service's placement was released"),
        },
        summary="Where a service lives: its cluster, task queue, region, node and volumes",
        description=(
            "The design document's `getClusterForService`: deploys go to `task_queue`. A draining cluster's "
            "services still resolve. A released service is 410 Gone (it lived here once), an unknown id 404."
        ),
    )
    async def get_service(service_id: ServiceId) -> Any:
        try:
            return await db(store.service, service_id)
        except UnknownPlacement as error:
            raise HTTPException(404, f"unknown service {service_id!r}") from error
        except ServiceReleased as error:
            raise HTTPException(
                410, f"service {service_id!r} was released at {error.released_at.isoformat()}"
            ) from error

    # --- clusters ----------------------------------------------------------------------------------------

    # Stored clusters are shown as stored (ClusterIn.from_model does not validate them again): a row written under
    # older rules must not turn a read into a 500.
    @app.get("/v1/clusters", tags=["clusters"], responses=DB_RESPONSES)
    async def list_clusters() -> list[ClusterIn]:
        return [ClusterIn.from_model(c) for c in await db(store.list_clusters)]

    async def add_cluster(body: StorableClusterIn) -> ClusterIn:
        try:
            cluster = await db(store.add_cluster, body.to_model())
        except ClusterExists as error:
            raise HTTPException(409, str(error)) from error
        return ClusterIn.from_model(cluster)

    # The body's storage providers are the loaded profile's, so the OpenAPI document lists exactly those.
    add_cluster.__annotations__["body"] = cluster_body(tuple(store.policy.limits.storage))
    app.post(
        "/v1/clusters",
        tags=["clusters"],
        status_code=status.HTTP_201_CREATED,
        dependencies=[need("admin")],
        responses={
            **AUTH_RESPONSES,
            **DB_RESPONSES,
            **BODY_RESPONSES,
            **_problem(409, "the id or task queue is taken"),
        },
    )(add_cluster)

    @app.get(
        "/v1/clusters/{cluster_id}",
        tags=["clusters"],
        response_model=ClusterViewOut,
        responses={**DB_RESPONSES, **_problem(404, "unknown cluster")},
        summary="A cluster's load, headroom against every limit, and its snapshot's age",
    )
    async def get_cluster(cluster_id: ClusterId) -> dict[str, Any]:
        cluster, load, reserved = await db(store.cluster_state, cluster_id)
        return cluster_view(cluster, load, reserved, store.policy, store.clock())

    @app.patch(
        "/v1/clusters/{cluster_id}",
        tags=["clusters"],
        dependencies=[need("admin")],
        responses={
            **AUTH_RESPONSES,
            **DB_RESPONSES,
            **BODY_RESPONSES,
            **_problem(404, "unknown cluster"),
            **_problem(409, "the task queue is in use by the cluster's services, or by another cluster"),
        },
        summary="Set a cluster's status (only active takes new services; provisioning: on order) or its task queue",
    )
    async def patch_cluster(cluster_id: ClusterId, body: ClusterPatch) -> ClusterIn:
        try:
            cluster = await db(store.patch_cluster, cluster_id, body.status, body.task_queue)
        except TaskQueueInUse as error:
            raise HTTPException(409, str(error)) from error
        return ClusterIn.from_model(cluster)

    @app.put(
        "/v1/clusters/{cluster_id}/load",
        tags=["clusters"],
        dependencies=[need("collector")],
        responses={**AUTH_RESPONSES, **DB_RESPONSES, **BODY_RESPONSES, **_problem(404, "unknown cluster")},
        summary="Set the cluster's load snapshot (observed_at defaults to now)",
    )
    async def put_load(cluster_id: ClusterId, body: StorableLoadIn) -> LoadAccepted:
        load = body.to_model()
        if load.observed_at is None:
            load = replace(load, observed_at=store.clock())
        # The body as received is the stored document: the load is not converted back to validate it again.
        await db(store.put_load, cluster_id, load, body.model_dump(mode="json"))
        return LoadAccepted(cluster_id=cluster_id, observed_at=load.observed_at.isoformat())

    add_forecast_routes(app, store.engine, db, store.clock, DB_RESPONSES)
    add_fleet_page(app, store, db, settings, DB_RESPONSES)

    # --- operations --------------------------------------------------------------------------------------

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], responses=DB_RESPONSES)
    async def readyz() -> dict[str, str]:
        await db(store.ping)
        return {"status": "ready", "database": store.backend}

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def prometheus_metrics() -> Response:
        forecast = await forecast_for_scrape(db, store.engine)  # read per scrape: any worker answers the same
        return Response(metrics.exposition(forecast_gauges(forecast, store.clock())), media_type=CONTENT_TYPE_LATEST)

    return app
