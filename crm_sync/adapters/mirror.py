"""The mirror's records of approved registrations and their lifecycle notes (SQL only).

``crm_sync.handlers``, ``outbound`` and ``inbound`` decide what the CRM opportunity should say
and what the CRM said; this module reads and writes ``mirrored_deals`` and
``registration_lifecycle`` for them, in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_sync.adapters.tables import mirrored_deals, registration_lifecycle
from crm_sync.domain.lifecycle import LifecycleNote
from services.db import upsert_into

# A mirrored deal's row, read by attribute (registration_id, desired, last_written, ...).
MirroredDeal = Row[Any]


async def lock_note(session: AsyncSession, registration_id: str, now: datetime) -> LifecycleNote:
    """The registration's lifecycle note, with its row locked until the transaction ends.

    The approval and the lifecycle handlers both start here, so when they run at once (two
    instances, two topics) the second waits for the first and then sees what it wrote: the
    withdrawal is never missed by an approval committing at the same moment.
    """
    statement = upsert_into(session, registration_lifecycle).values(
        registration_id=registration_id, updated_at=now
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[registration_lifecycle.c.registration_id],
            set_={"updated_at": statement.excluded.updated_at},
        )
    )
    row = (
        await session.execute(
            select(registration_lifecycle).where(
                registration_lifecycle.c.registration_id == registration_id
            )
        )
    ).one()
    return LifecycleNote(status=row.status, protection_expires_at=row.protection_expires_at)


async def save_note(session: AsyncSession, registration_id: str, note: LifecycleNote) -> None:
    """Store the (merged) note of a registration whose row :func:`lock_note` holds."""
    await session.execute(
        update(registration_lifecycle)
        .where(registration_lifecycle.c.registration_id == registration_id)
        .values(status=note.status, protection_expires_at=note.protection_expires_at)
    )


async def is_mirrored(session: AsyncSession, registration_id: str) -> bool:
    found = await session.execute(
        select(mirrored_deals.c.registration_id).where(
            mirrored_deals.c.registration_id == registration_id
        )
    )
    return found.first() is not None


async def insert_deal(session: AsyncSession, deal: dict[str, Any]) -> None:
    """A new deal to mirror (a row of ``mirrored_deals``)."""
    await session.execute(insert(mirrored_deals).values(**deal))


@dataclass(frozen=True)
class DesiredState:
    """A mirrored deal's owned fields as they should be in the CRM, and its sync state."""

    desired: dict[str, str] | None
    sync_state: str


async def desired_of(session: AsyncSession, registration_id: str) -> DesiredState | None:
    """None if the registration is not mirrored (not approved yet)."""
    row = (
        await session.execute(
            select(mirrored_deals.c.desired, mirrored_deals.c.sync_state).where(
                mirrored_deals.c.registration_id == registration_id
            )
        )
    ).first()
    return None if row is None else DesiredState(desired=row.desired, sync_state=row.sync_state)


async def deal(session: AsyncSession, registration_id: str) -> MirroredDeal | None:
    return (
        await session.execute(
            select(mirrored_deals).where(mirrored_deals.c.registration_id == registration_id)
        )
    ).first()


async def handed_over_to(session: AsyncSession, registration_id: str) -> MirroredDeal | None:
    """The deal whose opportunity a protection transfer handed to this registration, if any."""
    return (
        await session.execute(
            select(mirrored_deals).where(mirrored_deals.c.handed_over_to == registration_id)
        )
    ).first()


async def update_deal(session: AsyncSession, registration_id: str, **values: Any) -> None:
    await session.execute(
        update(mirrored_deals)
        .where(mirrored_deals.c.registration_id == registration_id)
        .values(**values)
    )


async def due_deals(session: AsyncSession, *, now: datetime, limit: int) -> list[MirroredDeal]:
    """Pending deals due for a push (not archived in the CRM), the longest waiting first."""
    return list(
        (
            await session.execute(
                select(mirrored_deals)
                .where(
                    mirrored_deals.c.sync_state == "pending",
                    mirrored_deals.c.crm_archived.is_(False),
                    or_(
                        mirrored_deals.c.next_attempt_at.is_(None),
                        mirrored_deals.c.next_attempt_at <= now,
                    ),
                )
                .order_by(mirrored_deals.c.pending_since)
                .limit(limit)
            )
        ).all()
    )


async def mark_synced_unless_changed(session: AsyncSession, row: MirroredDeal) -> None:
    """Synced, but only if nothing changed the desired fields since ``row`` was read."""
    await session.execute(
        update(mirrored_deals)
        .where(
            mirrored_deals.c.registration_id == row.registration_id,
            mirrored_deals.c.updated_at == row.updated_at,
        )
        .values(sync_state="synced", pending_since=None, next_attempt_at=None)
    )


async def count_pending(session: AsyncSession) -> int:
    return int(
        (
            await session.execute(
                select(func.count()).where(mirrored_deals.c.sync_state == "pending")
            )
        ).scalar_one()
    )


async def mirrored_among(session: AsyncSession, registration_ids: list[str]) -> set[str]:
    """Which of these registration ids we mirror (one query per 500, not one per deal)."""
    found: set[str] = set()
    for start in range(0, len(registration_ids), 500):
        chunk = registration_ids[start : start + 500]
        found.update(
            (
                await session.execute(
                    select(mirrored_deals.c.registration_id).where(
                        mirrored_deals.c.registration_id.in_(chunk)
                    )
                )
            ).scalars()
        )
    return found


async def remap_opportunity(
    session: AsyncSession, system: str, *, merged: str, survivor: str, now: datetime
) -> None:
    """A merge in the CRM: the stored id of the merged-away opportunity now names the survivor."""
    await session.execute(
        update(mirrored_deals)
        .where(mirrored_deals.c.crm_system == system, mirrored_deals.c.crm_opportunity_id == merged)
        .values(crm_opportunity_id=survivor, updated_at=now)
    )


async def mark_archived(
    session: AsyncSession, system: str, crm_ids: list[str], *, now: datetime
) -> None:
    """These opportunities were deleted (archived) in the CRM: never recreate them."""
    await session.execute(
        update(mirrored_deals)
        .where(
            mirrored_deals.c.crm_system == system,
            mirrored_deals.c.crm_opportunity_id.in_(crm_ids),
        )
        .values(crm_archived=True, updated_at=now)
    )
