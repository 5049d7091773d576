"""Direct sales' opportunities as crm_sync reports them: rule 4 sends colliding
registrations to review while one is open."""

from __future__ import annotations

from typing import Any

from conflict_resolver.adapters import direct_opportunities
from conflict_resolver.handlers.context import CRM_CONSUMER, Context, first_delivery
from schemas.crm import DirectOpportunityClosed, DirectOpportunityOpened
from schemas.envelope import EventEnvelope
from services.kafka.consumer import payload_of


async def open_direct_opportunity(ctx: Context, envelope: EventEnvelope[Any]) -> None:
    opened = payload_of(envelope, DirectOpportunityOpened)
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        if await first_delivery(session, CRM_CONSUMER, envelope, now):
            await direct_opportunities.record_opened(session, opened)


async def close_direct_opportunity(ctx: Context, envelope: EventEnvelope[Any]) -> None:
    closed = payload_of(envelope, DirectOpportunityClosed)
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        if await first_delivery(session, CRM_CONSUMER, envelope, now):
            await direct_opportunities.record_closed(
                session,
                crm_system=closed.crm_system,
                opportunity_id=closed.opportunity_id,
                closed_at=closed.closed_at,
            )
