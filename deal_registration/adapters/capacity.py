"""What a partner's capacity reads: the caps in force, its tier, its live protections."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from deal_registration.adapters.tables import capacity_caps, partners, registrations
from schemas.capacity import CapacityCapsPublished


async def save_caps(session: AsyncSession, caps: CapacityCapsPublished) -> None:
    known = select(capacity_caps.c.policy_version).where(
        capacity_caps.c.policy_version == caps.policy_version
    )
    if (await session.execute(known)).first() is not None:
        return
    await session.execute(
        capacity_caps.insert().values(
            policy_version=caps.policy_version,
            caps=caps.model_dump(mode="json"),
            published_at=caps.published_at,
        )
    )


async def latest_caps(session: AsyncSession) -> CapacityCapsPublished | None:
    query = select(capacity_caps.c.caps).order_by(capacity_caps.c.policy_version.desc()).limit(1)
    document = (await session.execute(query)).scalar_one_or_none()
    return None if document is None else CapacityCapsPublished.model_validate(document)


async def partner_tier(session: AsyncSession, partner_id: str) -> str | None:
    query = select(partners.c.tier).where(partners.c.id == partner_id)
    tier = (await session.execute(query)).scalar_one_or_none()
    return None if tier is None else str(tier)


async def live_lines(session: AsyncSession, partner_id: str, *, now: datetime) -> list[str]:
    query = select(registrations.c.product_line).where(
        registrations.c.partner_id == partner_id,
        registrations.c.status == "approved",
        registrations.c.protection_expires_at > now,
    )
    return [str(line) for line in (await session.execute(query)).scalars()]
