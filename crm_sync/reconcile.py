"""The reconciliation sweep: read what changed in the CRM since the watermark, apply it.

The sweep reads opportunities modified from the watermark (less an overlap for clock skew) up
to *now less the search index's lag*: a change younger than that may not be searchable yet, so
it is left for the next sweep instead of being skipped for good. The watermark moves forward
with every page applied (in the page's transaction), so a sweep that stops half-way keeps its
progress, and to the sweep's upper bound once the sweep completes.

The first sweep starts at ``DEALREG_CRM_RECONCILE_START_AT`` when set (a backfill), else at the
oldest mirrored deal's approval (nothing of ours changed before it), else at the upper bound.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_sync.adapters.tables import connector_state, mirrored_deals
from crm_sync.handlers import Context
from crm_sync.inbound import apply_deals
from crm_sync.ports import CrmConnector
from crm_sync.status import ensure_state


async def reconcile(ctx: Context, connector: CrmConnector) -> int:
    """One sweep; returns the records examined."""
    now = ctx.clock.now()
    until = now - timedelta(seconds=ctx.settings.reconcile_index_lag_seconds)
    start = await _start(ctx, connector, until)
    since = start - timedelta(seconds=ctx.settings.reconcile_overlap_seconds)
    examined = 0
    if since < until:
        async for page in connector.changed_pages(since, until):
            async with ctx.transactions.transaction() as session:
                await apply_deals(ctx, session, connector, page, now)
                newest = max(deal.modified_at for deal in page)
                await _advance(session, connector.system, min(newest, until))
            examined += len(page)
    async with ctx.transactions.transaction() as session:
        await _advance(session, connector.system, until)
        await session.execute(
            update(connector_state)
            .where(connector_state.c.crm_system == connector.system)
            .values(last_reconciled_at=now, last_success_at=now)
        )
    return examined


async def _start(ctx: Context, connector: CrmConnector, until: datetime) -> datetime:
    """The watermark, or where a first sweep starts."""
    async with ctx.transactions.transaction() as session:
        await ensure_state(session, connector.system)
        watermark = (
            await session.execute(
                select(connector_state.c.watermark).where(
                    connector_state.c.crm_system == connector.system
                )
            )
        ).scalar_one_or_none()
        oldest: datetime | None = (
            await session.execute(select(func.min(mirrored_deals.c.approved_at)))
        ).scalar()
    if isinstance(watermark, datetime):
        return watermark
    if ctx.settings.reconcile_start_at is not None:
        return ctx.settings.reconcile_start_at
    return oldest if oldest is not None else until


async def _advance(session: AsyncSession, system: str, moment: datetime) -> None:
    """Move the watermark forward to ``moment`` (never back)."""
    await session.execute(
        update(connector_state)
        .where(
            connector_state.c.crm_system == system,
            or_(connector_state.c.watermark.is_(None), connector_state.c.watermark < moment),
        )
        .values(watermark=moment)
    )


async def request_sweep(ctx: Context, system: str) -> None:
    """Ask for a sweep now; whichever instance holds the reconciler's lease runs it."""
    async with ctx.transactions.transaction() as session:
        await ensure_state(session, system)
        await session.execute(
            update(connector_state)
            .where(connector_state.c.crm_system == system)
            .values(reconcile_requested_at=ctx.clock.now())
        )


async def sweep_requested(ctx: Context, system: str) -> bool:
    """A request newer than the last sweep's start is waiting."""
    async with ctx.transactions.transaction() as session:
        row = (
            await session.execute(
                select(
                    connector_state.c.reconcile_requested_at, connector_state.c.last_reconciled_at
                ).where(connector_state.c.crm_system == system)
            )
        ).first()
    if row is None or row.reconcile_requested_at is None:
        return False
    return row.last_reconciled_at is None or row.reconcile_requested_at > row.last_reconciled_at
