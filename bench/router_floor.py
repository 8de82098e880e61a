"""The router as ``bench.router_http`` serves it: the production app from ``create_app``, plus one route that
exists only here, ``POST /bench/floor``, the framework floor.

    python -m bench.router_floor --db URL --port N      (bearer tokens from CAPPLAN_TOKENS)

The floor goes through everything a select-cluster goes through before and after the engine: the same
middleware (latency metrics, body limit), bearer authentication with the same dependency, a JSON body read and
validated by a pydantic model, and a JSON answer. It does nothing else. The server runs under uvicorn exactly as
``placement serve`` does with one worker (same switch interval, same uvicorn options: ``UVICORN_OPTIONS``).
"""

from __future__ import annotations

import argparse
from typing import Any

from fastapi import Depends, FastAPI
from pydantic import BaseModel, ConfigDict

FLOOR_PATH = "/bench/floor"


class FloorIn(BaseModel):
    """As much of a select-cluster body as the floor reads: the rest is ignored."""

    model_config = ConfigDict(extra="ignore")

    customer_id: str | None = None


class FloorOut(BaseModel):
    status: str
    customer_id: str | None


def bench_app(db_url: str, fleet_cache_seconds: float | None = None) -> FastAPI:
    """``fleet_cache_seconds``: how long the fleet stays cached (the store's default unless given)."""
    from placement.router.app import create_app
    from placement.router.auth import BearerRole
    from placement.router.config import settings_from_env
    from placement.router.store import open_store

    settings = settings_from_env(db_url, protect_select=True)
    cache = {} if fleet_cache_seconds is None else {"fleet_cache_seconds": fleet_cache_seconds}
    app = create_app(open_store(settings.db_url, **cache), settings)

    @app.post(FLOOR_PATH, dependencies=[Depends(BearerRole(settings.tokens))], include_in_schema=False)
    async def floor(body: FloorIn) -> FloorOut:
        return FloorOut(status="ok", customer_id=body.customer_id)

    return app


def serve(app: Any, port: int, http: Any = None) -> None:
    """Under uvicorn as ``placement serve`` runs one worker (``http``: its HTTP protocol unless given)."""
    import uvicorn

    from placement.router.http_protocol import UVICORN_OPTIONS
    from placement.router.workers import keep_event_loop_responsive

    keep_event_loop_responsive()
    options = UVICORN_OPTIONS if http is None else {**UVICORN_OPTIONS, "http": http}
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", workers=1, **options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    serve(bench_app(args.db), args.port)


if __name__ == "__main__":
    main()
