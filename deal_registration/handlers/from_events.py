"""What the other services tell us: decisions and CRM events applied to the partner's view."""

from __future__ import annotations

from typing import Any

from deal_registration.adapters import repository as repo
from deal_registration.adapters.tables import inbox
from deal_registration.domain import lifecycle
from deal_registration.handlers.changes import apply_change, current_of
from deal_registration.handlers.context import CRM_CONSUMER, Context
from schemas.envelope import EventEnvelope
from services.inbox import claim_event
from services.kafka.consumer import PoisonEventError


async def apply_event(ctx: Context, envelope: EventEnvelope[Any], *, consumer: str) -> None:
    """Apply a decision or CRM event to the partner's view, once (through the inbox)."""
    data = envelope.data
    registration_id = getattr(data, "registration_id", None)
    if not isinstance(registration_id, str):
        raise PoisonEventError(f"{envelope.type} names no registration")
    async with ctx.transactions.transaction() as session:
        now = ctx.clock.now()
        is_new = await claim_event(
            session,
            inbox,
            consumer=consumer,
            event_id=envelope.id,
            event_type=envelope.type,
            now=now,
        )
        if not is_new:
            return
        row = await repo.lock_registration(session, registration_id)
        if row is None:
            raise PoisonEventError(f"unknown registration {registration_id}")
        change = lifecycle.change_for(data, current_of(row), now=now)
        if change is None:
            return  # a late or repeated event: the partner's view already moved on
        actor = "crm_sync" if consumer == CRM_CONSUMER else "conflict_resolver"
        await apply_change(session, row, change, actor=actor, event_id=envelope.id)
