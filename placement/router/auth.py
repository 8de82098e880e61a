"""Bearer tokens and their roles, compared in constant time. Missing: 401. Unknown, or without the role: 403."""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from fastapi import HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from placement.router.config import Role, TokenGrant

ADMITTED = 256  # admitted Authorization header values a check keeps (``BearerRole.admits``)
BEARER_DESCRIPTION = "A token from CAPPLAN_TOKENS or the --tokens-file; each endpoint names the role it needs."


class BearerRole(HTTPBearer):
    """One dependency that reads the bearer token (HTTPBearer's parsing, and its security scheme ``HTTPBearer`` in
    the OpenAPI document) and lets the request through only with a known token that has ``role`` (any known token
    when None). FastAPI solves each level of dependencies per request: a role check that depended on an
    ``HTTPBearer`` instance cost two."""

    def __init__(self, grants: Sequence[TokenGrant], role: Role | None = None):
        super().__init__(auto_error=False, scheme_name="HTTPBearer", description=BEARER_DESCRIPTION)
        self.grants = grants
        self.role = role
        # Authorization header values this check let through: a known token's header is read once, not compared
        # against every grant again at each request (~11,000 instructions a placement, callgrind). Only admitted
        # values are kept (at most ADMITTED), so refused guesses neither grow it nor skip the constant-time compare;
        # a value's presence says no more than the answer does.
        self._admitted: dict[str, bool] = {}

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        check_bearer(await super().__call__(request), self.grants, self.role)

    def admits(self, authorization: str | None) -> bool:
        """A request with this Authorization header would get through (read as ``HTTPBearer`` reads it)."""
        if authorization in self._admitted:
            return True
        scheme, token = get_authorization_scheme_param(authorization)
        if scheme.lower() != "bearer" or not token:
            return False
        grant = matching_grant(token, self.grants)
        admitted = grant is not None and (self.role is None or grant.allows(self.role))
        if admitted and len(self._admitted) < ADMITTED:
            self._admitted[authorization] = True
        return admitted


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
