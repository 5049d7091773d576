"""The queries deal_registration's handlers need, on SQLAlchemy Core."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, and_, bindparam, delete, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from deal_registration.adapters.tables import (
    api_keys,
    idempotency_keys,
    partner_webhooks,
    partners,
    registration_history,
    registrations,
    webhook_deliveries,
)
from services.db import dialect_name

# What the handlers name without importing SQLAlchemy themselves: the transaction's session,
# and the error a unique key (an Idempotency-Key claimed concurrently) fails with.
Session = AsyncSession
DuplicateKeyError = IntegrityError


# Intake's statements, built once: a statement built per call (``insert(...).values(**row)``)
# is coerced and has its cache key computed from every value on every request; a constant
# statement with the row as parameters finds its compiled form in the cache at once.
_PARTNER_COLUMNS = [column.label(f"partner__{column.name}") for column in partners.c]
_FIND_API_KEY = (
    select(api_keys, *_PARTNER_COLUMNS)
    .outerjoin(partners, partners.c.id == api_keys.c.partner_id)
    .where(api_keys.c.key_hash == bindparam("key_hash"), api_keys.c.revoked_at.is_(None))
)
_LOCK_ACCOUNT = text("SELECT pg_advisory_xact_lock(hashtext(:key))")
_INSERT_REGISTRATION = insert(registrations).returning(registrations.c.submission_seq)
_APPEND_HISTORY = insert(registration_history)


async def find_api_key(
    session: AsyncSession, key_hash: str
) -> tuple[RowMapping, dict[str, Any] | None] | None:
    """The live key with this hash and, in the same statement, its partner (None for an ops
    key): a partner's request needs both, and one round trip is cheaper than two."""
    row = (await session.execute(_FIND_API_KEY, {"key_hash": key_hash})).mappings().first()
    if row is None:
        return None
    partner = {column.name: row[f"partner__{column.name}"] for column in partners.c}
    return row, (partner if partner["id"] is not None else None)


async def insert_partner(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(partners).values(**values))


async def insert_api_key(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(api_keys).values(**values))


async def get_partner(session: AsyncSession, partner_id: str) -> RowMapping | None:
    return (
        (await session.execute(select(partners).where(partners.c.id == partner_id)))
        .mappings()
        .first()
    )


async def update_partner(session: AsyncSession, partner_id: str, values: dict[str, Any]) -> None:
    await session.execute(update(partners).where(partners.c.id == partner_id).values(**values))


async def lock_account(session: AsyncSession, account_key: str) -> None:
    """Serialise submissions for one account so their commit order equals their sequence order.

    The outbox relay publishes in sequence order, so this keeps one account's events in
    acceptance order on its partition. SQLite already serialises writers (BEGIN IMMEDIATE).
    """
    if dialect_name(session) == "postgresql":
        await session.execute(_LOCK_ACCOUNT, {"key": account_key})


async def insert_registration(session: AsyncSession, values: dict[str, Any]) -> int:
    result = await session.execute(_INSERT_REGISTRATION, values)
    return int(result.scalar_one())


async def get_registration(session: AsyncSession, registration_id: str) -> RowMapping | None:
    return (
        (await session.execute(select(registrations).where(registrations.c.id == registration_id)))
        .mappings()
        .first()
    )


async def list_registrations(
    session: AsyncSession,
    *,
    partner_id: str | None,
    status: str | None,
    after_seq: int | None,
    limit: int,
    product_line: str | None = None,
) -> list[RowMapping]:
    conditions = []
    if partner_id is not None:
        conditions.append(registrations.c.partner_id == partner_id)
    if product_line is not None:
        conditions.append(registrations.c.product_line == product_line)
    if status is not None:
        conditions.append(registrations.c.status == status)
    if after_seq is not None:
        conditions.append(registrations.c.submission_seq > after_seq)
    query = (
        select(registrations)
        .where(and_(True, *conditions))
        .order_by(registrations.c.submission_seq)
        .limit(limit)
    )
    return list((await session.execute(query)).mappings().all())


async def update_registration(
    session: AsyncSession, registration_id: str, values: dict[str, Any]
) -> None:
    await session.execute(
        update(registrations).where(registrations.c.id == registration_id).values(**values)
    )


async def append_history(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(_APPEND_HISTORY, values)


async def history_of(session: AsyncSession, registration_id: str) -> list[RowMapping]:
    query = (
        select(registration_history)
        .where(registration_history.c.registration_id == registration_id)
        .order_by(registration_history.c.id)
    )
    return list((await session.execute(query)).mappings().all())


async def find_idempotent_response(
    session: AsyncSession, principal_id: str, key: str
) -> RowMapping | None:
    return (
        (
            await session.execute(
                select(idempotency_keys).where(
                    idempotency_keys.c.principal_id == principal_id, idempotency_keys.c.key == key
                )
            )
        )
        .mappings()
        .first()
    )


async def lock_registration(session: AsyncSession, registration_id: str) -> RowMapping | None:
    """The registration, locked until the transaction ends (PostgreSQL; SQLite serialises)."""
    query = select(registrations).where(registrations.c.id == registration_id)
    if dialect_name(session) == "postgresql":
        query = query.with_for_update()
    return (await session.execute(query)).mappings().first()


async def claim_idempotency_key(
    session: AsyncSession, *, principal_id: str, key: str, request_hash: str, now: datetime
) -> None:
    """Insert the key first: a concurrent request with the same key waits here, then fails."""
    await session.execute(
        insert(idempotency_keys).values(
            principal_id=principal_id,
            key=key,
            request_hash=request_hash,
            status_code=0,
            response={},
            created_at=now,
        )
    )


async def complete_idempotency_key(
    session: AsyncSession,
    *,
    principal_id: str,
    key: str,
    status_code: int,
    response: dict[str, Any],
) -> None:
    await session.execute(
        update(idempotency_keys)
        .where(idempotency_keys.c.principal_id == principal_id, idempotency_keys.c.key == key)
        .values(status_code=status_code, response=response)
    )


async def get_api_key(session: AsyncSession, key_id: str) -> RowMapping | None:
    return (
        (await session.execute(select(api_keys).where(api_keys.c.id == key_id))).mappings().first()
    )


async def api_keys_of_partner(session: AsyncSession, partner_id: str) -> list[RowMapping]:
    query = (
        select(api_keys)
        .where(api_keys.c.partner_id == partner_id)
        .order_by(api_keys.c.created_at.desc(), api_keys.c.id)
    )
    return list((await session.execute(query)).mappings().all())


async def revoke_api_key(session: AsyncSession, key_id: str, *, now: datetime) -> None:
    await session.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def get_webhook(session: AsyncSession, partner_id: str) -> RowMapping | None:
    return (
        (
            await session.execute(
                select(partner_webhooks).where(partner_webhooks.c.partner_id == partner_id)
            )
        )
        .mappings()
        .first()
    )


async def put_webhook(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(
        delete(partner_webhooks).where(partner_webhooks.c.partner_id == values["partner_id"])
    )
    await session.execute(insert(partner_webhooks).values(**values))


async def delete_webhook(session: AsyncSession, partner_id: str) -> bool:
    result = await session.execute(
        delete(partner_webhooks).where(partner_webhooks.c.partner_id == partner_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def insert_delivery(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(webhook_deliveries).values(**values))


async def deliveries_of_partner(
    session: AsyncSession, partner_id: str, *, limit: int
) -> list[RowMapping]:
    query = (
        select(webhook_deliveries)
        .where(webhook_deliveries.c.partner_id == partner_id)
        .order_by(webhook_deliveries.c.created_at.desc(), webhook_deliveries.c.id)
        .limit(limit)
    )
    return list((await session.execute(query)).mappings().all())


async def any_delivery_due(connection: AsyncConnection, *, now: datetime) -> bool:
    """Whether a delivery may be leased now; a cheap read that takes no write lock."""
    d = webhook_deliveries
    query = (
        select(d.c.id)
        .where(
            d.c.state == "pending",
            d.c.next_attempt_at <= now,
            or_(d.c.leased_until.is_(None), d.c.leased_until <= now),
        )
        .limit(1)
    )
    return (await connection.execute(query)).first() is not None


async def lease_next_delivery(
    session: AsyncSession, *, now: datetime, lease_until: datetime
) -> RowMapping | None:
    """Lease the oldest due delivery of a partner that has none in flight, or None.

    The partner's webhook row is locked first (skipping partners another worker is leasing
    for), so at most one delivery per partner is ever in flight, even across processes.
    """
    d = webhook_deliveries
    in_flight = (
        select(d.c.id)
        .where(d.c.partner_id == partner_webhooks.c.partner_id, d.c.leased_until > now)
        .exists()
    )
    candidates = (
        select(d.c.id, d.c.partner_id)
        .where(
            d.c.state == "pending",
            d.c.next_attempt_at <= now,
            or_(d.c.leased_until.is_(None), d.c.leased_until <= now),
        )
        .order_by(d.c.next_attempt_at, d.c.id)
        .limit(20)
    )
    postgres = dialect_name(session) == "postgresql"
    for candidate in (await session.execute(candidates)).mappings().all():
        partner = select(partner_webhooks.c.partner_id).where(
            partner_webhooks.c.partner_id == candidate["partner_id"], ~in_flight
        )
        if postgres:
            partner = partner.with_for_update(skip_locked=True)
        hook_missing = await get_webhook(session, candidate["partner_id"]) is None
        if not hook_missing and (await session.execute(partner)).first() is None:
            continue  # another delivery of this partner is in flight, or being leased
        leased = await session.execute(
            update(d)
            .where(
                d.c.id == candidate["id"],
                d.c.state == "pending",
                or_(d.c.leased_until.is_(None), d.c.leased_until <= now),
            )
            .values(leased_until=lease_until)
        )
        if leased.rowcount:  # type: ignore[attr-defined]
            return (
                (await session.execute(select(d).where(d.c.id == candidate["id"]))).mappings().one()
            )
    return None


async def record_delivery_attempt(
    session: AsyncSession, delivery_id: str, *, leased_until: datetime, values: dict[str, Any]
) -> bool:
    """Write an attempt's outcome if the lease is still ours (False: it lapsed and another
    worker took the delivery; its outcome wins)."""
    result = await session.execute(
        update(webhook_deliveries)
        .where(
            webhook_deliveries.c.id == delivery_id,
            webhook_deliveries.c.leased_until == leased_until,
        )
        .values(**values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def live_influence_of(
    session: AsyncSession, partner_id: str, account_key: str, product_line: str
) -> str | None:
    """The partner's own live (submitted or accepted) influence registration on the account
    and product line, if any."""
    query = select(registrations.c.id).where(
        registrations.c.partner_id == partner_id,
        registrations.c.account_key == account_key,
        registrations.c.product_line == product_line,
        registrations.c.role == "influence",
        registrations.c.status.in_(("submitted", "accepted")),
    )
    found = (await session.execute(query.limit(1))).scalar_one_or_none()
    return None if found is None else str(found)
