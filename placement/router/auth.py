"""Bearer tokens and their roles, compared in constant time. Missing: 401. Unknown, or without the role: 403."""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from fastapi import HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from placement.router.config import Role, TokenGrant

bearer = HTTPBearer(
    auto_error=False,
    description="A token from CAPPLAN_TOKENS or the --tokens-file; each endpoint names the role it needs.",
)


def matching_grant(presented: str, grants: Sequence[TokenGrant]) -> TokenGrant | None:
    """The grant whose token is ``presented``, or None. Every token is compared, so timing says nothing."""
    given = presented.encode()
    found = None
    for grant in grants:
        if hmac.compare_digest(given, grant.token.get_secret_value().encode()):
            found = grant
    return found


def token_matches(presented: str, grants: Sequence[TokenGrant]) -> bool:
    return matching_grant(presented, grants) is not None


def check_bearer(
    credentials: HTTPAuthorizationCredentials | None, grants: Sequence[TokenGrant], role: Role | None = None
) -> None:
    """Refuse unless the request carries a known token that has ``role`` (any known token when None)."""
    if credentials is None or not credentials.credentials:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing bearer token", headers={"WWW-Authenticate": "Bearer"}
        )
    grant = matching_grant(credentials.credentials, grants)
    if grant is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid bearer token")
    if role is not None and not grant.allows(role):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this token does not have the {role!r} role")
