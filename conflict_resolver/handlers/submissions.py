"""A submitted registration through the rules of engagement."""

from __future__ import annotations

from conflict_resolver.adapters import claims_store as store
from conflict_resolver.adapters import policy_store
from conflict_resolver.domain import protection
from conflict_resolver.handlers.context import cause_of
from conflict_resolver.handlers.protections import apply, evaluate
from schemas.registration import RegistrationSubmitted
from services.clock import new_id
from services.events import EventContext
from services.tracing import tracer


async def decide_submission(submitted: RegistrationSubmitted, event: EventContext) -> None:
    """Decide one submitted registration and record the decision, its evidence and its event
    in the event's transaction (with its inbox row)."""
    session, now = event.session, event.now
    if await store.claim_row(session, submitted.registration_id) is not None:
        return
    with tracer.start_as_current_span(
        "decide registration", attributes={"dealreg.registration_id": submitted.registration_id}
    ) as span:
        policy = await policy_store.current_policy(session, now=now)
        cause = cause_of(event)
        decision = await evaluate(session, submitted, policy, now=now)
        span.set_attributes(
            {
                "dealreg.decision.outcome": str(decision.outcome),
                "dealreg.decision.rule": decision.rule,
            }
        )
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
