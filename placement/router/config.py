"""The router's settings: database URL, policy, tokens. Read from the environment and the command line."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

DEFAULT_DB = "capplan-router.db"
TOKENS_ENV = "CAPPLAN_TOKENS"
PROTECT_SELECT_ENV = "CAPPLAN_PROTECT_SELECT"
CLOCK_SKEW_ENV = "CAPPLAN_MAX_CLOCK_SKEW_SECONDS"
DEFAULT_MAX_CLOCK_SKEW_SECONDS = 300.0


class RouterSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    db_url: str = DEFAULT_DB
    tokens: tuple[SecretStr, ...] = ()
    protect_select: bool = False
    policy_path: Path | None = None
    limits_profile: str | None = None
    # Every database call gets this long before the request is answered 503; the issue allows 2 s in all.
    db_deadline_seconds: float = Field(default=1.5, gt=0, le=30)
    # A load snapshot dated further ahead of the router's clock than this is refused (422).
    max_clock_skew_seconds: float = Field(default=DEFAULT_MAX_CLOCK_SKEW_SECONDS, ge=0, le=86_400)


def read_tokens_file(path: Path) -> list[str]:
    """One token per line; blank lines and ``#`` comments are skipped."""
    lines = Path(path).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def settings_from_env(
    db_url: str | None = None,
    tokens_file: Path | None = None,
    protect_select: bool | None = None,
    policy_path: Path | None = None,
    limits_profile: str | None = None,
    environ: dict[str, str] | None = None,
    max_clock_skew_seconds: float | None = None,
) -> RouterSettings:
    """Tokens come from ``CAPPLAN_TOKENS`` (comma-separated) and the tokens file, if any. An argument given
    wins over its environment variable."""
    env = os.environ if environ is None else environ
    if max_clock_skew_seconds is None:
        raw_skew = env.get(CLOCK_SKEW_ENV, "").strip()
        try:
            max_clock_skew_seconds = float(raw_skew) if raw_skew else DEFAULT_MAX_CLOCK_SKEW_SECONDS
        except ValueError:
            raise ValueError(f"{CLOCK_SKEW_ENV}: not a number of seconds: {raw_skew[:40]!r}") from None
    tokens = [t.strip() for t in env.get(TOKENS_ENV, "").split(",") if t.strip()]
    if tokens_file is not None:
        tokens += read_tokens_file(tokens_file)
    return RouterSettings(
        db_url=db_url or DEFAULT_DB,
        tokens=tuple(SecretStr(t) for t in dict.fromkeys(tokens)),
        protect_select=_truthy(env.get(PROTECT_SELECT_ENV)) if protect_select is None else protect_select,
        policy_path=policy_path,
        limits_profile=limits_profile,
        max_clock_skew_seconds=max_clock_skew_seconds,
    )


def write_settings_file(settings: RouterSettings, path: Path) -> None:
    """The settings, tokens included, as JSON readable by the owner only: how ``serve --workers N`` hands them
    to its worker processes without putting the tokens in anyone's argv."""
    data = settings.model_dump(mode="json", exclude={"tokens"})
    data["tokens"] = [token.get_secret_value() for token in settings.tokens]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out)


def read_settings_file(path: Path) -> RouterSettings:
    return RouterSettings.model_validate_json(Path(path).read_text())
