"""Influence claims as stored (``influence_claims``): written once per registration, ended
when the partner withdraws. Nothing here touches ``claims`` or ``protections``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from conflict_resolver.adapters.tables import influence_claims


async def get(session: AsyncSession, registration_id: str) -> RowMapping | None:
    query = select(influence_claims).where(influence_claims.c.registration_id == registration_id)
    return (await session.execute(query)).mappings().first()


async def insert_claim(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(influence_claims).values(**values))


async def end(session: AsyncSession, registration_id: str, *, now: datetime) -> bool:
    """Mark an accepted influence claim withdrawn; False when there is none to end."""
    result = await session.execute(
        update(influence_claims)
        .where(
            influence_claims.c.registration_id == registration_id,
            influence_claims.c.status == "accepted",
        )
        .values(status="withdrawn", ended_at=now)
    )
    return bool(getattr(result, "rowcount", 0))


async def accepted_on(
    session: AsyncSession, account_key: str, product_line: str
) -> list[RowMapping]:
    """The accepted influence claims on an account and product line, oldest first."""
    query = (
        select(influence_claims)
        .where(
            influence_claims.c.account_key == account_key,
            influence_claims.c.product_line == product_line,
            influence_claims.c.status == "accepted",
        )
        .order_by(influence_claims.c.decided_at, influence_claims.c.registration_id)
    )
    return list((await session.execute(query)).mappings().all())
