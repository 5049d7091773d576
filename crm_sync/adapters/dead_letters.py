"""The CRM dead letters (``crm_dead_letters``) and the requeueing of their deals. SQL only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_sync.adapters.tables import crm_dead_letters, mirrored_deals

# A dead letter row, read by attribute (id, crm_system, registration_id, reason, ...).
DeadLetter = Row[Any]


async def insert_letter(
    session: AsyncSession,
    *,
    crm_system: str,
    payload: dict[str, Any],
    reason: str,
    attempts: int,
    now: datetime,
) -> None:
    await session.execute(
        insert(crm_dead_letters).values(
            crm_system=crm_system,
            registration_id=payload["registration_id"],
            reason=reason,
            attempts=attempts,
            payload=payload,
            created_at=now,
            permanent=True,
        )
    )


async def unreplayed(
    session: AsyncSession, *, ids: list[int] | None = None, only_transient: bool = False
) -> list[tuple[int, str]]:
    """(id, registration id) of the dead letters not replayed yet: of these ``ids`` (all when
    None), only those that were outages (not ``permanent``) when ``only_transient``."""
    query = select(crm_dead_letters.c.id, crm_dead_letters.c.registration_id).where(
        crm_dead_letters.c.replayed_at.is_(None)
    )
    if ids is not None:
        query = query.where(crm_dead_letters.c.id.in_(ids))
    if only_transient:
        query = query.where(crm_dead_letters.c.permanent.is_(False))
    return [(row.id, row.registration_id) for row in (await session.execute(query)).all()]


async def requeue(session: AsyncSession, letters: list[tuple[int, str]], *, now: datetime) -> None:
    """Mark the letters replayed and put their dead deals back in the push queue."""
    await session.execute(
        update(crm_dead_letters)
        .where(crm_dead_letters.c.id.in_([letter_id for letter_id, _ in letters]))
        .values(replayed_at=now)
    )
    await session.execute(
        update(mirrored_deals)
        .where(
            and_(
                mirrored_deals.c.registration_id.in_(
                    [registration_id for _, registration_id in letters]
                ),
                mirrored_deals.c.sync_state == "dead",
            )
        )
        .values(sync_state="pending", attempts=0, next_attempt_at=now, pending_since=now)
    )


async def letters(session: AsyncSession, *, include_replayed: bool) -> list[DeadLetter]:
    query = select(crm_dead_letters).order_by(crm_dead_letters.c.id)
    if not include_replayed:
        query = query.where(crm_dead_letters.c.replayed_at.is_(None))
    return list((await session.execute(query)).all())


async def letter(session: AsyncSession, dead_letter_id: int) -> DeadLetter | None:
    return (
        await session.execute(
            select(crm_dead_letters).where(crm_dead_letters.c.id == dead_letter_id)
        )
    ).first()


async def deal_state(session: AsyncSession, registration_id: str) -> dict[str, Any] | None:
    """The deal's sync state, desired fields, last error and CRM id (what a replay sends)."""
    deal = (
        await session.execute(
            select(
                mirrored_deals.c.sync_state,
                mirrored_deals.c.desired,
                mirrored_deals.c.last_error,
                mirrored_deals.c.crm_opportunity_id,
            ).where(mirrored_deals.c.registration_id == registration_id)
        )
    ).first()
    return None if deal is None else dict(deal._mapping)
