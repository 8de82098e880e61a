"""``placement serve`` and ``placement db upgrade``: the router's commands (registered in ``placement.cli``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from placement.cli_common import error_console, fail
from placement.router.config import DEFAULT_DB, DEFAULT_MAX_BODY_BYTES

db_app = typer.Typer(no_args_is_help=True, add_completion=False, help="The router's database.")

DB_HELP = "Database: a SQLite path or sqlite:/// URL, or postgresql://user@host/db (psycopg 3)."


def _policy(policy: Path | None, profile: str | None):
    from placement.policy import load_policy

    return load_policy(policy, profile)


def serve(
    db: Annotated[str, typer.Option(help=DB_HELP)] = DEFAULT_DB,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=0, max=65535)] = 8080,
    tokens_file: Annotated[
        Path | None,
        typer.Option(help="Bearer tokens, one `token role[,role]` per line (added to CAPPLAN_TOKENS)."),
    ] = None,
    protect_select: Annotated[
        bool | None,
        typer.Option(help="Require a token for select-cluster too (default: CAPPLAN_PROTECT_SELECT)."),
    ] = None,
    policy: Annotated[Path | None, typer.Option(help="Policy YAML (default: the shipped policy).")] = None,
    profile: Annotated[str | None, typer.Option(help="Limits profile: seed, published or a path.")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
    max_clock_skew: Annotated[
        float | None,
        typer.Option(
            help="Seconds a load snapshot's observed_at may be ahead of this clock; further ahead is refused "
            "(default: CAPPLAN_MAX_CLOCK_SKEW_SECONDS, else 300).",
            min=0,
            max=86_400,
        ),
    ] = None,
    max_body_bytes: Annotated[
        int, typer.Option(help="Largest request body read; a longer one is refused with 413.", min=1024)
    ] = DEFAULT_MAX_BODY_BYTES,
    workers: Annotated[
        int, typer.Option(help="Worker processes: uvicorn workers sharing the socket, each with its own store.", min=1)
    ] = 1,
) -> None:
    """Run the live router (FastAPI under uvicorn). Migrates the database to head first."""
    import uvicorn
    from sqlalchemy.exc import SQLAlchemyError

    from placement.router.app import create_app
    from placement.router.config import settings_from_env
    from placement.router.http_protocol import UVICORN_OPTIONS
    from placement.router.store import open_store
    from placement.router.workers import keep_event_loop_responsive, serve_workers
    from placement.yamlio import ConfigError

    try:
        settings = settings_from_env(
            db,
            tokens_file,
            protect_select,
            policy,
            profile,
            max_clock_skew_seconds=max_clock_skew,
            max_body_bytes=max_body_bytes,
        )
        compiled = _policy(policy, profile)
    except ConfigError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"--tokens-file: cannot read {tokens_file}: {exc.strerror or exc}")
    except (KeyError, ValueError) as exc:
        fail(str(exc))
    if not settings.tokens:
        error_console.print(
            "[yellow]warning:[/] no bearer tokens (CAPPLAN_TOKENS or --tokens-file): mutating calls are refused"
        )
    elif roleless := settings.roleless_tokens():
        error_console.print(
            f"[yellow]warning:[/] {roleless} bearer token(s) without a role have full access; give each token its "
            "roles (`token role[,role]`, roles: collector, api, admin)"
        )
    try:
        store = open_store(
            settings.db_url, policy=compiled, max_clock_skew_seconds=settings.max_clock_skew_seconds
        )  # migrates, once, before any worker starts
    except SQLAlchemyError as exc:
        fail(f"--db: cannot open {db}: {exc.__class__.__name__}: {getattr(exc, 'orig', None) or exc}")
    if workers > 1:
        store.dispose()  # each worker opens its own
        error_console.print(
            f"capplan router on http://{host}:{port} ({store.backend}, {workers} workers)", highlight=False
        )
        serve_workers(settings, workers=workers, host=host, port=port, log_level=log_level)
        return
    app = create_app(store, settings)
    keep_event_loop_responsive()
    error_console.print(f"capplan router on http://{host}:{port} ({store.backend})", highlight=False)
    # workers=1 explicitly: uvicorn would otherwise take WEB_CONCURRENCY, which needs an import string.
    uvicorn.run(app, host=host, port=port, log_level=log_level, workers=1, **UVICORN_OPTIONS)


@db_app.command("upgrade")
def db_upgrade(
    db: Annotated[str, typer.Option(help=DB_HELP)] = DEFAULT_DB,
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Run the Alembic migrations up to ``revision``."""
    from sqlalchemy.exc import SQLAlchemyError

    from placement.router.migrate import upgrade

    try:
        upgrade(db, revision)
    except SQLAlchemyError as exc:
        fail(f"--db: cannot migrate {db}: {exc.__class__.__name__}: {getattr(exc, 'orig', None) or exc}")
    error_console.print(f"database at {revision}", highlight=False)
