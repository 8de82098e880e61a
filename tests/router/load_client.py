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


# The status recorded for a call that got no answer (the connection failed): retried as a 503 is.
NO_ANSWER = 0


class Answers(list):
    """(status, json) per call, in order; ``unavailable`` counts the 503 answers that were retried, and
    ``retried`` holds the indices of the calls that were, for a 503 or for no answer (their first outcome unknown)."""

    unavailable = 0

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.retried: set[int] = set()


def request_all(base_url: str, calls: list[Call], headers: dict[str, str], retries: int = 5) -> Answers:
    """Send every call concurrently, one connection each; return (status, json) per call, in order.

    A 503 means "outcome unknown, retry the same call" (the router's contract): calls answered 503 are sent
    again, all at once, after the Retry-After second, up to ``retries`` rounds. A loaded machine can push a
    database call past the router's deadline; the retried call must then come out as if it had been sent once.
    So is a call that got no answer (``NO_ANSWER``): when a first round takes longer than the server's keep-alive
    timeout, the retries' reused connections may be closing under them (an HTTP client's race, not the router's).
    """

    async def call(client: httpx.AsyncClient, index: int) -> tuple[int, dict]:
        method, path, body = calls[index]
        try:
            response = await client.request(method, path, json=body, headers=headers)
        except httpx.TransportError as error:
            return NO_ANSWER, {"error": f"{type(error).__name__}: {error}"}
        return response.status_code, _json(response)

    async def run() -> Answers:
        limits = httpx.Limits(max_connections=len(calls), max_keepalive_connections=len(calls))
        results = Answers([(NO_ANSWER, {})] * len(calls))
        pending = list(range(len(calls)))
        async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
            for round_ in range(retries + 1):
                if round_:
                    await asyncio.sleep(1)
                answers = await asyncio.gather(*(call(client, i) for i in pending))
                for index, answer in zip(pending, answers, strict=True):
                    results[index] = answer
                pending = [i for i in pending if results[i][0] in (503, NO_ANSWER)]
                if not pending or round_ == retries:
                    break
                results.unavailable += sum(results[i][0] == 503 for i in pending)
                results.retried.update(pending)
        return results

    return asyncio.run(run())


def post_all(base_url: str, path: str, bodies: list[dict], headers: dict[str, str]) -> Answers:
    """POST every body concurrently; return (request_id, status, json) per body, in order."""
    results = request_all(base_url, [("POST", path, b) for b in bodies], headers)
    answers = Answers((b["request_id"], status, answer) for b, (status, answer) in zip(bodies, results, strict=True))
    answers.unavailable = results.unavailable
    answers.retried = results.retried
    return answers


def request_from_processes(base_url: str, calls: list[Call], headers: dict[str, str], processes: int) -> Answers:
    """``request_all`` split over ``processes`` client processes (interleaved); results in the calls' order."""
    chunks = [calls[i::processes] for i in range(processes)]
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = list(pool.map(request_all, [base_url] * processes, chunks, [headers] * processes))
    results = Answers([(NO_ANSWER, {})] * len(calls))
    for offset, part in enumerate(parts):
        results[offset::processes] = part
        results.unavailable += part.unavailable
        results.retried.update(offset + processes * index for index in part.retried)
    return results
