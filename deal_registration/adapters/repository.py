"""The queries deal_registration's handlers need, on SQLAlchemy Core."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, and_, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from deal_registration.adapters.tables import (
    api_keys,
    idempotency_keys,
    partners,
    registration_history,
    registrations,
)
from services.db import dialect_name


async def find_api_key(session: AsyncSession, key_hash: str) -> RowMapping | None:
    row = (
        (
            await session.execute(
                select(api_keys).where(
                    api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None)
                )
            )
        )
        .mappings()
        .first()
    )
    return row


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
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": account_key}
        )


async def insert_registration(session: AsyncSession, values: dict[str, Any]) -> int:
    result = await session.execute(
        insert(registrations).values(**values).returning(registrations.c.submission_seq)
    )
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
) -> list[RowMapping]:
    conditions = []
    if partner_id is not None:
        conditions.append(registrations.c.partner_id == partner_id)
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
    await session.execute(insert(registration_history).values(**values))


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


async def store_idempotent_response(
    session: AsyncSession,
    *,
    principal_id: str,
    key: str,
    request_hash: str,
    status_code: int,
    response: dict[str, Any],
    now: datetime,
) -> None:
    await session.execute(
        insert(idempotency_keys).values(
            principal_id=principal_id,
            key=key,
            request_hash=request_hash,
            status_code=status_code,
            response=response,
            created_at=now,
        )
    )
