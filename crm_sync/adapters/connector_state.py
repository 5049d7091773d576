"""Per-connector bookkeeping (``crm_connector_state``): health, the sweep's watermark, echoes
and sweep requests; plus the counts the sync status reports. SQL only, in the caller's
transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_sync.adapters.tables import connector_state, crm_dead_letters, mirrored_deals
from services.db import upsert_into


async def ensure_state(session: AsyncSession, system: str) -> None:
    await session.execute(
        upsert_into(session, connector_state)
        .values(crm_system=system, failures=0)
        .on_conflict_do_nothing()
    )


async def _set(session: AsyncSession, system: str, **values: Any) -> None:
    await session.execute(
        update(connector_state).where(connector_state.c.crm_system == system).values(**values)
    )


async def record_success(session: AsyncSession, system: str, now: datetime) -> None:
    await ensure_state(session, system)
    await _set(session, system, last_success_at=now)


async def record_failure(session: AsyncSession, system: str, now: datetime, error: str) -> None:
    await ensure_state(session, system)
    await _set(
        session,
        system,
        last_failure_at=now,
        last_error=error[:500],
        failures=connector_state.c.failures + 1,
    )


async def count_echo(session: AsyncSession, system: str, count: int = 1) -> None:
    await ensure_state(session, system)
    await _set(session, system, echoes_dropped=connector_state.c.echoes_dropped + count)


async def state_of(session: AsyncSession, system: str) -> Row[Any] | None:
    """The connector's row (health, watermark, counters); None before its first write."""
    return (
        await session.execute(select(connector_state).where(connector_state.c.crm_system == system))
    ).first()


@dataclass(frozen=True)
class SyncCounts:
    oldest_pending: datetime | None
    pending: int
    synced: int
    dead_letters: int


async def sync_counts(session: AsyncSession, system: str) -> SyncCounts:
    """Pending and synced deals (all systems' mirror), and the system's unreplayed dead letters."""
    oldest_pending, pending = (
        await session.execute(
            select(func.min(mirrored_deals.c.pending_since), func.count()).where(
                mirrored_deals.c.sync_state == "pending"
            )
        )
    ).one()
    dead = (
        await session.execute(
            select(func.count()).where(
                crm_dead_letters.c.crm_system == system,
                crm_dead_letters.c.replayed_at.is_(None),
            )
        )
    ).scalar_one()
    synced = (
        await session.execute(select(func.count()).where(mirrored_deals.c.sync_state == "synced"))
    ).scalar_one()
    return SyncCounts(
        oldest_pending=oldest_pending, pending=int(pending), synced=int(synced), dead_letters=dead
    )


async def watermark(session: AsyncSession, system: str) -> datetime | None:
    found = (
        await session.execute(
            select(connector_state.c.watermark).where(connector_state.c.crm_system == system)
        )
    ).scalar_one_or_none()
    return found if isinstance(found, datetime) else None


async def oldest_approval(session: AsyncSession) -> datetime | None:
    """When the oldest mirrored deal was approved (nothing of ours changed before it)."""
    oldest: datetime | None = (
        await session.execute(select(func.min(mirrored_deals.c.approved_at)))
    ).scalar()
    return oldest


async def advance_watermark(
    session: AsyncSession, system: str, moment: datetime, *, resumed: bool = False
) -> None:
    """Move the watermark forward to ``moment`` (never back).

    A sweep that ``resumed`` from a watermark leaves a cleared one cleared: a full sweep was
    asked for meanwhile, and the next sweep must start from the beginning.
    """
    later = connector_state.c.watermark < moment
    await session.execute(
        update(connector_state)
        .where(
            connector_state.c.crm_system == system,
            later if resumed else or_(connector_state.c.watermark.is_(None), later),
        )
        .values(watermark=moment)
    )


async def record_sweep(session: AsyncSession, system: str, now: datetime) -> None:
    await _set(session, system, last_reconciled_at=now, last_success_at=now)


async def request_sweep(
    session: AsyncSession, system: str, now: datetime, *, full: bool = False
) -> None:
    """Note a request for a sweep; a ``full`` one also clears the watermark."""
    await ensure_state(session, system)
    if full:
        await _set(session, system, reconcile_requested_at=now, watermark=None)
    else:
        await _set(session, system, reconcile_requested_at=now)


async def sweep_marks(
    session: AsyncSession, system: str
) -> tuple[datetime | None, datetime | None]:
    """(when a sweep was last requested, when the last sweep started)."""
    row = (
        await session.execute(
            select(
                connector_state.c.reconcile_requested_at, connector_state.c.last_reconciled_at
            ).where(connector_state.c.crm_system == system)
        )
    ).first()
    return (None, None) if row is None else (row.reconcile_requested_at, row.last_reconciled_at)
