"""Replays after a release and reused service ids, over real HTTP on SQLite and PostgreSQL, one by one and racing.

The semantics (README, "Replays and service ids"): replaying a request id answers its placement while the placement
holds (200, the same answer); once released it answers 410 Gone, since replaying the old answer would promise room
nobody holds; a different body under a used request id is 409. A client-chosen service id is unique among active
placements (409 while active) and can be placed again, under a new request id, once released.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict

import httpx

from placement.router.db import reservations
from placement.router.store import open_store
from tests.router.conftest import AUTH, LiveRouter, cluster_body, load_body
from tests.router.consistency import check_consistency
from tests.router.load_client import request_from_processes

FREE_VOLUME_SLOTS = 5
KEPT = 20


def placement(request_id: str, service_id: str | None, customer: str, volumes: int = 1, ram: str = "1Gi") -> dict:
    body = {
        "request_id": request_id,
        "service_name": f"name-{request_id}",
        "request": {"customer_id": customer, "ram": ram, "volumes": [{"size": "1Gi"}] * volumes},
    }
    if service_id is not None:
        body["service_id"] = service_id
    return body


def setup_cluster(http: httpx.Client, cluster_id: str, volumes: int) -> dict:
    assert http.post("/v1/clusters", json=cluster_body(cluster_id), headers=AUTH).status_code == 201
    load = load_body(observed_at=None, volumes=volumes)
    assert http.put(f"/v1/clusters/{cluster_id}/load", json=load, headers=AUTH).status_code == 200
    return http.get(f"/v1/clusters/{cluster_id}").json()


def test_replay_after_release_is_410_and_a_released_service_id_can_be_placed_again(db_url, tmp_path):
    router = LiveRouter(db_url, tmp_path)
    try:
        with httpx.Client(base_url=router.base_url, timeout=30) as http:
            base = setup_cluster(http, "rep-1", volumes=499)  # one free volume slot
            first = http.post("/v1/placements", json=placement("req-1", "shop-web", "c1"), headers=AUTH)
            assert first.status_code == 201, first.text
            again = http.post("/v1/placements", json=placement("req-1", "shop-web", "c1"), headers=AUTH)
            assert (again.status_code, again.json()) == (200, first.json())

            taken = http.post("/v1/placements", json=placement("req-2", "shop-web", "c1", volumes=0), headers=AUTH)
            assert taken.status_code == 409
            assert taken.json()["detail"] == "service_id 'shop-web' belongs to an active placement; release it first"

            assert http.delete("/v1/placements/shop-web", headers=AUTH).json() == {
                "service_id": "shop-web",
                "released": True,
            }
            gone = http.post("/v1/placements", json=placement("req-1", "shop-web", "c1"), headers=AUTH)
            assert gone.status_code == 410
            assert "service_id 'shop-web') was released at" in gone.json()["detail"]
            assert "new request_id" in gone.json()["detail"]
            different = http.post("/v1/placements", json=placement("req-1", "shop-web", "c2"), headers=AUTH)
            assert different.status_code == 409  # a different body under a used request id, released or not
            view = http.get("/v1/clusters/rep-1").json()
            assert view["load"] == base["load"]  # the 410 reserved nothing

            # The released service id, placed again under a new request id, takes the free slot again.
            reused = http.post("/v1/placements", json=placement("req-3", "shop-web", "c1"), headers=AUTH)
            assert reused.status_code == 201, reused.text
            assert reused.json()["service_id"] == "shop-web"
            assert http.get("/v1/clusters/rep-1").json()["load"]["volumes"] == 500
            old = http.post("/v1/placements", json=placement("req-1", "shop-web", "c1"), headers=AUTH)
            assert old.status_code == 410
            # DELETE releases the placement that holds the id now, once.
            assert http.delete("/v1/placements/shop-web", headers=AUTH).json()["released"] is True
            assert http.delete("/v1/placements/shop-web", headers=AUTH).json()["released"] is False
            reused_again = http.post("/v1/placements", json=placement("req-3", "shop-web", "c1"), headers=AUTH)
            assert reused_again.status_code == 410
            assert http.get("/v1/clusters/rep-1").json()["load"] == base["load"]
            assert check_consistency(db_url) == {"active": 0, "released": 2, "active_volumes": 0}
    finally:
        router.stop()


def test_deletes_placements_and_replays_of_the_same_ids_race_consistently(db_url, tmp_path):
    """KEPT placements hold one volume each, with FREE_VOLUME_SLOTS slots left. Then, all at once: DELETEs of
    every service id, replays of every original request id, new request ids reusing every service id, and fresh
    placements competing for the free slots."""
    router = LiveRouter(db_url, tmp_path)
    try:
        with httpx.Client(base_url=router.base_url, timeout=60) as http:
            base = setup_cluster(http, "mix-1", volumes=500 - KEPT - FREE_VOLUME_SLOTS)
            originals = {}
            for i in range(KEPT):
                body = placement(f"orig-{i}", f"svc-{i}", f"cust-{i}")
                answer = http.post("/v1/placements", json=body, headers=AUTH)
                assert answer.status_code == 201, answer.text
                originals[f"orig-{i}"] = (body, answer.json())

            calls: list[tuple[str, str, dict | None]] = []
            for i in range(KEPT):
                calls += [("DELETE", f"/v1/placements/svc-{i}", None)] * 4
                calls += [("POST", "/v1/placements", originals[f"orig-{i}"][0])] * 4
                calls += [("POST", "/v1/placements", placement(f"again-{i}", f"svc-{i}", f"cust-{i}"))] * 3
            calls += [("POST", "/v1/placements", placement(f"fresh-{j}", None, f"fresh-{j}")) for j in range(KEPT)]
            random.Random(18).shuffle(calls)
            results = request_from_processes(router.base_url, calls, AUTH, processes=2)

            released: Counter[str] = Counter()
            created: Counter[str] = Counter()
            answers: dict[str, list[tuple[int, dict]]] = defaultdict(list)
            for (method, _path, body), (status, answer) in zip(calls, results, strict=True):
                if method == "DELETE":
                    assert status == 200, answer
                    released[answer["service_id"]] += answer["released"]
                    continue
                request_id = body["request_id"]
                answers[request_id].append((status, answer))
                if request_id.startswith("orig-"):
                    # An original's replay: its own answer while it holds, 410 once released.
                    assert status in (200, 410), answer
                    if status == 200:
                        assert answer == originals[request_id][1]
                elif request_id.startswith("again-"):
                    # Placed once the id is free (201, or a 200 replay of that), 409 while the original holds it or
                    # nothing fits, 410 when placed and already released again.
                    assert status in (200, 201, 409, 410), answer
                else:
                    assert status in (200, 201, 409), answer  # 200: a replay after a 503
                created[request_id] += status == 201
            assert max(created.values()) <= 1, "a request id was placed twice"
            for request_id, given in answers.items():
                placed = [answer for status, answer in given if status in (200, 201)]
                assert all(answer == placed[0] for answer in placed), request_id

            view = http.get("/v1/clusters/mix-1").json()
            assert view["load"]["volumes"] <= 500
            totals = check_consistency(db_url)

            # Every release counted once: the ledger's released rows per service id match the DELETEs that said so.
            store = open_store(db_url, migrate=False)
            try:
                with store.engine.connect() as conn:
                    ledger = conn.execute(reservations.select()).all()
            finally:
                store.dispose()
            released_rows = Counter(row.service_id for row in ledger if row.released_at is not None)
            # A DELETE answered 503 (past the deadline on a loaded machine) has an unknown outcome: it may have
            # released, and its retry then answered released: false. Only those may release unseen.
            unseen = Counter(
                calls[index][1].rsplit("/", 1)[1] for index in results.retried if calls[index][0] == "DELETE"
            )
            for service_id in released_rows | released:
                assert released[service_id] <= released_rows[service_id] <= released[service_id] + unseen[service_id]
            for i in range(KEPT):
                # The original always goes: at least one DELETE ran after it (seen, or a retried one's first call).
                assert released[f"svc-{i}"] + unseen[f"svc-{i}"] >= 1
            assert totals["active"] == sum(row.released_at is None for row in ledger)

            # Release what is left; the cluster is back to its snapshot exactly.
            for row in ledger:
                if row.released_at is None:
                    assert http.delete(f"/v1/placements/{row.service_id}", headers=AUTH).json()["released"] is True
            after = http.get("/v1/clusters/mix-1").json()
            assert after["load"] == base["load"]
            assert set(after["reserved_since_snapshot"].values()) == {0}
            assert check_consistency(db_url)["active"] == 0
    finally:
        router.stop()
