"""The partners on deals besides their holder (``deal_partners``), in the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_sync.adapters.tables import deal_partners, mirrored_deals
from crm_sync.domain.handover import HANDED_OVER
from crm_sync.domain.partners import DealPartner
from services.db import upsert_into


async def record(session: AsyncSession, values: dict[str, Any]) -> None:
    """Insert or replace one partner's part (by its invitation or influence registration id)."""
    statement = upsert_into(session, deal_partners).values(**values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[deal_partners.c.id],
            set_={name: statement.excluded[name] for name in values if name != "id"},
        )
    )


async def deactivate(session: AsyncSession, part_id: str, *, now: datetime) -> Row[Any] | None:
    """End one partner's part; its row (account and product line) if it was active."""
    found = (
        await session.execute(
            select(deal_partners).where(deal_partners.c.id == part_id, deal_partners.c.active)
        )
    ).first()
    if found is not None:
        await session.execute(
            update(deal_partners)
            .where(deal_partners.c.id == part_id)
            .values(active=False, updated_at=now)
        )
    return found


async def partners_of(
    session: AsyncSession, *, registration_id: str, account_key: str, product_line: str
) -> list[DealPartner]:
    """The active co-sell partners of a sourced registration and the active influence claims
    on its account and product line."""
    query = select(deal_partners).where(
        deal_partners.c.active,
        ((deal_partners.c.kind == "co_sell") & (deal_partners.c.registration_id == registration_id))
        | (
            (deal_partners.c.kind == "influence")
            & (deal_partners.c.account_key == account_key)
            & (deal_partners.c.product_line == product_line)
        ),
    )
    return [
        DealPartner(partner_id=row.partner_id, partner_name=row.partner_name, role=row.role)
        for row in (await session.execute(query)).all()
    ]


async def partners_of_any(
    session: AsyncSession, *, registration_ids: list[str], account_keys: list[str]
) -> list[Row[Any]]:
    """The rows :func:`partners_of` would read for any of these registrations and accounts (one
    query for a batch of approvals); :func:`partners_among` picks one deal's."""
    if not registration_ids:
        return []
    query = select(deal_partners).where(
        deal_partners.c.active,
        (
            (deal_partners.c.kind == "co_sell")
            & (deal_partners.c.registration_id.in_(sorted(set(registration_ids))))
        )
        | (
            (deal_partners.c.kind == "influence")
            & (deal_partners.c.account_key.in_(sorted(set(account_keys))))
        ),
    )
    return list((await session.execute(query)).all())


def partners_among(
    rows: list[Row[Any]], *, registration_id: str, account_key: str, product_line: str
) -> list[DealPartner]:
    """:func:`partners_of`, among rows read by :func:`partners_of_any`."""
    return [
        DealPartner(partner_id=row.partner_id, partner_name=row.partner_name, role=row.role)
        for row in rows
        if (row.kind == "co_sell" and row.registration_id == registration_id)
        or (
            row.kind == "influence"
            and row.account_key == account_key
            and row.product_line == product_line
        )
    ]


async def deals_on(session: AsyncSession, account_key: str, product_line: str) -> list[str]:
    """The mirrored deals of an account and product line (not handed over), by registration."""
    query = select(mirrored_deals.c.registration_id).where(
        mirrored_deals.c.account_key == account_key,
        mirrored_deals.c.product_line == product_line,
        mirrored_deals.c.sync_state != HANDED_OVER,
    )
    return [str(value) for value in (await session.execute(query)).scalars()]
