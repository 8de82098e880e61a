"""``bench.router_http``'s placement floors (``bench.router_floor``), served as the benchmark serves them: the HTTP
floor answers a placement's request as a placement does, writing nothing; the booking floor also sends the database
floor's statement, one ledger row a request; both behind the placements' bearer check. And the split of a
placement's cost that ``bench.router_http`` prints from them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import psycopg

from bench.router_app_cpu import seed as seed_store
from bench.router_dbfloor import FLOOR_NODES, capture_placements, replay
from bench.router_fleet import AUTH, seed
from bench.router_floor import BOOKING_FLOOR_PATH, PLACEMENT_FLOOR_PATH
from bench.router_summary import print_split
from bench.router_wrk import PLACE_PATH, Router, Run
from placement.router.store import open_store
from tests.router.conftest import PG_ADMIN


def body(request_id: str, volume: bool = False) -> bytes:
    volumes = [{"size": "5Gi"}] if volume else []
    request = {"customer_id": request_id, "ram": "256Mi", "volumes": volumes}
    return json.dumps({"request_id": request_id, "service_name": request_id, "request": request}).encode()


def ledger_ids(pg_schema: str) -> list[str]:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        rows = conn.execute(f'SELECT request_id FROM "{pg_schema}".reservations ORDER BY request_id').fetchall()
    return [row[0] for row in rows]


def test_the_http_floor_answers_as_a_placement_and_only_the_booking_floor_books(pg_schema: str, tmp_path: Path):
    router = Router(f"{PG_ADMIN}?schema={pg_schema}", tmp_path / "router.log")
    try:
        seed(router.url)
        headers = {**AUTH, "Content-Type": "application/json"}
        with httpx.Client(base_url=router.url, headers=headers, timeout=30) as http:
            placed = http.post(PLACE_PATH, content=body("real", volume=True))
            assert placed.status_code == 201, placed.text
            booked = ledger_ids(pg_schema)

            answers = [http.post(PLACEMENT_FLOOR_PATH, content=body(f"h-{n}", volume=n == 2)) for n in (1, 2)]
            assert [answer.status_code for answer in answers] == [201, 201]
            plain, with_volume = (answer.json() for answer in answers)
            assert list(with_volume) == list(placed.json())  # the same members, in the same order
            assert (plain["request_id"], plain["volume"], plain["volumes"]) == ("h-1", None, [])
            assert with_volume["volume"] == placed.json()["volume"] | {"node": with_volume["node"]}
            assert ledger_ids(pg_schema) == booked  # the HTTP floor writes nothing

            answers = [http.post(BOOKING_FLOOR_PATH, content=body(f"b-{n}", volume=n == 2)) for n in (1, 2)]
            assert [answer.status_code for answer in answers] == [201, 201]
            assert [answer.json()["request_id"] for answer in answers] == ["b-1", "b-2"]
            added = sorted(set(ledger_ids(pg_schema)) - set(booked))
            # The first request captured a bench placement's statements (a warm-up placement and one of each kind),
            # then each request sent one, renamed.
            captured = [name for name in added if name.startswith("bf")]
            replayed = [name for name in added if not name.startswith("bf")]
            assert len(captured) == 3, added
            assert len(replayed) == 2 and all(re.fullmatch(r"[rc]-bf\d+-[12]", name) for name in replayed), added

            for path in (PLACEMENT_FLOOR_PATH, BOOKING_FLOOR_PATH):
                refused = httpx.post(f"{router.url}{path}", content=body("x"), timeout=30)
                assert refused.status_code in (401, 403), refused.text
                invalid = http.post(path, content=b'{"request_id": "x"}')
                assert invalid.status_code == 422, invalid.text
    finally:
        router.stop()


def test_the_booking_floor_needs_postgresql(tmp_path: Path):
    router = Router(f"sqlite:///{tmp_path / 'bench.db'}", tmp_path / "router.log")
    try:
        seed(router.url, clusters=2)
        answer = httpx.post(
            f"{router.url}{BOOKING_FLOOR_PATH}",
            content=body("b-1"),
            headers={**AUTH, "Content-Type": "application/json"},
            timeout=30,
        )
        assert answer.status_code == 501, answer.text
    finally:
        router.stop()


def run(name: str, p50: float, p99: float, cpu_ms: float) -> Run:
    return Run(name, 6, 280, p50, p99, cpu_ms)


def test_the_split_gives_each_floor_and_what_placements_cost_above_the_booking_floor(capsys):
    rounds = [
        (
            run("db", 1.0, 2.0, 0.35),
            run("http", 0.2, 0.6, 0.18),
            run("booking", 1.3, 2.4, 0.50),
            run("p", 1.7, 3.6, 0.75),
        ),
        (
            run("db", 1.0, 2.5, 0.35),
            run("http", 0.2, 0.6, 0.18),
            run("booking", 1.3, 2.5, 0.50),
            run("p", 1.7, 3.0, 0.71),
        ),
    ]
    print_split({"paced 200/s": rounds})
    lines = capsys.readouterr().out.splitlines()
    assert (
        "| round 1 | 1.00 / 2.00 / 0.35 | 0.20 / 0.60 / 0.18 | 1.30 / 2.40 / 0.50 | 1.70 / 3.60 / 0.75 | "
        "1.50× | 0.40, 0.25 (33%) |"
    ) in lines
    assert (
        "| round 2 | 1.00 / 2.50 / 0.35 | 0.20 / 0.60 / 0.18 | 1.30 / 2.50 / 0.50 | 1.70 / 3.00 / 0.71 | "
        "1.20× | 0.40, 0.21 (30%) |"
    ) in lines
    summary = lines[-1]
    assert summary.startswith(
        "paced 200/s: the booking floor's p99 is **1.10×** (range 1.00-1.20×) the database floor's"
    )
    assert "the placements' is **1.35×** (range 1.20-1.50×) the booking floor's" in summary
    assert summary.endswith("median 0.23 ms a placement (31% of theirs)")


def test_the_database_floor_replays_a_transaction_from_threads_on_sqlite(tmp_path: Path):
    # SQLite's placements are transactions: the floor replays them from as many threads as wrk has connections.
    store = open_store(f"sqlite:///{tmp_path / 'floor.db'}")
    try:
        seed_store(store, loads_only=False)
        captured = capture_placements(store.engine)
        assert [placement.autocommit for placement in captured] == [False, False]
        result = replay(
            store.engine, captured, FLOOR_NODES, connections=2, duration=0.5, mean_delay_ms=2, prefix="t", warm_up=0.1
        )
        with store.engine.connect() as conn:
            replayed = conn.exec_driver_sql("SELECT request_id FROM reservations WHERE request_id LIKE '_-t-%'").all()
    finally:
        store.dispose()
    assert result.latencies_ms and result.guards_lost == 0
    # Every replay wrote its ledger row under fresh ids, the warm-up's included.
    assert len(replayed) >= len(result.latencies_ms)
