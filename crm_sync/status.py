"""Per-connector health: last success, failures, lag, dead letters (``GET /v1/sync/status``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from crm_sync.adapters.tables import connector_state, crm_dead_letters, mirrored_deals
from services.db import dialect_name
from services.uow import TransactionRunner


async def ensure_state(session: AsyncSession, system: str) -> None:
    insert = postgresql.insert if dialect_name(session) == "postgresql" else sqlite.insert
    await session.execute(
        insert(connector_state).values(crm_system=system, failures=0).on_conflict_do_nothing()
    )


async def record_success(session: AsyncSession, system: str, now: datetime) -> None:
    await ensure_state(session, system)
    await session.execute(
        update(connector_state)
        .where(connector_state.c.crm_system == system)
        .values(last_success_at=now)
    )


async def record_failure(session: AsyncSession, system: str, now: datetime, error: str) -> None:
    await ensure_state(session, system)
    await session.execute(
        update(connector_state)
        .where(connector_state.c.crm_system == system)
        .values(
            last_failure_at=now,
            last_error=error[:500],
            failures=connector_state.c.failures + 1,
        )
    )


async def count_echo(session: AsyncSession, system: str, count: int = 1) -> None:
    await ensure_state(session, system)
    await session.execute(
        update(connector_state)
        .where(connector_state.c.crm_system == system)
        .values(echoes_dropped=connector_state.c.echoes_dropped + count)
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


async def sync_status(
    transactions: TransactionRunner, system: str, now: datetime
) -> dict[str, Any]:
    async with transactions.transaction() as session:
        state = (
            await session.execute(
                select(connector_state).where(connector_state.c.crm_system == system)
            )
        ).first()
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
            await session.execute(
                select(func.count()).where(mirrored_deals.c.sync_state == "synced")
            )
        ).scalar_one()
    if oldest_pending is not None and oldest_pending.tzinfo is None:
        oldest_pending = oldest_pending.replace(tzinfo=UTC)
    lag = (now - oldest_pending).total_seconds() if oldest_pending else 0.0
    return {
        "crm_system": system,
        "lag_seconds": round(max(lag, 0.0), 3),
        "pending": int(pending),
        "synced": int(synced),
        "dead_letters": int(dead),
        "last_success_at": _iso(state.last_success_at) if state else None,
        "last_failure_at": _iso(state.last_failure_at) if state else None,
        "last_error": state.last_error if state else None,
        "failures": int(state.failures) if state else 0,
        "watermark": _iso(state.watermark) if state else None,
        "last_reconciled_at": _iso(state.last_reconciled_at) if state else None,
        "echoes_dropped": int(state.echoes_dropped) if state else 0,
    }
