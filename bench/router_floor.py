"""The router as ``bench.router_http`` serves it: the production app from ``create_app``, plus three routes that
exist only here: ``POST /bench/floor``, the framework floor; ``POST /bench/placement-floor``, a placement's HTTP
floor; and ``POST /bench/booking-floor``, a placement's two floors in one request.

    python -m bench.router_floor --db URL --port N [--workers N]     (bearer tokens from CAPPLAN_TOKENS)

The floor goes through everything a select-cluster goes through before and after the engine: the same
middleware (latency metrics, body limit), bearer authentication with the same dependency, a JSON body read and
validated by a pydantic model, and a JSON answer. It does nothing else. The server runs under uvicorn exactly as
``placement serve`` does (same switch interval, same uvicorn options: ``UVICORN_OPTIONS``): one worker in this
process, or with ``--workers N`` (N > 1) the database migrated once here and N uvicorn workers spawned by
``serve_workers``, each building its app with the production factory ``create_worker_app`` (multiprocess metrics,
its own store and fleet cache) and adding the floor routes to it.

The placement's HTTP floor is ``POST /v1/placements`` without the placement: the same ``DirectJSONRoute`` (so the
router's HTTP protocol answers it at the app's entry, as it answers placements), the same body models, the same bearer
check (a token with the ``api`` role) and an answer of the same shape, 201, serialised by the same function
(``placement_answer_json``): the request's ids with the cluster, node and reason a bench placement gets, and a 5Gi
volume when the body asks for one. No decision, no hold, no statement, no cache, no decision metrics.

The booking floor is the HTTP floor that also sends the database floor's statement (``bench.router_dbfloor``): the
statement a bench placement sends, captured in this process at the first request (the fleet seeded by then), renamed
for each request and sent through connections of its own as the database floor sends it (``send_on_loop``), then the
HTTP floor's answer. What a placement costs above it is the router's own work: the decision, the hold, the
statement's parameters, the cache and the metrics. (The renaming, ~40 parameters walked, is the floor's own work and
counts in its CPU; the router builds its parameters instead.) PostgreSQL only: on SQLite it answers 501.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import os
from typing import Any

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

# The placement floor's body, as an annotation FastAPI reads (this module's annotations are strings).
from placement.router.api import PlacementIn

FLOOR_PATH = "/bench/floor"
PLACEMENT_FLOOR_PATH = "/bench/placement-floor"
BOOKING_FLOOR_PATH = "/bench/booking-floor"
WORKER_APP_FACTORY = "bench.router_floor:worker_bench_app"


class FloorIn(BaseModel):
    """As much of a select-cluster body as the floor reads: the rest is ignored."""

    model_config = ConfigDict(extra="ignore")

    customer_id: str | None = None


class FloorOut(BaseModel):
    status: str
    customer_id: str | None


def bench_settings(db_url: str) -> Any:
    """The bench server's settings: tokens from CAPPLAN_TOKENS, select-cluster protected (so every run
    authenticates)."""
    from placement.router.config import settings_from_env

    return settings_from_env(db_url, protect_select=True)


def add_floor(app: FastAPI) -> FastAPI:
    """The framework floor's route, authenticated with the app's own tokens."""
    from placement.router.auth import BearerRole

    @app.post(FLOOR_PATH, dependencies=[Depends(BearerRole(app.state.settings.tokens))], include_in_schema=False)
    async def floor(body: FloorIn) -> FloorOut:
        return FloorOut(status="ok", customer_id=body.customer_id)

    add_placement_floors(app)
    return app


# What a bench placement on the seeded fleet answers (bench.router_fleet's first cluster, its first run node).
FLOOR_CLUSTER, FLOOR_QUEUE, FLOOR_NODE = "eu-west-1", "deployer-eu-west-1", "run-0"
FLOOR_REASON = (
    "eu-west-1: score 570 (region 100x3, ram_headroom 71x1, volume_headroom 100x1, control_plane_headroom 99x1); "
    "10/10 clusters fit"
)


def add_placement_floors(app: FastAPI) -> None:
    """A placement's HTTP floor and its booking floor (see the module's docstring), beside the app's own
    ``POST /v1/placements``."""
    from bench.router_dbfloor import FLOOR_NODES, Captured, capture_placements, renamed, send_on_loop
    from placement.router.answers import JSONBody, placement_answer_json
    from placement.router.api import PlacementFields
    from placement.router.auth import BearerRole
    from placement.router.db import loop_connect_args
    from placement.router.direct_route import DirectJSONRoute
    from placement.router.gate import DEFAULT_THREADS
    from placement.router.ledger import PlacedService, PlacedVolume
    from placement.router.loop_booking import LoopConnections
    from placement.units import GiB

    volume = (PlacedVolume("/data", 5 * GiB, 3),)

    def answer(body: PlacementIn) -> Response:
        placed = PlacedService(
            body.request_id,
            body.service_id or f"svc-{body.request_id}",
            FLOOR_CLUSTER,
            FLOOR_QUEUE,
            FLOOR_NODE,
            volume if body.request.volumes else (),
            FLOOR_REASON,
            (),
        )
        return JSONBody(placement_answer_json(placed), 201)

    async def placement_floor(body: PlacementIn) -> Response:
        return answer(body)

    engine = app.state.store.engine
    connect_args = loop_connect_args(engine)
    booking: list[tuple[list[Captured], LoopConnections]] = []  # made once, at the first request
    capturing = asyncio.Lock()
    numbers = itertools.count(1)
    tag = f"bf{os.getpid()}"

    async def booking_floor(body: PlacementIn) -> Response:
        if connect_args is None:
            raise HTTPException(501, "the booking floor needs PostgreSQL")
        if not booking:
            async with capturing:
                if not booking:
                    captured = await asyncio.to_thread(capture_placements, engine, tag)
                    booking.append((captured, LoopConnections(connect_args, DEFAULT_THREADS)))
        captured, pool = booking[0]
        number = next(numbers)
        placement = captured[1 if body.request.volumes else 0]  # as captured: without, with a volume
        await send_on_loop(pool, renamed(placement, f"{tag}-{number}", FLOOR_NODES[number % len(FLOOR_NODES)]))
        return answer(body)

    for path, endpoint in ((PLACEMENT_FLOOR_PATH, placement_floor), (BOOKING_FLOOR_PATH, booking_floor)):
        app.router.add_api_route(
            path,
            endpoint,
            methods=["POST"],
            route_class_override=functools.partial(DirectJSONRoute, plain_text_model=PlacementFields),
            status_code=201,
            dependencies=[Depends(BearerRole(app.state.settings.tokens, "api"))],
            include_in_schema=False,
        )


def bench_app(db_url: str, fleet_cache_seconds: float | None = None) -> FastAPI:
    """``fleet_cache_seconds``: how long the fleet stays cached (the store's default unless given)."""
    from placement.router.app import create_app
    from placement.router.store import open_store

    settings = bench_settings(db_url)
    cache = {} if fleet_cache_seconds is None else {"fleet_cache_seconds": fleet_cache_seconds}
    return add_floor(create_app(open_store(settings.db_url, **cache), settings))


def worker_bench_app() -> FastAPI:
    """uvicorn's app factory in each of ``--workers N``: the production worker's app, with the floor."""
    from placement.router.workers import create_worker_app

    return add_floor(create_worker_app())


def serve(app: Any, port: int, http: Any = None) -> None:
    """Under uvicorn as ``placement serve`` runs one worker (``http``: its HTTP protocol unless given)."""
    import uvicorn

    from placement.router.http_protocol import UVICORN_OPTIONS
    from placement.router.workers import keep_event_loop_responsive

    keep_event_loop_responsive()
    options = UVICORN_OPTIONS if http is None else {**UVICORN_OPTIONS, "http": http}
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", workers=1, **options)


def serve_bench_workers(
    db_url: str, port: int, workers: int, app_factory: str = WORKER_APP_FACTORY, http: Any = None
) -> None:
    """As ``placement serve --workers N`` runs them: the database migrated once here, then ``workers`` uvicorn
    workers from ``app_factory`` (``worker_bench_app`` unless given) on one socket."""
    from placement.router.store import open_store
    from placement.router.workers import serve_workers

    settings = bench_settings(db_url)
    open_store(settings.db_url).dispose()  # migrates, once, before any worker starts
    serve_workers(
        settings, workers=workers, host="127.0.0.1", port=port, log_level="warning", app_factory=app_factory, http=http
    )


def main() -> None:
    from bench.router_wrk import add_workers_option

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, required=True)
    add_workers_option(parser)
    args = parser.parse_args()
    if args.workers > 1:
        serve_bench_workers(args.db, args.port, args.workers)
    else:
        serve(bench_app(args.db), args.port)


if __name__ == "__main__":
    main()
