"""A partner asks to extend its protection; the policy decides (``domain.protection.extend``)."""

from __future__ import annotations

from typing import Any

from conflict_resolver.adapters import outcomes, policy_store
from conflict_resolver.domain import protection
from conflict_resolver.handlers.context import (
    SUBMISSIONS_CONSUMER,
    Context,
    cause_of,
    first_delivery,
)
from conflict_resolver.handlers.protections import lock_claim
from schemas.envelope import EventEnvelope
from schemas.registration import ExtensionRequested
from services.kafka.consumer import payload_of


async def request_extension(ctx: Context, envelope: EventEnvelope[Any]) -> None:
    """Extend up to the policy's ``max_extensions`` times, before expiry, while protected;
    else deny with a reason. Takes the same locks as the expiry job (keys, then the claim),
    so a grant and an expiry of one protection never interleave."""
    requested = payload_of(envelope, ExtensionRequested)
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        if not await first_delivery(session, SUBMISSIONS_CONSUMER, envelope, now):
            return
        await lock_claim(session, requested.registration_id)
        claim = await outcomes.load_claim(session, requested.registration_id, for_update=True)
        policy = await policy_store.current_policy(session, now=now)
        outcome = protection.extend(requested, claim, policy, now=now, cause=cause_of(envelope))
        await outcomes.persist(session, outcome, now=now)
