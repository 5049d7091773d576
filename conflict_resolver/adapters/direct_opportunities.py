"""Direct sales' open opportunities, as crm_sync reports them (rule 4 reads them)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from conflict_resolver.adapters.dialect import upsert
from conflict_resolver.adapters.direct_matching import NO_OPEN_DIRECT
from conflict_resolver.adapters.tables import direct_opportunities
from schemas.crm import DirectOpportunityOpened


async def record_opened(session: AsyncSession, opened: DirectOpportunityOpened) -> None:
    """Insert the opportunity, or reopen and re-point it when the CRM reports it again."""
    session.info.pop(NO_OPEN_DIRECT, None)
    values = {
        "crm_system": opened.crm_system,
        "opportunity_id": opened.opportunity_id,
        "account_key": opened.account_key,
        "product_line": opened.product_line,
        "customer": opened.customer.model_dump(mode="json"),
        "opened_at": opened.opened_at,
        "closed_at": None,
    }
    await session.execute(
        upsert(
            session,
            direct_opportunities,
            values=values,
            index_elements=["crm_system", "opportunity_id"],
            update_columns=["account_key", "product_line", "closed_at"],
        )
    )


async def record_closed(
    session: AsyncSession, *, crm_system: str, opportunity_id: str, closed_at: datetime
) -> None:
    await session.execute(
        update(direct_opportunities)
        .where(
            direct_opportunities.c.crm_system == crm_system,
            direct_opportunities.c.opportunity_id == opportunity_id,
        )
        .values(closed_at=closed_at)
    )
