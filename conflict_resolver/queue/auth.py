"""Who may use the queue: the admin token and sales-ops keys.

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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select

from conflict_resolver.queue.tables import ops_keys
from services.http.security import hash_api_key, is_admin_token, unauthorized
from services.uow import TransactionRunner

STREAM_TOKEN_TTL = timedelta(minutes=5)


@dataclass(frozen=True)
class Operator:
    """A caller of the queue: the built-in admin or one sales-ops user (one of their keys)."""

    id: str
    role: Literal["admin", "ops"]
    name: str
    key_id: str | None = None

    @property
    def actor(self) -> str:
        """How decisions name their author: ``admin`` or ``ops:<user id>``."""
        return "admin" if self.role == "admin" else f"ops:{self.id}"


ADMIN = Operator(id="admin", role="admin", name="admin")


async def authenticate(transactions: TransactionRunner, admin_token: str, token: str) -> Operator:
    """The operator a bearer token belongs to, or a 401 problem."""
    if is_admin_token(token, admin_token):
        return ADMIN
    return await _operator_by_key(transactions, key_hash=hash_api_key(token))


async def _operator_by_key(
    transactions: TransactionRunner, *, key_hash: str | None = None, key_id: str | None = None
) -> Operator:
    query = select(ops_keys).where(ops_keys.c.revoked_at.is_(None))
    if key_hash is not None:
        query = query.where(ops_keys.c.key_hash == key_hash)
    if key_id is not None:
        query = query.where(ops_keys.c.key_id == key_id)
    async with transactions.transaction() as session:
        row = (await session.execute(query)).mappings().first()
    if row is None:
        raise unauthorized()
    return Operator(id=row["principal_id"], role="ops", name=row["name"], key_id=row["key_id"])


async def verify_key_live(transactions: TransactionRunner, operator: Operator) -> None:
    """401 if the operator's key has been revoked since it signed in."""
    if operator.key_id is not None:
        await _operator_by_key(transactions, key_id=operator.key_id)


def _signing_key(admin_token: str) -> bytes:
    return hashlib.sha256(
        b"dealreg/conflict_resolver/stream-token\x00" + admin_token.encode()
    ).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_stream_token(
    operator: Operator, admin_token: str, *, now: datetime
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
    transactions: TransactionRunner, admin_token: str, token: str, *, now: datetime
) -> Operator:
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
    return await _operator_by_key(transactions, key_id=str(claims.get("kid")))
