"""The mirror's records of approved registrations and their lifecycle notes (SQL only).

``crm_sync.handlers``, ``outbound`` and ``inbound`` decide what the CRM opportunity should say
and what the CRM said; this module reads and writes ``mirrored_deals`` and
``registration_lifecycle`` for them, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, case, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_sync.adapters.tables import mirrored_deals, registration_lifecycle
from crm_sync.domain.handover import HANDED_OVER
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


async def lock_notes(
    session: AsyncSession, registration_ids: Collection[str], now: datetime
) -> dict[str, LifecycleNote]:
    """:func:`lock_note` for several registrations in two statements (a batch of approvals)."""
    ids = sorted(set(registration_ids))  # one order for every locker: no deadlock between two
    if not ids:
        return {}
    statement = upsert_into(session, registration_lifecycle).values(
        [{"registration_id": rid, "updated_at": now} for rid in ids]
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[registration_lifecycle.c.registration_id],
            set_={"updated_at": statement.excluded.updated_at},
        )
    )
    rows = (
        await session.execute(
            select(registration_lifecycle).where(registration_lifecycle.c.registration_id.in_(ids))
        )
    ).all()
    return {
        row.registration_id: LifecycleNote(
            status=row.status, protection_expires_at=row.protection_expires_at
        )
        for row in rows
    }


async def handed_over_to_any(
    session: AsyncSession, registration_ids: Collection[str]
) -> dict[str, MirroredDeal]:
    """:func:`handed_over_to` for several registrations: the deal handed to each, by it."""
    if not registration_ids:
        return {}
    rows = (
        await session.execute(
            select(mirrored_deals).where(
                mirrored_deals.c.handed_over_to.in_(sorted(set(registration_ids)))
            )
        )
    ).all()
    return {row.handed_over_to: row for row in rows}


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


async def insert_deals(session: AsyncSession, deals: list[dict[str, Any]]) -> None:
    """New deals to mirror, in one statement (executemany)."""
    if deals:
        await session.execute(insert(mirrored_deals), deals)


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


async def due_deals(
    session: AsyncSession, *, now: datetime, limit: int, excluding: Collection[str] = ()
) -> list[MirroredDeal]:
    """Pending deals due for a push (not archived in the CRM), the longest waiting first;
    none of ``excluding`` (the deals a push in flight holds)."""
    query = (
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
    if excluding:
        query = query.where(mirrored_deals.c.registration_id.not_in(sorted(excluding)))
    return list((await session.execute(query)).all())


def _pushed_statement(*, with_applied: bool) -> Any:
    """One UPDATE executed for every pushed deal at once (executemany): what was written, and
    synced only where nothing changed the desired fields while we were writing (``updated_at``
    still the one read before the push)."""
    unchanged = mirrored_deals.c.updated_at == bindparam("b_read_updated_at")
    values: dict[str, Any] = {
        "last_written": bindparam("b_last_written", type_=mirrored_deals.c.last_written.type),
        "crm_system": bindparam("b_crm_system"),
        "crm_opportunity_id": bindparam("b_crm_opportunity_id"),
        "attempts": 0,
        "last_error": None,
        "written_modified_at": bindparam(
            "b_written_modified_at", type_=mirrored_deals.c.written_modified_at.type
        ),
        "sync_state": case((unchanged, "synced"), else_=mirrored_deals.c.sync_state),
        "pending_since": case((unchanged, None), else_=mirrored_deals.c.pending_since),
        "next_attempt_at": case((unchanged, None), else_=mirrored_deals.c.next_attempt_at),
    }
    if with_applied:
        # Unless a sweep already applied what sales did to it while it was being created.
        values["applied"] = case(
            (
                mirrored_deals.c.applied.is_(None),
                bindparam("b_applied", type_=mirrored_deals.c.applied.type),
            ),
            else_=mirrored_deals.c.applied,
        )
    return (
        update(mirrored_deals)
        .where(mirrored_deals.c.registration_id == bindparam("b_registration_id"))
        .values(values)
    )


@dataclass(frozen=True)
class Pushed:
    """A deal the CRM took: the row as read before the push, and what the push learnt."""

    row: MirroredDeal
    crm_system: str
    crm_opportunity_id: str | None
    written_modified_at: datetime | None
    applied: dict[str, Any] | None = None


async def mark_pushed(session: AsyncSession, pushed: Sequence[Pushed]) -> None:
    """Record a push's outcome for all its deals in one statement (two when some deals were
    created, which also records the sales fields they were created with): as
    :func:`mark_synced_unless_changed` after an update of each, without a round trip per deal."""
    for with_applied in (False, True):
        params = [
            {
                "b_registration_id": p.row.registration_id,
                "b_read_updated_at": p.row.updated_at,
                "b_last_written": p.row.desired,
                "b_crm_system": p.crm_system,
                "b_crm_opportunity_id": p.crm_opportunity_id,
                "b_written_modified_at": p.written_modified_at,
                **({"b_applied": p.applied} if with_applied else {}),
            }
            for p in pushed
            if (p.applied is not None) == with_applied
        ]
        if params:
            await session.execute(_pushed_statement(with_applied=with_applied), params)


async def handed_over_among(session: AsyncSession, registration_ids: list[str]) -> list[str]:
    """Which of these deals a transfer handed over (one query for a push's deals)."""
    if not registration_ids:
        return []
    return list(
        (
            await session.execute(
                select(mirrored_deals.c.registration_id).where(
                    mirrored_deals.c.registration_id.in_(registration_ids),
                    mirrored_deals.c.sync_state == HANDED_OVER,
                )
            )
        ).scalars()
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
