"""The router's CPU per placement through the whole app, in-process, on PostgreSQL: a figure that load moves little.

    python -m bench.router_app_cpu [--placements 300] [--rounds 5] [--pg postgresql://postgres@127.0.0.1:5432/test]

The app is ``bench.router_floor``'s (the production ``create_app`` with its middleware, bearer auth, body
validation and answer), driven by raw ASGI calls: no client, no sockets, no uvicorn, so what is measured is the
router's own work per placement (its handler, the decision, the booking, the database driver, and the database
threads' CPU when it uses them) and nothing of the HTTP server or the load generator. Seeds ``bench.router_http``'s
10 clusters in a throwaway schema, warms up with 100 placements, then places one at a time in rounds (each round
after a fresh load snapshot, so the room never runs out), every other one with a 5Gi volume, as
``bench.router_http``'s wrk script does. Prints the process's CPU per placement (``time.process_time``) of each
round and the least of them: compare two versions back to back with it rather than wall times on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from dataclasses import replace
from typing import Any

import psycopg

from bench.router_fleet import TOKEN, seed_bodies
from bench.router_floor import bench_app
from placement.state import ClusterIn, ClusterLoadIn


def seed(store: Any, *, loads_only: bool) -> None:
    for cluster, load in seed_bodies():
        if not loads_only:
            store.add_cluster(ClusterIn.model_validate(cluster).to_model())
        # Observed now, as the router stamps a snapshot that has no time of its own.
        snapshot = replace(ClusterLoadIn.model_validate(load).to_model(), observed_at=store.clock())
        store.put_load(cluster["id"], snapshot)


async def place(app: Any, number: int) -> int:
    """One placement through the app; its HTTP status."""
    request_id = f"p-{number}"
    volumes = '{"size": "5Gi"}' if number % 2 == 0 else ""
    body = (
        f'{{"request_id": "{request_id}", "service_name": "{request_id}", '
        f'"request": {{"customer_id": "{request_id}", "ram": "256Mi", "volumes": [{volumes}]}}}}'
    ).encode()
    headers = [
        (b"host", b"router"),
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {TOKEN}".encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/placements",
        "raw_path": b"/v1/placements",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


async def measure(app: Any, placements: int, rounds: int) -> list[float]:
    store = app.state.store
    numbers = iter(range(1, 10**9))
    async with app.router.lifespan_context(app):
        for _ in range(100):
            if (code := await place(app, next(numbers))) != 201:
                raise RuntimeError(f"warm-up placement answered {code}")
        cpu_ms = []
        for _ in range(rounds):
            await asyncio.to_thread(seed, store, loads_only=True)
            started = time.process_time()
            for _ in range(placements):
                if (code := await place(app, next(numbers))) != 201:
                    raise RuntimeError(f"placement answered {code}")
            cpu_ms.append(1000 * (time.process_time() - started) / placements)
    return cpu_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--placements", type=int, default=300, help="placements per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    os.environ["CAPPLAN_TOKENS"] = TOKEN
    schema = f"bench_cpu_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        app = bench_app(f"{args.pg}?schema={schema}")
        seed(app.state.store, loads_only=False)
        try:
            cpu_ms = asyncio.run(measure(app, args.placements, args.rounds))
        finally:
            app.state.store.dispose()
    finally:
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    load = os.getloadavg()
    print(
        f"CPU per placement through the app: least {min(cpu_ms):.3f} ms of {args.rounds} rounds of {args.placements} "
        f"({', '.join(f'{ms:.3f}' for ms in cpu_ms)}); load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )


if __name__ == "__main__":
    main()
