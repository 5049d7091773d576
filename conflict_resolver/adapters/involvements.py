"""Who is involved in a sourced deal, gathered for attribution at closed-won
(``domain.attribution``): the accepted co-sell partners of the holder's registration (with
their role and when each accepted) and the accepted influence claims on the same account and
product line (when each was accepted). The sourced holder itself comes from the claim
(``domain.protection.involvements_of``); this module only reads."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from conflict_resolver.adapters import co_sell, influence
from conflict_resolver.domain.attribution import Involvement

INFLUENCE = "influence"


async def others_involved(
    session: AsyncSession, *, registration_id: str, account_key: str, product_line: str
) -> tuple[Involvement, ...]:
    """The partners besides the sourced holder of ``registration_id``."""
    co_sellers = [
        Involvement(
            partner_id=row["partner_id"],
            role=row["role"],
            joined_at=row["answered_at"],
            registration_id=registration_id,
        )
        for row in await co_sell.accepted_on(session, registration_id)
    ]
    influencers = [
        Involvement(
            partner_id=row["partner_id"],
            role=INFLUENCE,
            joined_at=row["decided_at"],
            registration_id=row["registration_id"],
        )
        for row in await influence.accepted_on(session, account_key, product_line)
    ]
    return (*co_sellers, *influencers)
