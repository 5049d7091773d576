"""Company records from the CRM (crm_sync's ``CrmCompanyUpserted`` / ``CrmCompanyRemoved``):
kept in the resolver's own tables, where a submission's customer is looked up to find the CRM
account it names (aliases, former names) and its family (``domain.families``)."""

from __future__ import annotations

from conflict_resolver.adapters import crm_companies
from schemas.companies import CrmCompanyRemoved, CrmCompanyUpserted
from services.events import EventContext


async def upsert_company(upserted: CrmCompanyUpserted, event: EventContext) -> None:
    """Record the company as the CRM describes it (an older change than the one kept is
    ignored: CRM changes may arrive out of order)."""
    await crm_companies.record_upserted(event.session, upserted)


async def remove_company(removed: CrmCompanyRemoved, event: EventContext) -> None:
    """Forget a company the CRM deleted or merged away."""
    await crm_companies.record_removed(event.session, removed)
