"""``placement serve --workers N``: N uvicorn worker processes sharing one listening socket.

Correctness never depended on one process: reservations are guarded UPDATEs and locks in the database, each
worker's cached fleet is checked by those guards, and "nothing fits" is confirmed on a fresh read. So the parent
only checks the settings and migrates the database once, then uvicorn spawns the workers, each calling
``create_worker_app`` (an app factory) to open its own store without migrating.

The settings, tokens included, reach the workers in a file only the owner can read, named by an environment
variable, so the tokens never show in a process list. Prometheus runs in multiprocess mode over a fresh
directory (https://prometheus.github.io/client_python/multiprocess/): every worker writes its values there and
``/metrics`` sums them, whichever worker answers. Both live in one temporary directory, removed at exit.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
import tempfile
from pathlib import Path

from fastapi import FastAPI

from placement.router.config import RouterSettings, read_settings_file, write_settings_file

SETTINGS_FILE_ENV = "CAPPLAN_ROUTER_SETTINGS_FILE"
MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
APP_FACTORY = "placement.router.workers:create_worker_app"

logger = logging.getLogger("uvicorn.error")


def keep_event_loop_responsive() -> None:
    """Called once the app is built, before serving."""
    # The event loop shares the GIL with the database threads; at the default 5 ms switch interval a request
    # that is ready waits up to 5 ms for a thread's Python work. 0.5 ms keeps the loop responsive.
    sys.setswitchinterval(0.0005)
    # Everything imported and built so far lives as long as the process: out of the collector's sight, a full
    # collection scans only what serving made since, instead of ~140,000 objects (a pause of 60-330 ms, every
    # in-flight request's, measured in-process every few thousand placements on a loaded 2-core host).
    gc.collect()
    gc.freeze()


def serve_workers(
    settings: RouterSettings,
    *,
    workers: int,
    host: str,
    port: int,
    log_level: str,
    app_factory: str = APP_FACTORY,
    http: type | None = None,
) -> None:
    """Run ``workers`` uvicorn workers until SIGINT or SIGTERM; the database must already be migrated.

    ``app_factory`` (an import string, called in each worker) and ``http`` (uvicorn's HTTP protocol, a class at a
    module's top level: the workers unpickle it; else ``UVICORN_OPTIONS``'): the router benchmarks' own, which add a
    floor route or timing hooks to the app ``create_worker_app`` builds."""
    import uvicorn

    from placement.router.http_protocol import UVICORN_OPTIONS

    options = UVICORN_OPTIONS if http is None else {**UVICORN_OPTIONS, "http": http}
    with tempfile.TemporaryDirectory(prefix="capplan-router-") as tmp:  # mode 0700
        settings_file = Path(tmp) / "settings.json"
        write_settings_file(settings, settings_file)
        metrics_dir = Path(tmp) / "metrics"
        metrics_dir.mkdir()
        # Set before uvicorn spawns the workers: a spawned process starts with this process's environment, and
        # prometheus_client chooses its (multiprocess) value class when it is first imported there.
        os.environ[SETTINGS_FILE_ENV] = str(settings_file)
        os.environ[MULTIPROC_DIR_ENV] = str(metrics_dir)
        try:
            uvicorn.run(
                app_factory, factory=True, workers=workers, host=host, port=port, log_level=log_level, **options
            )
        finally:
            del os.environ[SETTINGS_FILE_ENV], os.environ[MULTIPROC_DIR_ENV]


def create_worker_app() -> FastAPI:
    """uvicorn's app factory, called once in each worker process."""
    from sqlalchemy.exc import SQLAlchemyError
    from uvicorn.config import STARTUP_FAILURE

    from placement.policy import load_policy
    from placement.router.app import create_app
    from placement.router.store import open_store
    from placement.yamlio import ConfigError

    try:
        settings = read_settings_file(Path(os.environ[SETTINGS_FILE_ENV]))
        forget_dead_workers(Path(os.environ[MULTIPROC_DIR_ENV]))
        policy = load_policy(settings.policy_path, settings.limits_profile)
        store = open_store(
            settings.db_url, policy=policy, migrate=False, max_clock_skew_seconds=settings.max_clock_skew_seconds
        )
    except (KeyError, OSError, ValueError, ConfigError, SQLAlchemyError) as exc:
        # STARTUP_FAILURE makes uvicorn's supervisor stop instead of restarting a worker that cannot start.
        logger.error("router worker cannot start: %s: %s", exc.__class__.__name__, exc)
        sys.exit(STARTUP_FAILURE)
    app = create_app(store, settings, multiprocess_metrics=True)
    keep_event_loop_responsive()
    return app


def forget_dead_workers(metrics_dir: Path) -> None:
    """``mark_process_dead`` for workers that exited without shutting down (uvicorn kills a hung worker and
    starts another), so the live worker gauge counts only the living. Their counters stay in the sums."""
    from prometheus_client.multiprocess import mark_process_dead

    for path in metrics_dir.glob("gauge_live*_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            with contextlib.suppress(FileNotFoundError):  # another new worker got there first
                mark_process_dead(pid, str(metrics_dir))
        except PermissionError:
            pass  # alive, someone else's
