"""Sales-ops authentication for the services that do not issue keys.

deal_registration issues every API key and publishes ``OpsKeyIssued`` / ``ApiKeyRevoked``
(hashes only) on ``dealreg.principals``. A service that serves sales ops keeps its own copy in
an ``ops_keys`` table filled through its inbox (:func:`principal_handlers`), and
:class:`OpsAuthenticator` accepts the admin token or a live ops key. A revocation takes effect
as soon as the event is applied (milliseconds after the admin's call).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Request
from sqlalchemy import Column, MetaData, String, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite

from schemas.envelope import EventEnvelope
from schemas.principals import ApiKeyRevoked, OpsKeyIssued
from services.clock import Clock
from services.db import dialect_name
from services.http.security import bearer_token, hash_api_key, is_admin_token, unauthorized
from services.inbox import claim_event
from services.tables import UtcDateTime
from services.uow import TransactionRunner


def ops_keys_table(metadata: MetaData) -> Table:
    """The ops keys this service accepts: hashes from ``dealreg.principals``."""
    return Table(
        "ops_keys",
        metadata,
        Column("key_id", String(36), primary_key=True),
        Column("key_hash", String(64), nullable=False, unique=True),
        Column("name", String(200), nullable=False),
        Column("issued_at", UtcDateTime(), nullable=False),
        Column("revoked_at", UtcDateTime(), nullable=True),
    )


@dataclass(frozen=True)
class OpsCaller:
    id: str
    role: Literal["admin", "ops"]
    name: str


def principal_handlers(
    *,
    transactions: TransactionRunner,
    ops_keys: Table,
    inbox: Table,
    consumer: str,
    clock: Clock,
) -> dict[str, Callable[[EventEnvelope[Any]], Awaitable[None]]]:
    """Consumer handlers that keep ``ops_keys`` in step with the published keys."""

    async def apply(envelope: EventEnvelope[Any]) -> None:
        async with transactions.transaction() as session:
            if not await claim_event(
                session,
                inbox,
                consumer=consumer,
                event_id=envelope.id,
                event_type=envelope.type,
                now=clock.now(),
            ):
                return
            event = envelope.data
            if isinstance(event, OpsKeyIssued):
                insert = (
                    postgresql.insert if dialect_name(session) == "postgresql" else sqlite.insert
                )
                await session.execute(
                    insert(ops_keys)
                    .values(
                        key_id=event.key_id,
                        key_hash=event.key_hash,
                        name=event.name,
                        issued_at=event.issued_at,
                    )
                    .on_conflict_do_nothing()
                )
            elif isinstance(event, ApiKeyRevoked):
                await session.execute(
                    update(ops_keys)
                    .where(ops_keys.c.key_hash == event.key_hash, ops_keys.c.revoked_at.is_(None))
                    .values(revoked_at=event.revoked_at)
                )

    return {OpsKeyIssued.event_type: apply, ApiKeyRevoked.event_type: apply}


class OpsAuthenticator:
    """Accepts the admin token or a live ops key; anything else is a 401 problem."""

    def __init__(
        self, *, transactions: TransactionRunner, ops_keys: Table, admin_token: str
    ) -> None:
        self._transactions = transactions
        self._ops_keys = ops_keys
        self._admin_token = admin_token

    async def authenticate(self, token: str) -> OpsCaller:
        if is_admin_token(token, self._admin_token):
            return OpsCaller(id="admin", role="admin", name="admin")
        query = select(self._ops_keys).where(
            self._ops_keys.c.key_hash == hash_api_key(token), self._ops_keys.c.revoked_at.is_(None)
        )
        async with self._transactions.transaction() as session:
            row = (await session.execute(query)).mappings().first()
        if row is None:
            raise unauthorized()
        return OpsCaller(id=row["key_id"], role="ops", name=row["name"])

    async def __call__(self, request: Request) -> OpsCaller:
        return await self.authenticate(bearer_token(request))
