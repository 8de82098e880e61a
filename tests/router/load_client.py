"""A load client for the race tests: one process that fires all its requests at once over real HTTP."""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import httpx

# (method, path, JSON body or None)
Call = tuple[str, str, dict | None]


def _json(response: httpx.Response) -> dict:
    try:
        return response.json()
    except ValueError:
        return {"text": response.text[:200]}


def request_all(base_url: str, calls: list[Call], headers: dict[str, str]) -> list[tuple[int, dict]]:
    """Send every call concurrently, one connection each; return (status, json) per call, in order."""

    async def run() -> list[tuple[int, dict]]:
        limits = httpx.Limits(max_connections=len(calls), max_keepalive_connections=len(calls))
        async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
            responses = await asyncio.gather(
                *(client.request(method, path, json=body, headers=headers) for method, path, body in calls)
            )
        return [(r.status_code, _json(r)) for r in responses]

    return asyncio.run(run())


def post_all(base_url: str, path: str, bodies: list[dict], headers: dict[str, str]) -> list[tuple[str, int, dict]]:
    """POST every body concurrently; return (request_id, status, json) per body, in order."""
    results = request_all(base_url, [("POST", path, b) for b in bodies], headers)
    return [(b["request_id"], status, answer) for b, (status, answer) in zip(bodies, results, strict=True)]


def request_from_processes(
    base_url: str, calls: list[Call], headers: dict[str, str], processes: int
) -> list[tuple[int, dict]]:
    """``request_all`` split over ``processes`` client processes (interleaved); results in the calls' order."""
    chunks = [calls[i::processes] for i in range(processes)]
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = list(pool.map(request_all, [base_url] * processes, chunks, [headers] * processes))
    results: list[tuple[int, dict]] = [(0, {})] * len(calls)
    for offset, part in enumerate(parts):
        results[offset::processes] = part
    return results
