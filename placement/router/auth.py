"""Bearer tokens, compared in constant time. Missing: 401. Wrong: 403."""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from fastapi import HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

bearer = HTTPBearer(auto_error=False, description="A token from CAPPLAN_TOKENS or the --tokens-file.")


def token_matches(presented: str, tokens: Sequence[SecretStr]) -> bool:
    """True when ``presented`` is one of ``tokens``. Every token is compared, so timing says nothing."""
    given = presented.encode()
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(given, token.get_secret_value().encode())
    return matched


def check_bearer(credentials: HTTPAuthorizationCredentials | None, tokens: Sequence[SecretStr]) -> None:
    if credentials is None or not credentials.credentials:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing bearer token", headers={"WWW-Authenticate": "Bearer"}
        )
    if not token_matches(credentials.credentials, tokens):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid bearer token")
