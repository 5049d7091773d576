"""Companies we published to the resolver: their account key, a digest of what was sent, and
the CRM's modification time of that version."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_sync.adapters.tables import crm_companies

_table = crm_companies


def _is(system: str, crm_id: str) -> Any:
    return (_table.c.crm_system == system) & (_table.c.company_id == crm_id)


async def known(session: AsyncSession, system: str, crm_id: str) -> Any:
    """The published company (mapping: account_key, fingerprint, modified_at, removed)."""
    return (await session.execute(select(_table).where(_is(system, crm_id)))).mappings().first()


async def newest(session: AsyncSession, system: str) -> datetime | None:
    query = select(func.max(_table.c.modified_at)).where(_table.c.crm_system == system)
    value: datetime | None = (await session.execute(query)).scalar_one_or_none()
    return value


async def save(
    session: AsyncSession,
    system: str,
    crm_id: str,
    *,
    exists: bool,
    account_key: str,
    fingerprint: str,
    modified_at: datetime,
) -> None:
    values = {
        "account_key": account_key,
        "fingerprint": fingerprint,
        "modified_at": modified_at,
        "removed": False,
    }
    if exists:
        await session.execute(update(_table).where(_is(system, crm_id)).values(**values))
    else:
        await session.execute(insert(_table).values(crm_system=system, company_id=crm_id, **values))


async def mark_removed(
    session: AsyncSession, system: str, crm_id: str, *, modified_at: datetime
) -> None:
    await session.execute(
        update(_table).where(_is(system, crm_id)).values(removed=True, modified_at=modified_at)
    )
