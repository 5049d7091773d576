"""Bearer tokens: the built-in admin token and hashed API keys.

API keys are 256 random bits shown once; only their SHA-256 is stored. A fast hash is right
here (unlike passwords): the key's entropy, not the hash's cost, is what resists guessing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from fastapi import Request

from services.admin_token import PreviousAdminToken
from services.http.problems import ProblemError

API_KEY_PREFIX = "drk_"


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def bearer_token(request: Request) -> str:
    """The request's bearer token, or a 401 problem."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ProblemError(
            401,
            "Send `Authorization: Bearer <token>`.",
            title="Unauthorized",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token.strip()


def is_admin_token(token: str, admin_token: str) -> bool:
    return hmac.compare_digest(token.encode(), admin_token.encode())


def admin_token_accepted(
    token: str, admin_token: str, previous: PreviousAdminToken | None, *, now: datetime
) -> bool:
    """The current admin token, or the previous one inside its overlap."""
    if is_admin_token(token, admin_token):
        return True
    return previous is not None and previous.accepts(token, now=now)


def unauthorized() -> ProblemError:
    return ProblemError(
        401, "The token is not valid.", title="Unauthorized", headers={"WWW-Authenticate": "Bearer"}
    )


def forbidden(detail: str = "This token may not do that.") -> ProblemError:
    return ProblemError(403, detail, title="Forbidden")
