"""The lease rows (``crm_leases``): plain UPDATE ... WHERE and INSERT ... ON CONFLICT DO
NOTHING, the same on SQLite and PostgreSQL (see ``crm_sync.lease``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_sync.adapters.tables import leases
from services.db import upsert_into


@dataclass(frozen=True)
class Lease:
    name: str
    owner: str
    expires_at: datetime


async def renew(
    session: AsyncSession, name: str, *, owner: str, expires_at: datetime, now: datetime
) -> bool:
    """Extend the lease if ``owner`` holds it or it lapsed before ``now``; True if it did."""
    renewed = await session.execute(
        update(leases)
        .where(leases.c.name == name, or_(leases.c.owner == owner, leases.c.expires_at < now))
        .values(owner=owner, expires_at=expires_at)
    )
    return bool(renewed.rowcount)  # type: ignore[attr-defined]


async def create(session: AsyncSession, name: str, *, owner: str, expires_at: datetime) -> bool:
    """Take a lease nobody ever held; False if another instance just created it."""
    created = await session.execute(
        upsert_into(session, leases)
        .values(name=name, owner=owner, expires_at=expires_at)
        .on_conflict_do_nothing()
    )
    return bool(created.rowcount)  # type: ignore[attr-defined]


async def expire(session: AsyncSession, name: str, *, owner: str, now: datetime) -> None:
    """Let go of a lease ``owner`` holds (the next instance takes it at its next heartbeat)."""
    await session.execute(
        update(leases).where(leases.c.name == name, leases.c.owner == owner).values(expires_at=now)
    )


async def all_leases(session: AsyncSession) -> list[Lease]:
    rows = (await session.execute(select(leases).order_by(leases.c.name))).all()
    return [Lease(name=r.name, owner=r.owner, expires_at=r.expires_at) for r in rows]
