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
                    # kubelet's --max-pods as dense k3s nodes set it: room for a saturated 10-second run of
                    # placements (with 6 nodes at 110 pods the fleet ran out after ~5,000, and a quarter of the
                    # answers were 409); with 10 nodes at 250, after ~20,000 (those with a volume, on the Ceph
                    # clusters once the Longhorn ones hold their 500 volumes)
                    "max_pods": 250,
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
