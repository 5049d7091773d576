"""Direct opportunities (no registration id) we reported to the resolver, and their state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_sync.adapters.tables import direct_opportunities

# A known direct opportunity, read by attribute (account_key, product_line, state, modified_at).
DirectOpportunity = Row[Any]

_table = direct_opportunities


async def known(
    session: AsyncSession, system: str, opportunity_id: str, *, only_open: bool = False
) -> DirectOpportunity | None:
    query = select(_table).where(
        _table.c.crm_system == system, _table.c.opportunity_id == opportunity_id
    )
    if only_open:
        query = query.where(_table.c.state == "open")
    return (await session.execute(query)).first()


async def insert_opportunity(
    session: AsyncSession,
    system: str,
    opportunity_id: str,
    *,
    account_key: str,
    product_line: str,
    state: str,
    modified_at: datetime,
) -> None:
    await session.execute(
        _table.insert().values(
            crm_system=system,
            opportunity_id=opportunity_id,
            account_key=account_key,
            product_line=product_line,
            state=state,
            modified_at=modified_at,
        )
    )


async def set_state(
    session: AsyncSession, system: str, opportunity_id: str, *, state: str, modified_at: datetime
) -> None:
    await session.execute(
        update(_table)
        .where(_table.c.crm_system == system, _table.c.opportunity_id == opportunity_id)
        .values(state=state, modified_at=modified_at)
    )
