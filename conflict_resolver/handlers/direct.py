"""Direct sales' opportunities as crm_sync reports them: rule 4 sends colliding
registrations to review while one is open."""

from __future__ import annotations

from conflict_resolver.adapters import direct_opportunities
from schemas.crm import DirectOpportunityClosed, DirectOpportunityOpened
from services.events import EventContext


async def open_direct_opportunity(opened: DirectOpportunityOpened, event: EventContext) -> None:
    await direct_opportunities.record_opened(event.session, opened)


async def close_direct_opportunity(closed: DirectOpportunityClosed, event: EventContext) -> None:
    await direct_opportunities.record_closed(
        event.session,
        crm_system=closed.crm_system,
        opportunity_id=closed.opportunity_id,
        closed_at=closed.closed_at,
    )
