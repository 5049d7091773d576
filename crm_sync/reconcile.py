"""The reconciliation sweep: read what changed in the CRM since the watermark, apply it.

The sweep reads opportunities modified from the watermark (less an overlap for clock skew) up
to *now less the search index's lag*: a change younger than that may not be searchable yet, so
it is left for the next sweep instead of being skipped for good. The watermark moves forward
with every page applied (in the page's transaction), so a sweep that stops half-way keeps its
progress, and to the sweep's upper bound once the sweep completes.

The first sweep starts at ``DEALREG_CRM_RECONCILE_START_AT`` when set (a backfill), else at the
oldest mirrored deal's approval (nothing of ours changed before it), else at the upper bound.

A *full* sweep (``POST /v1/sync/reconcile`` with ``{"full": true}``) clears the watermark, so
the next sweep starts where the first one did: what an operator asks for when changes were
missed (a search index that lagged more than ``DEALREG_CRM_RECONCILE_INDEX_LAG_SECONDS``, say).
A sweep that resumed from a watermark never sets one that was cleared meanwhile: the request
for a full sweep survives a sweep in progress.
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
    start, resumed = await _start(ctx, connector, until)
    since = start - timedelta(seconds=ctx.settings.reconcile_overlap_seconds)
    examined = 0
    if since < until:
        async for page in connector.changed_pages(since, until):
            async with ctx.transactions.transaction() as session:
                await apply_deals(ctx, session, connector, page, now)
                newest = max(deal.modified_at for deal in page)
                await _advance(session, connector.system, min(newest, until), resumed=resumed)
            examined += len(page)
    async with ctx.transactions.transaction() as session:
        await _advance(session, connector.system, until, resumed=resumed)
        await session.execute(
            update(connector_state)
            .where(connector_state.c.crm_system == connector.system)
            .values(last_reconciled_at=now, last_success_at=now)
        )
    return examined


async def _start(ctx: Context, connector: CrmConnector, until: datetime) -> tuple[datetime, bool]:
    """The watermark (and True), or where a first or full sweep starts (and False)."""
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
        return watermark, True
    if ctx.settings.reconcile_start_at is not None:
        return ctx.settings.reconcile_start_at, False
    return (oldest if oldest is not None else until), False


async def _advance(session: AsyncSession, system: str, moment: datetime, *, resumed: bool) -> None:
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


async def request_sweep(ctx: Context, system: str, *, full: bool = False) -> None:
    """Ask for a sweep now; whichever instance holds the reconciler's lease runs it.

    ``full``: from the beginning, as the first sweep (the watermark is cleared).
    """
    values: dict[str, object] = {"reconcile_requested_at": ctx.clock.now()}
    if full:
        values["watermark"] = None
    async with ctx.transactions.transaction() as session:
        await ensure_state(session, system)
        await session.execute(
            update(connector_state).where(connector_state.c.crm_system == system).values(values)
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
