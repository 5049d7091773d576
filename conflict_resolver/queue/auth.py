"""Who may use the queue: the admin token and sales-ops keys (``conflict_resolver.api.auth``).

deal_registration issues every key; conflict_resolver learns of ops keys from
``dealreg.principals`` (``OpsKeyIssued`` / ``ApiKeyRevoked``, hashes only) and keeps them in its
own ``ops_keys`` table, so it never reads another service's database. A key revoked there stops
working here as soon as the event is applied.

The console's live feed uses ``EventSource``, which cannot send an ``Authorization`` header.
Rather than putting the ops key in a URL (where proxies and logs keep it), the page exchanges
its key for a *stream token*: an HMAC-signed (operator, key id, expiry) valid for a few
minutes, checked when the stream connects. Every instance derives the same signing key from
the admin token, so a token works on any instance and nothing is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta

from services.http.security import unauthorized
from services.principals import ADMIN, OpsAuthenticator, OpsCaller

STREAM_TOKEN_TTL = timedelta(minutes=5)


async def verify_key_live(keys: OpsAuthenticator, operator: OpsCaller) -> None:
    """401 if the operator's key has been revoked since it signed in."""
    if operator.key_id is not None:
        await keys.live_key(key_id=operator.key_id)


def _signing_key(admin_token: str) -> bytes:
    return hashlib.sha256(
        b"dealreg/conflict_resolver/stream-token\x00" + admin_token.encode()
    ).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_stream_token(
    operator: OpsCaller, admin_token: str, *, now: datetime
) -> tuple[str, datetime]:
    """A token for ``GET /v1/conflicts/stream?token=``; returns it with its expiry."""
    expires_at = now + STREAM_TOKEN_TTL
    claims = {
        "sub": operator.id,
        "role": operator.role,
        "name": operator.name,
        "kid": operator.key_id,
        "exp": int(expires_at.timestamp()),
    }
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(_signing_key(admin_token), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(signature)}", expires_at


async def verify_stream_token(
    keys: OpsAuthenticator, admin_token: str, token: str, *, now: datetime
) -> OpsCaller:
    """The operator of a valid, unexpired stream token whose key is still live; else 401."""
    body, _, signature = token.partition(".")
    expected = _b64(hmac.new(_signing_key(admin_token), body.encode(), hashlib.sha256).digest())
    if not signature or not hmac.compare_digest(signature, expected):
        raise unauthorized()
    try:
        claims = json.loads(_unb64(body))
    except ValueError as error:
        raise unauthorized() from error
    if int(claims.get("exp", 0)) <= now.timestamp():
        raise unauthorized()
    if claims.get("role") == "admin":
        return ADMIN
    return await keys.live_key(key_id=str(claims.get("kid")))
