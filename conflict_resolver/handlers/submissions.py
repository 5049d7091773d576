"""A submitted registration through the rules of engagement."""

from __future__ import annotations

from typing import Any

from conflict_resolver.adapters import claims_store as store
from conflict_resolver.adapters import policy_store
from conflict_resolver.domain import protection
from conflict_resolver.handlers.context import (
    SUBMISSIONS_CONSUMER,
    Context,
    cause_of,
    first_delivery,
)
from conflict_resolver.handlers.protections import apply, evaluate
from schemas.envelope import EventEnvelope
from schemas.registration import RegistrationSubmitted
from services.clock import new_id
from services.kafka.consumer import payload_of


async def decide_submission(ctx: Context, envelope: EventEnvelope[Any]) -> None:
    """Decide one submitted registration and record the decision, its evidence and its event
    together with the inbox row."""
    submitted = payload_of(envelope, RegistrationSubmitted)
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        if not await first_delivery(session, SUBMISSIONS_CONSUMER, envelope, now):
            return
        if await store.claim_row(session, submitted.registration_id) is not None:
            return
        policy = await policy_store.current_policy(session, now=now)
        cause = cause_of(envelope)
        decision = await evaluate(session, submitted, policy, now=now)
        await store.insert_claim(
            session,
            submitted,
            protection_key=decision.protection_key,
            correlation_id=cause.correlation_id,
        )
        outcome = protection.record_decision(
            submitted, decision, policy, now=now, cause=cause, case_id=new_id()
        )
        await apply(session, outcome, policy, now=now)
