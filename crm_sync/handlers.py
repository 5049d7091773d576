"""crm_sync's use cases for the registration lifecycle: what the CRM opportunity should say.

Each consumed event updates the *desired* owned fields of a mirrored deal through the inbox and
marks it pending; the pusher (``crm_sync.outbound``) sends only the changed fields to the CRM.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from crm_sync.adapters.tables import inbox, mirrored_deals, registration_lifecycle
from crm_sync.domain.lifecycle import LifecycleNote
from crm_sync.ports import CrmConnector
from crm_sync.settings import CrmSettings
from schemas.envelope import EventEnvelope
from schemas.registration import (
    ProtectionExpired,
    ProtectionExtended,
    RegistrationApproved,
    RegistrationWithdrawn,
)
from services.clock import Clock
from services.db import dialect_name
from services.inbox import claim_event
from services.kafka.consumer import PoisonEventError, payload_of
from services.uow import TransactionRunner

# The one consumer group that reads everything the mirror needs (approvals on decisions,
# withdrawals on registrations); the inbox keeps its two historical names so that events
# processed before the groups were merged are still recognised.
MIRROR_GROUP = "crm_sync.mirror"
APPROVALS_CONSUMER = "crm_sync.approvals"
LIFECYCLE_CONSUMER = "crm_sync.lifecycle"
SOURCE = "/dealreg/crm_sync"

DeadLetterSink = Callable[[str, dict[str, Any], str], Awaitable[None]]


async def _no_sink(_system: str, _payload: dict[str, Any], _reason: str) -> None:
    return None


@dataclass
class Context:
    transactions: TransactionRunner
    clock: Clock
    connector: CrmConnector | None = None
    settings: CrmSettings = field(default_factory=CrmSettings)
    wake_pusher: asyncio.Event = field(default_factory=asyncio.Event)
    dead_letters: DeadLetterSink = _no_sink


def desired_fields(
    *,
    registration_id: str,
    partner_id: str,
    partner_name: str,
    product_line: str,
    protection_expires_at: datetime,
    status: str,
) -> dict[str, str]:
    """The owned fields of a registration's opportunity, in canonical names."""
    return {
        "registration_id": registration_id,
        "partner_id": partner_id,
        "partner_name": partner_name,
        "product_line": product_line,
        "protection_expires_at": protection_expires_at.isoformat(),
        "registration_status": status,
    }


async def record_approval(ctx: Context, envelope: EventEnvelope[Any]) -> None:
    """Remember an approved registration as a deal to mirror into the CRM (once).

    A withdrawal, expiry or extension that arrived first (another topic) is folded in, so the
    deal is created already withdrawn, never approved for good (``domain.lifecycle``).
    """
    approved = payload_of(envelope, RegistrationApproved)
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        if not await _claim(session, APPROVALS_CONSUMER, envelope, now):
            return
        early = await _lock_note(session, approved.registration_id, now)
        exists = await session.execute(
            select(mirrored_deals.c.registration_id).where(
                mirrored_deals.c.registration_id == approved.registration_id
            )
        )
        if exists.first() is not None:
            return
        summary = approved.registration
        desired = early.applied_to(
            desired_fields(
                registration_id=approved.registration_id,
                partner_id=summary.partner_id,
                partner_name=summary.partner_name,
                product_line=approved.product_line,
                protection_expires_at=approved.protection_expires_at,
                status="approved",
            )
        )
        await session.execute(
            insert(mirrored_deals).values(
                registration_id=approved.registration_id,
                account_key=approved.account_key,
                partner_id=summary.partner_id,
                product_line=approved.product_line,
                amount_value=summary.amount.value,
                amount_currency=summary.amount.currency,
                protection_expires_at=approved.protection_expires_at,
                registration=summary.model_dump(mode="json"),
                sync_state="pending",
                approved_at=approved.decided_at,
                updated_at=now,
                desired=desired,
                pending_since=now,
                next_attempt_at=now,
                correlation_id=envelope.correlationid,
            )
        )
    ctx.wake_pusher.set()


def lifecycle_note(envelope: EventEnvelope[Any]) -> LifecycleNote:
    """What an extended, expired or withdrawn event says about the registration's status."""
    data = envelope.data
    if isinstance(data, ProtectionExtended):
        return LifecycleNote(status="approved", protection_expires_at=data.protection_expires_at)
    if isinstance(data, ProtectionExpired):
        return LifecycleNote(status="expired")
    if isinstance(data, RegistrationWithdrawn):
        return LifecycleNote(status="withdrawn")
    raise PoisonEventError(f"not a lifecycle event: {envelope.type}")


async def record_lifecycle(ctx: Context, envelope: EventEnvelope[Any]) -> None:
    """Extended, expired or withdrawn: note it (approved yet or not) and update the deal."""
    note = lifecycle_note(envelope)
    registration_id = str(envelope.data.registration_id)
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        if not await _claim(session, LIFECYCLE_CONSUMER, envelope, now):
            return
        merged = (await _lock_note(session, registration_id, now)).merge(note)
        await session.execute(
            update(registration_lifecycle)
            .where(registration_lifecycle.c.registration_id == registration_id)
            .values(status=merged.status, protection_expires_at=merged.protection_expires_at)
        )
        row = (
            await session.execute(
                select(mirrored_deals.c.desired, mirrored_deals.c.sync_state).where(
                    mirrored_deals.c.registration_id == registration_id
                )
            )
        ).first()
        if row is None:
            return  # not approved (yet): the approval folds the note in when it comes
        desired = note.applied_to(row.desired or {})
        if desired == row.desired:
            return
        await session.execute(
            update(mirrored_deals)
            .where(mirrored_deals.c.registration_id == registration_id)
            .values(
                desired=desired,
                sync_state="pending" if row.sync_state != "dead" else "dead",
                pending_since=now,
                next_attempt_at=now,
                updated_at=now,
            )
        )
    ctx.wake_pusher.set()


async def _lock_note(session: AsyncSession, registration_id: str, now: datetime) -> LifecycleNote:
    """The registration's lifecycle note, with its row locked until the transaction ends.

    The approval and the lifecycle handlers both start here, so when they run at once (two
    instances, two topics) the second waits for the first and then sees what it wrote: the
    withdrawal is never missed by an approval committing at the same moment.
    """
    insert_of = postgresql.insert if dialect_name(session) == "postgresql" else sqlite.insert
    statement = insert_of(registration_lifecycle).values(
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


async def _claim(
    session: AsyncSession, consumer: str, envelope: EventEnvelope[Any], now: datetime
) -> bool:
    return await claim_event(
        session, inbox, consumer=consumer, event_id=envelope.id, event_type=envelope.type, now=now
    )
