"""``placement serve --workers 2``: the guarantees of one process from two, and metrics summed over both.

Each worker has its own cached fleet, so these races also check that the database's guards, not one process's
cache, keep the promises: no over-commit, and a cluster drained through one worker takes nothing on the other.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from pathlib import Path

import httpx

from tests.router.conftest import AUTH, TOKEN, LiveRouter, cluster_body, load_body, metric_samples
from tests.router.load_client import Answers, post_all
from tests.router.test_concurrency import body, check_ledger_matches_counters, setup_clusters

WORKERS = 2
REQUESTS = 200
FREE_SLOTS = 37


def place_all(base_url: str, bodies: list[dict]) -> Answers:
    # All at once, one connection each: the kernel hands the connections to both workers.
    return post_all(base_url, "/v1/placements", bodies, AUTH)


def test_two_workers_place_exactly_what_fits_count_it_together_and_honour_a_drain(db_url, tmp_path):
    router = LiveRouter(db_url, tmp_path, workers=WORKERS)
    try:
        with httpx.Client(base_url=router.base_url, timeout=30) as http:
            # Race: 37 free Longhorn volume slots, 200 one-volume requests from distinct customers.
            setup_clusters(http, [(cluster_body("vol-1"), load_body(volumes=500 - FREE_SLOTS))], [])
            results = place_all(router.base_url, [body(f"w{i}", f"cw{i}", volumes=1) for i in range(REQUESTS)])
            statuses = Counter(status for _, status, _ in results)
            # A 503 (a database call past its deadline on a loaded machine) was retried with the same request id:
            # 200 if the first call had placed it after all.
            assert statuses[200] + statuses[201] == FREE_SLOTS, statuses
            assert statuses[409] == REQUESTS - FREE_SLOTS, statuses
            retried = results.unavailable
            assert http.get("/v1/clusters/vol-1").json()["load"]["volumes"] == 500
            check_ledger_matches_counters(db_url, "vol-1", FREE_SLOTS, FREE_SLOTS)

            # Each scrape comes over a new connection, so from either worker; every one must sum both workers'
            # counts (each worker alone served only part of the race).
            placed = (("cluster", "vol-1"), ("endpoint", "placements"), ("outcome", "placed"))
            refused = (("cluster", "none"), ("endpoint", "placements"), ("outcome", "unschedulable"))
            route = (("method", "POST"), ("route", "/v1/placements"))
            expected_answers = {str(code): count for code, count in statuses.items()}
            if retried:
                expected_answers["503"] = retried
            for _ in range(6):
                samples = metric_samples(router.base_url)
                assert samples[("placement_router_workers", ())] == WORKERS
                # Every reservation is counted once, in the thread that made it; a retried refusal decides again.
                assert samples[("placement_decisions_total", placed)] == FREE_SLOTS
                assert samples[("placement_decisions_total", refused)] >= REQUESTS - FREE_SLOTS
                assert samples[("placement_decisions_total", refused)] <= REQUESTS - FREE_SLOTS + len(results.retried)
                rejections = samples[("placement_rejections_total", (("reason", "volume-limit"),))]
                assert rejections == samples[("placement_decisions_total", refused)]
                answered = {
                    labels[-1][1]: value
                    for (name, labels), value in samples.items()
                    if name == "placement_http_request_duration_seconds_count" and labels[:2] == route
                }
                assert answered == expected_answers

            # Drain: near-1 (in the requested region) wins until it is drained through whichever worker answers
            # the PATCH. The other worker's cached fleet still shows it active: its choice must lose the guard
            # and be made again on a fresh read.
            near, far = cluster_body("near-1"), cluster_body("far-1", region="us-east")
            setup_clusters(http, [(near, load_body()), (far, load_body())], ["vol-1"])

            def place_in_eu_west(prefix: str) -> Counter[str]:
                bodies = [body(f"{prefix}{i}", f"c{prefix}{i}") for i in range(40)]
                for one in bodies:
                    one["request"]["region"] = "eu-west"
                results = place_all(router.base_url, bodies)
                assert {status for _, status, _ in results} <= {200, 201}  # 200: a replay after a 503
                return Counter(answer["cluster_id"] for _, _, answer in results)

            assert place_in_eu_west("before") == {"near-1": 40}
            assert http.patch("/v1/clusters/near-1", json={"status": "draining"}, headers=AUTH).status_code == 200
            assert place_in_eu_west("after") == {"far-1": 40}
            check_ledger_matches_counters(db_url, "near-1", 40, 0)
    finally:
        router.stop()


def test_workers_get_the_tokens_from_a_private_file_removed_at_exit(sqlite_url, tmp_path):
    router = LiveRouter(sqlite_url, tmp_path, workers=WORKERS)
    try:
        workers = router.worker_pids()
        assert len(workers) == WORKERS
        for pid in [router.process.pid, *workers]:
            assert TOKEN not in Path(f"/proc/{pid}/cmdline").read_text()
        environ = dict(
            entry.split("=", 1) for entry in Path(f"/proc/{workers[0]}/environ").read_text().split("\0") if "=" in entry
        )
        settings_file = Path(environ["CAPPLAN_ROUTER_SETTINGS_FILE"])
        assert TOKEN in settings_file.read_text()
        assert stat.S_IMODE(settings_file.stat().st_mode) == 0o600
        metrics_dir = Path(environ["PROMETHEUS_MULTIPROC_DIR"])
        assert metrics_dir.parent == settings_file.parent
        assert stat.S_IMODE(settings_file.parent.stat().st_mode) == 0o700
    finally:
        router.stop()
    assert router.process.returncode == 0
    assert not settings_file.parent.exists()
    assert not any(os.path.exists(f"/proc/{pid}") for pid in workers)
