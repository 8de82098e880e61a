"""The router's settings: database URL, policy, tokens and their roles. Read from the environment and the command
line.

A token is configured as one line ``token role[,role]`` in ``CAPPLAN_TOKENS`` (lines or ``;`` separate entries)
or in the tokens file. The roles are least privilege: ``collector`` puts load snapshots, ``api`` makes and
releases placements, ``admin`` adds clusters and sets their status. A token given without a role keeps full access
(as before roles existed); ``placement serve`` warns about each such token at start-up. A line that holds only
tokens separated by commas (``a,b``) is the older form: tokens without roles.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

DEFAULT_DB = "capplan-router.db"
TOKENS_ENV = "CAPPLAN_TOKENS"
PROTECT_SELECT_ENV = "CAPPLAN_PROTECT_SELECT"
CLOCK_SKEW_ENV = "CAPPLAN_MAX_CLOCK_SKEW_SECONDS"
DEFAULT_MAX_CLOCK_SKEW_SECONDS = 300.0
# The largest body the router reads: a load snapshot of Kubernetes' largest cluster (5000 nodes) fits with room.
DEFAULT_MAX_BODY_BYTES = 1024**2


Role = Literal["collector", "api", "admin"]
ROLES: tuple[Role, ...] = ("collector", "api", "admin")


class TokenGrant(BaseModel):
    """A bearer token and what it may do. ``roles`` None: configured without a role, so every role."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: SecretStr
    roles: frozenset[Role] | None = None

    def allows(self, role: Role) -> bool:
        return self.roles is None or role in self.roles


def parse_token_lines(text: str, source: str) -> list[TokenGrant]:
    """Grants from lines of ``token role[,role]`` (or the older ``token[,token]``); ``#`` comments and blank lines
    are skipped. Errors name ``source`` and the line, never the token."""
    grants = []
    for number, raw in enumerate(text.replace(";", "\n").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split(maxsplit=1)
        if len(words) == 1 or "," in words[0]:
            grants += [TokenGrant(token=SecretStr(t.strip())) for t in line.split(",") if t.strip()]
            continue
        roles = [role.strip() for role in words[1].split(",") if role.strip()]
        unknown = [role for role in roles if role not in ROLES]
        if unknown or not roles:
            raise ValueError(
                f"{source} line {number}: unknown role {(unknown or [''])[0][:40]!r} (roles: {', '.join(ROLES)})"
            )
        grants.append(TokenGrant(token=SecretStr(words[0]), roles=frozenset(roles)))
    return grants


def _merge(grants: list[TokenGrant]) -> tuple[TokenGrant, ...]:
    """One grant per token: the roles of its lines together (a line without roles means all of them)."""
    merged: dict[str, TokenGrant] = {}
    for grant in grants:
        secret = grant.token.get_secret_value()
        seen = merged.get(secret)
        if seen is not None:
            roles = None if seen.roles is None or grant.roles is None else seen.roles | grant.roles
            grant = TokenGrant(token=grant.token, roles=roles)
        merged[secret] = grant
    return tuple(merged.values())


class RouterSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    db_url: str = DEFAULT_DB
    # A plain string is one line of the tokens file ("token" or "token role[,role]").
    tokens: tuple[TokenGrant, ...] = ()
    protect_select: bool = False
    policy_path: Path | None = None
    limits_profile: str | None = None
    # Every database call gets this long before the request is answered 503; the issue allows 2 s in all.
    db_deadline_seconds: float = Field(default=1.5, gt=0, le=30)
    # A load snapshot dated further ahead of the router's clock than this is refused (422).
    max_clock_skew_seconds: float = Field(default=DEFAULT_MAX_CLOCK_SKEW_SECONDS, ge=0, le=86_400)
    # A request body longer than this is refused (413) before it is read whole.
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1024, le=64 * 1024**2)

    @field_validator("tokens", mode="before")
    @classmethod
    def _token_lines(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            grants: list[Any] = []
            for item in value:
                if isinstance(item, str | SecretStr):
                    text = item.get_secret_value() if isinstance(item, SecretStr) else item
                    grants += parse_token_lines(text, "tokens")
                else:
                    grants.append(item)
            return _merge([TokenGrant.model_validate(g) if isinstance(g, dict) else g for g in grants])
        return value

    def roleless_tokens(self) -> int:
        return sum(grant.roles is None for grant in self.tokens)


def read_tokens_file(path: Path) -> list[TokenGrant]:
    """One ``token role[,role]`` per line; blank lines and ``#`` comments are skipped."""
    return parse_token_lines(Path(path).read_text(), f"tokens file {path}")


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
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> RouterSettings:
    """Tokens come from ``CAPPLAN_TOKENS`` and the tokens file, if any (see the module's docstring). An argument
    given wins over its environment variable."""
    env = os.environ if environ is None else environ
    if max_clock_skew_seconds is None:
        raw_skew = env.get(CLOCK_SKEW_ENV, "").strip()
        try:
            max_clock_skew_seconds = float(raw_skew) if raw_skew else DEFAULT_MAX_CLOCK_SKEW_SECONDS
        except ValueError:
            raise ValueError(f"{CLOCK_SKEW_ENV}: not a number of seconds: {raw_skew[:40]!r}") from None
    tokens = parse_token_lines(env.get(TOKENS_ENV, ""), TOKENS_ENV)
    if tokens_file is not None:
        tokens += read_tokens_file(tokens_file)
    return RouterSettings(
        db_url=db_url or DEFAULT_DB,
        tokens=_merge(tokens),
        protect_select=_truthy(env.get(PROTECT_SELECT_ENV)) if protect_select is None else protect_select,
        policy_path=policy_path,
        limits_profile=limits_profile,
        max_clock_skew_seconds=max_clock_skew_seconds,
        max_body_bytes=max_body_bytes,
    )


def write_settings_file(settings: RouterSettings, path: Path) -> None:
    """The settings, tokens included, as JSON readable by the owner only: how ``serve --workers N`` hands them
    to its worker processes without putting the tokens in anyone's argv."""
    data = settings.model_dump(mode="json", exclude={"tokens"})
    data["tokens"] = [
        {"token": grant.token.get_secret_value(), "roles": None if grant.roles is None else sorted(grant.roles)}
        for grant in settings.tokens
    ]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out)


def read_settings_file(path: Path) -> RouterSettings:
    return RouterSettings.model_validate_json(Path(path).read_text())
