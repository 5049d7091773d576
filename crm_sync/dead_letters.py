"""CRM dead letters: deals the CRM refused because of their data, for operators to work.

Only a permanent refusal about the data (a 400 naming a bad field, a per-record validation
error) is dead-lettered: an outage, a 429 or a timeout waits in the queue instead, however long
it lasts. Dead letters written before that rule (``permanent`` false: they were outages) are
revived automatically and reach the CRM when it answers again. Operators list, show and replay
them (``GET/POST /v1/sync/dead-letters``, ``python -m crm_sync.cli dead-letters``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_sync.adapters.tables import crm_dead_letters, mirrored_deals
from crm_sync.handlers import Context


async def record_dead(
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


async def replay_dead_letters(ctx: Context, dead_letter_ids: list[int] | None) -> int:
    """Put dead-lettered deals back in the queue (all unreplayed ones when ids is None)."""
    query = select(crm_dead_letters.c.id, crm_dead_letters.c.registration_id).where(
        crm_dead_letters.c.replayed_at.is_(None)
    )
    if dead_letter_ids is not None:
        query = query.where(crm_dead_letters.c.id.in_(dead_letter_ids))
    return await _replay(ctx, query)


async def revive_transient(ctx: Context) -> int:
    """Requeue the dead letters that were outages, not bad data (written by older versions)."""
    query = select(crm_dead_letters.c.id, crm_dead_letters.c.registration_id).where(
        crm_dead_letters.c.replayed_at.is_(None), crm_dead_letters.c.permanent.is_(False)
    )
    return await _replay(ctx, query)


async def _replay(ctx: Context, query: Any) -> int:
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        letters = (await session.execute(query)).all()
        if not letters:
            return 0
        await session.execute(
            update(crm_dead_letters)
            .where(crm_dead_letters.c.id.in_([letter.id for letter in letters]))
            .values(replayed_at=now)
        )
        await session.execute(
            update(mirrored_deals)
            .where(
                and_(
                    mirrored_deals.c.registration_id.in_(
                        [letter.registration_id for letter in letters]
                    ),
                    mirrored_deals.c.sync_state == "dead",
                )
            )
            .values(sync_state="pending", attempts=0, next_attempt_at=now, pending_since=now)
        )
    ctx.wake_pusher.set()
    return len(letters)


async def list_dead_letters(
    ctx: Context, *, include_replayed: bool = False
) -> list[dict[str, Any]]:
    async with ctx.transactions.transaction() as session:
        query = select(crm_dead_letters).order_by(crm_dead_letters.c.id)
        if not include_replayed:
            query = query.where(crm_dead_letters.c.replayed_at.is_(None))
        rows = (await session.execute(query)).all()
    return [_view(row) for row in rows]


async def show_dead_letter(ctx: Context, dead_letter_id: int) -> dict[str, Any] | None:
    """One dead letter with the deal's current sync state (what a replay would send)."""
    async with ctx.transactions.transaction() as session:
        row = (
            await session.execute(
                select(crm_dead_letters).where(crm_dead_letters.c.id == dead_letter_id)
            )
        ).first()
        if row is None:
            return None
        deal = (
            await session.execute(
                select(
                    mirrored_deals.c.sync_state,
                    mirrored_deals.c.desired,
                    mirrored_deals.c.last_error,
                    mirrored_deals.c.crm_opportunity_id,
                ).where(mirrored_deals.c.registration_id == row.registration_id)
            )
        ).first()
    view = _view(row)
    view["deal"] = None if deal is None else dict(deal._mapping)
    return view


def _view(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "crm_system": row.crm_system,
        "registration_id": row.registration_id,
        "reason": row.reason,
        "permanent": bool(row.permanent),
        "attempts": row.attempts,
        "payload": row.payload,
        "created_at": row.created_at.isoformat(),
        "replayed_at": row.replayed_at.isoformat() if row.replayed_at else None,
    }
