"""Alembic, driven from Python: ``placement db upgrade`` and the router's start-up both call ``upgrade``."""

from __future__ import annotations

from collections.abc import Callable

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from placement.router.db import make_engine, normalise_url

SCRIPT_LOCATION = "placement.router:migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head", engine: Engine | None = None) -> None:
    """Bring the database at ``url`` to ``revision`` (on ``engine``'s connection when given)."""
    _migrate(command.upgrade, url, revision, engine)


def downgrade(url: str, revision: str = "base", engine: Engine | None = None) -> None:
    """Take the database at ``url`` back to ``revision`` (on ``engine``'s connection when given)."""
    _migrate(command.downgrade, url, revision, engine)


def _migrate(step: Callable[[Config, str], None], url: str, revision: str, engine: Engine | None) -> None:
    config = alembic_config(url)
    owned = engine is None
    engine = engine or make_engine(url)
    try:
        with engine.connect() as conn:
            config.attributes["connection"] = conn
            step(config, revision)
    finally:
        if owned:
            engine.dispose()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()
