"""The mirror's records of approved registrations and their lifecycle notes (SQL only).

``crm_sync.handlers`` decides what the CRM opportunity should say; this module reads and
writes ``mirrored_deals`` and ``registration_lifecycle`` for it, in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_sync.adapters.tables import mirrored_deals, registration_lifecycle
from crm_sync.domain.lifecycle import LifecycleNote
from services.db import upsert_into


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


async def mark_desired(
    session: AsyncSession,
    registration_id: str,
    *,
    desired: dict[str, str],
    sync_state: str,
    now: datetime,
) -> None:
    """New owned fields for the pusher to send now."""
    await session.execute(
        update(mirrored_deals)
        .where(mirrored_deals.c.registration_id == registration_id)
        .values(
            desired=desired,
            sync_state=sync_state,
            pending_since=now,
            next_attempt_at=now,
            updated_at=now,
        )
    )
