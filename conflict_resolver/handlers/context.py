"""What every resolver use case receives, and the inbox step every consumer handler shares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from conflict_resolver.adapters.tables import inbox
from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.protection import Cause
from schemas.envelope import EventEnvelope
from services.clock import Clock
from services.inbox import claim_event
from services.uow import TransactionRunner

SUBMISSIONS_CONSUMER = "conflict_resolver.submissions"
CRM_CONSUMER = "conflict_resolver.crm"


@dataclass(frozen=True)
class Context:
    transactions: TransactionRunner
    clock: Clock
    policy: Policy  # the built-in default; decisions use the latest stored version


async def first_delivery(
    session: AsyncSession, consumer: str, envelope: EventEnvelope[Any], now: datetime
) -> bool:
    """Record the event in the inbox; False when it was applied before (a redelivery)."""
    return await claim_event(
        session, inbox, consumer=consumer, event_id=envelope.id, event_type=envelope.type, now=now
    )


def cause_of(envelope: EventEnvelope[Any]) -> Cause:
    return Cause(envelope.id, envelope.correlationid)
