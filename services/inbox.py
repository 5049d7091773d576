"""The inbox: a consumer applies each event at most once.

:func:`claim_event` inserts (consumer, event id) in the caller's transaction and says whether
the row was new. The caller applies the effects only then, and commits both together, so a
redelivered event (after a crash, a rebalance or a relay republish) changes nothing twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from services.db import upsert_into


async def claim_event(
    session: AsyncSession,
    inbox: Table,
    *,
    consumer: str,
    event_id: str,
    event_type: str,
    now: datetime,
) -> bool:
    """Record the event as processed by ``consumer``; False if it already was."""
    values = {
        "consumer": consumer,
        "event_id": event_id,
        "event_type": event_type,
        "processed_at": now,
    }
    statement = upsert_into(session, inbox).values(**values).on_conflict_do_nothing()
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def claim_events(
    session: AsyncSession,
    inbox: Table,
    events: list[tuple[str, str, str]],
    *,
    now: datetime,
) -> set[tuple[str, str]]:
    """Record many events at once, each ``(consumer, event id, event type)``; the
    ``(consumer, event id)`` pairs that were new (one statement, however many events)."""
    if not events:
        return set()
    values = [
        {"consumer": consumer, "event_id": event_id, "event_type": event_type, "processed_at": now}
        for consumer, event_id, event_type in dict.fromkeys(events)
    ]
    statement = (
        upsert_into(session, inbox)
        .values(values)
        .on_conflict_do_nothing()
        .returning(inbox.c.consumer, inbox.c.event_id)
    )
    result = await session.execute(statement)
    return {(row.consumer, row.event_id) for row in result}
