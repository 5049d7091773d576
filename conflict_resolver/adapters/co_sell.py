"""Co-sell partners as stored (``co_sell_partners``): one row per answered invitation, written
once (a redelivered or late answer changes nothing), read at closed-won for attribution."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import RowMapping, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from conflict_resolver.adapters.tables import co_sell_partners


async def record_answer(
    session: AsyncSession,
    *,
    invitation_id: str,
    registration_id: str,
    partner_id: str,
    role: str,
    status: str,
    answered_at: datetime,
) -> bool:
    """Remember an invitee's answer; False (and nothing written) when it is known already:
    an invitation is answered once, so the first answer stands."""
    known = select(co_sell_partners.c.invitation_id).where(
        co_sell_partners.c.invitation_id == invitation_id
    )
    if (await session.execute(known)).first() is not None:
        return False
    await session.execute(
        insert(co_sell_partners).values(
            invitation_id=invitation_id,
            registration_id=registration_id,
            partner_id=partner_id,
            role=role,
            status=status,
            answered_at=answered_at,
        )
    )
    return True


async def accepted_on(session: AsyncSession, registration_id: str) -> list[RowMapping]:
    """The accepted co-sell partners of a sourced registration, first accepted first."""
    query = (
        select(co_sell_partners)
        .where(
            co_sell_partners.c.registration_id == registration_id,
            co_sell_partners.c.status == "accepted",
        )
        .order_by(co_sell_partners.c.answered_at, co_sell_partners.c.invitation_id)
    )
    return list((await session.execute(query)).mappings().all())
