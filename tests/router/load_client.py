"""A load client for the race tests: one process that fires all its requests at once over real HTTP."""

from __future__ import annotations

import asyncio

import httpx


def post_all(base_url: str, path: str, bodies: list[dict], headers: dict[str, str]) -> list[tuple[str, int, dict]]:
    """POST every body concurrently; return (request_id, status, json) per body, in order."""

    async def run() -> list[tuple[str, int, dict]]:
        limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=len(bodies))
        async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
            responses = await asyncio.gather(*(client.post(path, json=b, headers=headers) for b in bodies))
        return [(b["request_id"], r.status_code, r.json()) for b, r in zip(bodies, responses, strict=True)]

    return asyncio.run(run())
