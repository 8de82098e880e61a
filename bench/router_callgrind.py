"""The instructions a placement costs the whole router process, counted by callgrind: a figure that the load of a
shared machine hardly moves, to compare two commits with.

    python -m bench.router_callgrind [--placements 200] [--route placements|booking-floor|placement-floor]
        [--pg postgresql://postgres@127.0.0.1:5432/test]

Needs ``valgrind`` (Debian package ``valgrind``). The server is ``bench.router_floor``'s (the production app under
uvicorn, served as ``placement serve`` serves it) on a throwaway PostgreSQL schema, run under
``valgrind --tool=callgrind`` with its counting off, and with a fleet cache that does not expire: no refill runs
while the placements are counted. ``bench.router_http``'s 10 clusters are seeded and 100 placements warm the server
up; after a fresh load snapshot and a dry run (which reads it into the cache), the counting is switched on
(``callgrind_control -i on``) for ``--placements`` placements sent one at a time over one keep-alive connection,
every other one with a 5Gi volume, as ``bench.router_http``'s wrk script sends them, and the counts are dumped. Prints
the instructions a placement. Run it in each checkout to compare, alternately: a run moves by about 0.5 %.

``--route`` counts the same requests sent to one of ``bench.router_floor``'s placement floors instead (after 10 of
them uncounted: the booking floor captures its statements at its first request): the booking floor (the HTTP floor
sending the database floor's statement) or the HTTP floor. A placement's instructions less the booking floor's are
the router's own work, less the floor's renaming of ~40 parameters.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import httpx
import psycopg

from bench.router_fleet import AUTH, TOKEN, fill_cache, seed
from bench.router_floor import BOOKING_FLOOR_PATH, PLACEMENT_FLOOR_PATH
from bench.router_wrk import PLACE_PATH, free_port, wait_until_serving

ROOT = Path(__file__).resolve().parents[1]
FOREVER = 10**6  # seconds the served fleet stays cached


def body(number: int) -> bytes:
    request_id = f"p-{number}"
    volumes = '{"size": "5Gi"}' if number % 2 == 0 else ""
    return (
        f'{{"request_id": "{request_id}", "service_name": "{request_id}", '
        f'"request": {{"customer_id": "{request_id}", "ram": "256Mi", "volumes": [{volumes}]}}}}'
    ).encode()


ROUTES = {"placements": PLACE_PATH, "booking-floor": BOOKING_FLOOR_PATH, "placement-floor": PLACEMENT_FLOOR_PATH}


def place(http: httpx.Client, numbers: range, path: str = PLACE_PATH) -> None:
    for number in numbers:
        answer = http.post(path, content=body(number))
        if answer.status_code != 201:
            raise RuntimeError(f"placement answered {answer.status_code}: {answer.text}")


def count(pg: str, placements: int, workdir: Path, keep: Path | None = None, path: str = PLACE_PATH) -> float:
    """Instructions a placement (a request to ``path``), from one server started under callgrind on a schema of its
    own."""
    schema = f"bench_cg_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (workdir / "server.log").open("w")
    server = subprocess.Popen(
        [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={workdir}/callgrind.%p",
            sys.executable,
            "-m",
            "bench.router_callgrind",
            "--serve",
            f"{pg}?schema={schema}",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=dict(os.environ, CAPPLAN_TOKENS=TOKEN),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_serving(server, url, workdir / "server.log", 600)  # under valgrind, the imports take a while
        seed(url)
        with httpx.Client(base_url=url, headers={**AUTH, "Content-Type": "application/json"}, timeout=60) as http:
            place(http, range(100))
            seed(url, loads_only=True)
            fill_cache(url)
            place(http, range(100, 110), path)
            subprocess.run(["callgrind_control", "-i", "on", str(server.pid)], check=True, capture_output=True)
            place(http, range(1000, 1000 + placements), path)
            subprocess.run(["callgrind_control", "-d", str(server.pid)], check=True, capture_output=True)
        dump_file = workdir / f"callgrind.{server.pid}.1"
        if keep is not None:
            shutil.copyfile(dump_file, keep)
        dump = dump_file.read_text(errors="replace")
        return int(re.search(r"^(?:summary|totals): (\d+)", dump, re.MULTILINE).group(1)) / placements
    finally:
        server.terminate()
        server.wait(120)
        log.close()
        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--placements", type=int, default=200)
    parser.add_argument("--route", choices=tuple(ROUTES), default="placements", help="what the requests go to")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--keep", type=Path, help="copy the callgrind dump here (for callgrind_annotate)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)  # the server's database URL
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        from bench.router_floor import bench_app, serve

        serve(bench_app(args.serve, fleet_cache_seconds=FOREVER), args.port)
        return
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        sys.exit("valgrind is required: apt-get install -y valgrind")
    with tempfile.TemporaryDirectory(prefix="router-callgrind-") as tmp:
        per_placement = count(args.pg, args.placements, Path(tmp), args.keep, ROUTES[args.route])
    what = "placement" if args.route == "placements" else f"request to the {args.route}"
    print(f"{per_placement / 1e6:.4f}M instructions a {what} ({args.placements} requests, whole server)")


if __name__ == "__main__":
    main()
