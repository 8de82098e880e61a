"""The bench's fleet, seeded through the router's API: ``bench.router_http``, ``bench.router_publish`` and
``bench.router_app_cpu`` place on the same clusters and loads."""

from __future__ import annotations

import httpx

TOKEN = "bench-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SELECT_PATH = "/v1/select-cluster"


def seed_bodies(clusters: int = 10) -> list[tuple[dict, dict]]:
    """The bench's clusters and a load snapshot of each, as the API's bodies."""
    bodies = []
    for index in range(clusters):
        cluster_id = f"eu-west-{index + 1}"
        cluster = {
            "id": cluster_id,
            "name": cluster_id,
            "region": "eu-west" if index % 2 else "eu-central",
            "task_queue": f"deployer-{cluster_id}",
            "registry_url": "10.0.0.1:5000",
            "storage_provider": "rook-ceph" if index % 3 == 0 else "longhorn",
        }
        load = {
            "ctrl_node_type": "AX162-R",
            "run_nodes": [
                {
                    "name": f"run-{n}",
                    "allocatable_ram": "250Gi",
                    "requested_ram": f"{40 + 7 * n + index}Gi",
                    "pods": 20 + n,
                    # kubelet's --max-pods set high on these 250Gi nodes: room for a saturated 10-second run of
                    # placements, which must not run the fleet out (its 409s take the thread path's fresh read,
                    # and the ratio then compares unequal work). With 6 nodes at 110 pods the fleet ran out after
                    # ~5,000 placements, a quarter of the answers 409s; with 10 nodes at 250, the half with a
                    # volume ran out after ~17,000 (on the Ceph clusters' pods once the Longhorn ones held their
                    # 500 volumes), which a quick host's router reached in 10 s (2026-12-05, 100-410 409s a
                    # round); at 500, after ~35,000 (engine, in-process).
                    "max_pods": 500,
                }
                for n in range(10)
            ],
            "volumes": 50 + 20 * index,
            "services": 200 + index,
            "customers": 150,
            "pods": 220,
            "etcd_objects": 3000 + 100 * index,
        }
        bodies.append((cluster, load))
    return bodies


def seed(url: str, clusters: int = 10, *, loads_only: bool = False) -> None:
    """Add the clusters (unless ``loads_only``) and give each a fresh load snapshot.

    A fresh snapshot absorbs the reservations made before it, as the collector's next snapshot would, so each
    placement run starts from the same free room instead of filling the fleet up run after run.
    """
    with httpx.Client(base_url=url, headers=AUTH, timeout=10) as http:
        for cluster, load in seed_bodies(clusters):
            if not loads_only:
                http.post("/v1/clusters", json=cluster).raise_for_status()
            http.put(f"/v1/clusters/{cluster['id']}/load", json=load).raise_for_status()


def fill_cache(url: str) -> None:
    """One dry run, which reads the fleet into the router's cache."""
    body = {"customer_id": "bench-warm", "ram": "256Mi"}
    httpx.post(f"{url}{SELECT_PATH}", json=body, headers=AUTH, timeout=10).raise_for_status()
