"""The queries of co-sell invitations (``co_sell_invitations``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from deal_registration.adapters.tables import co_sell_invitations, partners, registrations

_LIVE = ("invited", "accepted")


async def has_live_invitation(session: AsyncSession, registration_id: str, partner_id: str) -> bool:
    query = select(co_sell_invitations.c.id).where(
        co_sell_invitations.c.registration_id == registration_id,
        co_sell_invitations.c.partner_id == partner_id,
        co_sell_invitations.c.status.in_(_LIVE),
    )
    return (await session.execute(query.limit(1))).first() is not None


async def insert_invitation(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(co_sell_invitations).values(**values))


def _with_partner_name() -> Any:
    return select(co_sell_invitations, partners.c.name.label("partner_name")).join(
        partners, partners.c.id == co_sell_invitations.c.partner_id
    )


async def invitations_on(session: AsyncSession, registration_id: str) -> list[RowMapping]:
    """Every invitation on a registration (for its holder), oldest first."""
    query = (
        _with_partner_name()
        .where(co_sell_invitations.c.registration_id == registration_id)
        .order_by(co_sell_invitations.c.invited_at, co_sell_invitations.c.id)
    )
    return list((await session.execute(query)).mappings().all())


def _for_invitee() -> Any:
    """An invitation with the customer and product line of its registration (what the
    invitee may read), and the columns the events need."""
    return select(
        co_sell_invitations,
        partners.c.name.label("partner_name"),
        registrations.c.customer_name,
        registrations.c.customer_domain,
        registrations.c.customer_country,
        registrations.c.product_line,
        registrations.c.account_key,
        registrations.c.status.label("registration_status"),
    ).select_from(
        co_sell_invitations.join(
            registrations, registrations.c.id == co_sell_invitations.c.registration_id
        ).join(partners, partners.c.id == co_sell_invitations.c.partner_id)
    )


async def invitations_of_partner(session: AsyncSession, partner_id: str) -> list[RowMapping]:
    """The invitations a partner received, oldest first."""
    query = (
        _for_invitee()
        .where(co_sell_invitations.c.partner_id == partner_id)
        .order_by(co_sell_invitations.c.invited_at, co_sell_invitations.c.id)
    )
    return list((await session.execute(query)).mappings().all())


async def get_invitation(
    session: AsyncSession, invitation_id: str, *, for_update: bool = False
) -> RowMapping | None:
    query = _for_invitee().where(co_sell_invitations.c.id == invitation_id)
    if for_update:
        query = query.with_for_update(of=co_sell_invitations)
    return (await session.execute(query)).mappings().first()


async def record_answer(
    session: AsyncSession, invitation_id: str, *, status: str, now: datetime
) -> None:
    await session.execute(
        update(co_sell_invitations)
        .where(co_sell_invitations.c.id == invitation_id)
        .values(status=status, responded_at=now)
    )
