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
from sqlalchemy.ext.asyncio import AsyncSession

from crm_sync.adapters.tables import inbox, mirrored_deals
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
from services.inbox import claim_event
from services.kafka.consumer import PoisonEventError, payload_of
from services.uow import TransactionRunner

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
    """Remember an approved registration as a deal to mirror into the CRM (once)."""
    approved = payload_of(envelope, RegistrationApproved)
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        if not await _claim(session, APPROVALS_CONSUMER, envelope, now):
            return
        exists = await session.execute(
            select(mirrored_deals.c.registration_id).where(
                mirrored_deals.c.registration_id == approved.registration_id
            )
        )
        if exists.first() is not None:
            return
        summary = approved.registration
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
                desired=desired_fields(
                    registration_id=approved.registration_id,
                    partner_id=summary.partner_id,
                    partner_name=summary.partner_name,
                    product_line=approved.product_line,
                    protection_expires_at=approved.protection_expires_at,
                    status="approved",
                ),
                pending_since=now,
                next_attempt_at=now,
                correlation_id=envelope.correlationid,
            )
        )
    ctx.wake_pusher.set()


async def record_lifecycle(ctx: Context, envelope: EventEnvelope[Any]) -> None:
    """Extended, expired or withdrawn: update the opportunity's protection fields."""
    data = envelope.data
    changes: dict[str, str]
    if isinstance(data, ProtectionExtended):
        changes = {
            "protection_expires_at": data.protection_expires_at.isoformat(),
            "registration_status": "approved",
        }
    elif isinstance(data, ProtectionExpired):
        changes = {"registration_status": "expired"}
    elif isinstance(data, RegistrationWithdrawn):
        changes = {"registration_status": "withdrawn"}
    else:
        raise PoisonEventError(f"not a lifecycle event: {envelope.type}")
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        if not await _claim(session, LIFECYCLE_CONSUMER, envelope, now):
            return
        row = (
            await session.execute(
                select(mirrored_deals.c.desired, mirrored_deals.c.sync_state).where(
                    mirrored_deals.c.registration_id == data.registration_id
                )
            )
        ).first()
        if row is None:
            return  # never approved, so never mirrored
        desired = {**(row.desired or {}), **changes}
        await session.execute(
            update(mirrored_deals)
            .where(mirrored_deals.c.registration_id == data.registration_id)
            .values(
                desired=desired,
                sync_state="pending" if row.sync_state != "dead" else "dead",
                pending_since=now,
                next_attempt_at=now,
                updated_at=now,
            )
        )
    ctx.wake_pusher.set()


async def _claim(
    session: AsyncSession, consumer: str, envelope: EventEnvelope[Any], now: datetime
) -> bool:
    return await claim_event(
        session, inbox, consumer=consumer, event_id=envelope.id, event_type=envelope.type, now=now
    )
