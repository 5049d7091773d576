"""What the expiry notices read and write: live protections near their expiry, and the
notices recorded for each expiry (``expiry_notices``; its primary key makes each once)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from conflict_resolver.adapters.tables import claims, expiry_notices, protections


async def next_unnoticed(
    session: AsyncSession, notice: timedelta, *, now: datetime
) -> dict[str, Any] | None:
    """One live protection whose ``notice`` is due (it expires within it) and not recorded
    for its current expiry, with its claim's decision time and submitted event."""
    seconds = int(notice.total_seconds())
    recorded = exists().where(
        and_(
            expiry_notices.c.registration_id == protections.c.registration_id,
            expiry_notices.c.expires_at == protections.c.expires_at,
            expiry_notices.c.notice_seconds == seconds,
        )
    )
    query = (
        select(
            protections.c.registration_id,
            protections.c.expires_at,
            claims.c.decided_at,
            claims.c.submitted,
            claims.c.correlation_id,
        )
        .join(claims, claims.c.registration_id == protections.c.registration_id)
        .where(
            protections.c.expires_at > now,
            protections.c.expires_at <= now + notice,
            ~recorded,
        )
        .order_by(protections.c.expires_at)
        .limit(1)
    )
    row = (await session.execute(query)).mappings().first()
    return None if row is None else dict(row)


async def recorded_notices(
    session: AsyncSession, registration_id: str, expires_at: datetime
) -> tuple[timedelta, ...]:
    query = select(expiry_notices.c.notice_seconds).where(
        expiry_notices.c.registration_id == registration_id,
        expiry_notices.c.expires_at == expires_at,
    )
    return tuple(timedelta(seconds=s) for s in (await session.execute(query)).scalars())


async def record_notices(
    session: AsyncSession,
    registration_id: str,
    expires_at: datetime,
    *,
    notices: tuple[timedelta, ...],
    sent: timedelta | None,
    now: datetime,
) -> None:
    """Record each notice once; a second instance recording the same fails (IntegrityError)
    and its transaction, with its event, rolls back."""
    rows = [
        {
            "registration_id": registration_id,
            "expires_at": expires_at,
            "notice_seconds": int(notice.total_seconds()),
            "sent": notice == sent,
            "recorded_at": now,
        }
        for notice in notices
    ]
    if rows:
        await session.execute(insert(expiry_notices), rows)
