"""The router as ``bench.router_http`` serves it: the production app from ``create_app``, plus one route that
exists only here, ``POST /bench/floor``, the framework floor.

    python -m bench.router_floor --db URL --port N [--workers N]     (bearer tokens from CAPPLAN_TOKENS)

The floor goes through everything a select-cluster goes through before and after the engine: the same
middleware (latency metrics, body limit), bearer authentication with the same dependency, a JSON body read and
validated by a pydantic model, and a JSON answer. It does nothing else. The server runs under uvicorn exactly as
``placement serve`` does (same switch interval, same uvicorn options: ``UVICORN_OPTIONS``): one worker in this
process, or with ``--workers N`` (N > 1) the database migrated once here and N uvicorn workers spawned by
``serve_workers``, each building its app with the production factory ``create_worker_app`` (multiprocess metrics,
its own store and fleet cache) and adding the floor route to it.
"""

from __future__ import annotations

import argparse
from typing import Any

from fastapi import Depends, FastAPI
from pydantic import BaseModel, ConfigDict

FLOOR_PATH = "/bench/floor"
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

    return app


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
