"""crm_sync's use cases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select

from crm_sync.adapters.tables import inbox, mirrored_deals
from schemas.envelope import EventEnvelope
from schemas.registration import RegistrationApproved
from services.clock import Clock
from services.inbox import claim_event
from services.kafka.consumer import PoisonEventError
from services.uow import TransactionRunner

APPROVALS_CONSUMER = "crm_sync.approvals"


@dataclass(frozen=True)
class Context:
    transactions: TransactionRunner
    clock: Clock


async def record_approval(ctx: Context, envelope: EventEnvelope[Any]) -> None:
    """Remember an approved registration as a deal to mirror into the CRM (once)."""
    approved = envelope.data
    if not isinstance(approved, RegistrationApproved):
        raise PoisonEventError(f"not an approval: {envelope.type}")
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        if not await claim_event(
            session,
            inbox,
            consumer=APPROVALS_CONSUMER,
            event_id=envelope.id,
            event_type=envelope.type,
            now=now,
        ):
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
            )
        )
