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

from crm_sync.adapters import connector_state as states
from crm_sync.handlers import Context
from crm_sync.inbound import apply_deals
from crm_sync.ports import CrmConnector


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
                await states.advance_watermark(
                    session, connector.system, min(newest, until), resumed=resumed
                )
            examined += len(page)
    async with ctx.transactions.transaction() as session:
        await states.advance_watermark(session, connector.system, until, resumed=resumed)
        await states.record_sweep(session, connector.system, now)
    return examined


async def _start(ctx: Context, connector: CrmConnector, until: datetime) -> tuple[datetime, bool]:
    """The watermark (and True), or where a first or full sweep starts (and False)."""
    async with ctx.transactions.transaction() as session:
        await states.ensure_state(session, connector.system)
        watermark = await states.watermark(session, connector.system)
        oldest = await states.oldest_approval(session)
    if watermark is not None:
        return watermark, True
    if ctx.settings.reconcile_start_at is not None:
        return ctx.settings.reconcile_start_at, False
    return (oldest if oldest is not None else until), False


async def request_sweep(ctx: Context, system: str, *, full: bool = False) -> None:
    """Ask for a sweep now; whichever instance holds the reconciler's lease runs it.

    ``full``: from the beginning, as the first sweep (the watermark is cleared).
    """
    async with ctx.transactions.transaction() as session:
        await states.request_sweep(session, system, ctx.clock.now(), full=full)


async def sweep_requested(ctx: Context, system: str) -> bool:
    """A request newer than the last sweep's start is waiting."""
    async with ctx.transactions.transaction() as session:
        requested_at, reconciled_at = await states.sweep_marks(session, system)
    if requested_at is None:
        return False
    return reconciled_at is None or requested_at > reconciled_at
