"""Benchmark one router process's placement path in-process (``Store.place``), without HTTP, on PostgreSQL.

    python -m bench.router_store [--placements 500] [--pg postgresql://postgres@127.0.0.1:5432/test]

Seeds 10 clusters of 6 run nodes in a throwaway schema, warms the fleet cache with 20 placements, then places new
customers asking for 256Mi in a preferred region, every other one with a 5Gi volume. Prints placements per second,
milliseconds per placement, the process's CPU per placement (``time.process_time``: less noisy than wall time on a
shared machine, and what to compare before and after a change) and the SQL statements each placement sends
(counted with SQLAlchemy's ``before_cursor_execute`` event: a figure that does not depend on the machine's load).
"""

from __future__ import annotations

import argparse
import time
import uuid

import psycopg
from sqlalchemy import event

from placement.router.store import PlacementOrder, open_store
from placement.state import ClusterIn, ClusterLoadIn, RequestIn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--placements", type=int, default=500)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    schema = f"bench_store_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        store = open_store(f"{args.pg}?schema={schema}")
        for index in range(10):
            cluster_id = f"eu-west-{index}"
            cluster = ClusterIn(
                id=cluster_id,
                name=cluster_id,
                region="eu-west",
                task_queue=f"deployer-{cluster_id}",
                registry_url="r:5000",
            )
            store.add_cluster(cluster.to_model())
            nodes = [{"name": f"run-{n}", "allocatable_ram": "250Gi"} for n in range(6)]
            store.put_load(cluster_id, ClusterLoadIn(ctrl_node_type="CX52", run_nodes=nodes).to_model())
        for warm in range(20):
            store.place(PlacementOrder(f"warm-{warm}", "svc", RequestIn(customer_id=f"warm-{warm}", ram="256Mi")))
        statements = 0

        def count(*_args) -> None:
            nonlocal statements
            statements += 1

        event.listen(store.engine, "before_cursor_execute", count)
        start, cpu = time.perf_counter(), time.process_time()
        for index in range(args.placements):
            volumes = [{"size": "5Gi"}] if index % 2 else []
            request = RequestIn(customer_id=f"c-{index}", ram="256Mi", region="eu-west", volumes=volumes)
            store.place(PlacementOrder(f"r-{index}", "svc", request))
        took, cpu = time.perf_counter() - start, time.process_time() - cpu
        store.dispose()
        print(
            f"{args.placements} placements: {args.placements / took:.0f}/s, {1000 * took / args.placements:.2f} ms "
            f"each, CPU {1000 * cpu / args.placements:.2f} ms each, {statements / args.placements:.1f} SQL statements "
            "each"
        )
    finally:
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
