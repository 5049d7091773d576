"""Sales-ops authentication for the services that do not issue keys.

deal_registration issues every API key and publishes ``OpsKeyIssued`` / ``ApiKeyRevoked``
(hashes only) on ``dealreg.principals``. A service that serves sales ops keeps its own copy in
an ``ops_keys`` table filled through its inbox (:class:`OpsKeyMirror`, typed handlers for
``services.events``; or the envelope handlers of :func:`principal_handlers`), and
:class:`OpsAuthenticator` accepts the admin token or a live ops key. A revocation takes effect
as soon as its event is applied; one that overtakes its issue leaves a tombstone, so the key
never becomes live. Only deal_registration may speak on that topic: a principal event with any
other CloudEvents source is dead-lettered and mints nothing (``services.kafka.sources``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Request
from sqlalchemy import Column, MetaData, RowMapping, String, Table, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.envelope import EventEnvelope
from schemas.principals import ApiKeyRevoked, OpsKeyIssued
from services.admin_token import PreviousAdminToken
from services.clock import Clock, SystemClock
from services.events import EventContext
from services.http.security import (
    admin_token_accepted,
    bearer_token,
    hash_api_key,
    unauthorized,
)
from services.inbox import claim_event
from services.kafka.consumer import PoisonEventError
from services.kafka.sources import only_from_senders
from services.tables import UtcDateTime
from services.uow import TransactionRunner


def ops_keys_table(metadata: MetaData) -> Table:
    """The ops keys this service accepts: hashes from ``dealreg.principals``."""
    return Table(
        "ops_keys",
        metadata,
        Column("key_id", String(36), primary_key=True),
        Column("principal_id", String(36), nullable=False),
        Column("name", String(200), nullable=False),
        Column("key_hash", String(64), nullable=False, unique=True),
        Column("issued_at", UtcDateTime(), nullable=True),  # null: a revocation's tombstone
        Column("revoked_at", UtcDateTime(), nullable=True),
    )


@dataclass(frozen=True)
class OpsCaller:
    """The admin or one sales-ops user (through one of their keys)."""

    id: str
    role: Literal["admin", "ops"]
    name: str
    key_id: str | None = None

    @property
    def actor(self) -> str:
        """How decisions and history name their author: ``admin`` or ``ops:<user id>``."""
        return "admin" if self.role == "admin" else f"ops:{self.id}"


ADMIN = OpsCaller(id="admin", role="admin", name="admin")


def principal_handlers(
    *,
    transactions: TransactionRunner,
    ops_keys: Table,
    inbox: Table,
    consumer: str,
    clock: Clock,
) -> dict[str, Callable[[EventEnvelope[Any]], Awaitable[None]]]:
    """Consumer handlers that keep ``ops_keys`` in step with the keys deal_registration issues.

    Events from any source but deal_registration's are poison (dead-lettered, nothing applied).
    """

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
                await _add_key(session, ops_keys, event)
            elif isinstance(event, ApiKeyRevoked):
                await _revoke_key(session, ops_keys, event)
            else:
                raise PoisonEventError(f"not a principal event: {envelope.type}")

    return only_from_senders({OpsKeyIssued.event_type: apply, ApiKeyRevoked.event_type: apply})


class OpsKeyEvents:
    """Typed handlers (``services.events``) that keep ``ops_keys`` in step with the keys
    deal_registration issues; declare them on a ``trusted_senders_only`` subscription::

        keys = OpsKeyEvents(ops_keys)
        Subscriptions(consumer=..., unit=unit, trusted_senders_only=True).on(
            OpsKeyIssued, keys.issued
        ).on(ApiKeyRevoked, keys.revoked)
    """

    def __init__(self, ops_keys: Table) -> None:
        self._ops_keys = ops_keys

    async def issued(self, event: OpsKeyIssued, context: EventContext) -> None:
        await _add_key(context.session, self._ops_keys, event)

    async def revoked(self, event: ApiKeyRevoked, context: EventContext) -> None:
        await _revoke_key(context.session, self._ops_keys, event)


async def _add_key(session: AsyncSession, ops_keys: Table, event: OpsKeyIssued) -> None:
    known = await session.execute(
        select(ops_keys.c.key_id).where(
            or_(ops_keys.c.key_id == event.key_id, ops_keys.c.key_hash == event.key_hash)
        )
    )
    if known.first() is None:  # a tombstone (revoked before issued) also counts as known
        await session.execute(
            insert(ops_keys).values(
                key_id=event.key_id,
                principal_id=event.principal_id,
                name=event.name,
                key_hash=event.key_hash,
                issued_at=event.issued_at,
            )
        )


async def _revoke_key(session: AsyncSession, ops_keys: Table, event: ApiKeyRevoked) -> None:
    revoked = await session.execute(
        update(ops_keys)
        .where(or_(ops_keys.c.key_id == event.key_id, ops_keys.c.key_hash == event.key_hash))
        .values(revoked_at=event.revoked_at)
    )
    if not revoked.rowcount:  # type: ignore[attr-defined]
        await session.execute(
            insert(ops_keys).values(
                key_id=event.key_id,
                principal_id=event.principal_id,
                name="",
                key_hash=event.key_hash,
                revoked_at=event.revoked_at,
            )
        )


class OpsAuthenticator:
    """Accepts the admin token or a live ops key; anything else is a 401 problem."""

    def __init__(
        self,
        *,
        transactions: TransactionRunner,
        ops_keys: Table,
        admin_token: str,
        previous_admin_token: PreviousAdminToken | None = None,
        clock: Clock | None = None,
    ) -> None:
        """``previous_admin_token``: the token before a rotation, accepted until its overlap
        ends (by ``clock``)."""
        self._transactions = transactions
        self._ops_keys = ops_keys
        self._admin_token = admin_token
        self._previous_admin_token = previous_admin_token
        self._clock = clock or SystemClock()

    async def authenticate(self, token: str) -> OpsCaller:
        if admin_token_accepted(
            token, self._admin_token, self._previous_admin_token, now=self._clock.now()
        ):
            return ADMIN
        return await self.live_key(key_hash=hash_api_key(token))

    async def live_key(
        self, *, key_hash: str | None = None, key_id: str | None = None
    ) -> OpsCaller:
        """The caller behind a live (issued, unrevoked) key, by hash or id; else 401."""
        query = select(self._ops_keys).where(
            self._ops_keys.c.revoked_at.is_(None), self._ops_keys.c.issued_at.is_not(None)
        )
        if key_hash is not None:
            query = query.where(self._ops_keys.c.key_hash == key_hash)
        if key_id is not None:
            query = query.where(self._ops_keys.c.key_id == key_id)
        async with self._transactions.transaction() as session:
            row: RowMapping | None = (await session.execute(query)).mappings().first()
        if row is None:
            raise unauthorized()
        return OpsCaller(id=row["principal_id"], role="ops", name=row["name"], key_id=row["key_id"])

    async def __call__(self, request: Request) -> OpsCaller:
        return await self.authenticate(bearer_token(request))
