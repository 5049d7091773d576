"""A partner asks to extend its protection; the policy decides (``domain.protection.extend``)."""

from __future__ import annotations

from datetime import datetime

from conflict_resolver.adapters import conflicts
from conflict_resolver.domain import protection
from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.protection import Cause, Claim, Outcome
from conflict_resolver.handlers.protections import change_claim
from schemas.registration import ExtensionRequested
from services.clock import new_id
from services.events import EventContext


async def request_extension(requested: ExtensionRequested, event: EventContext) -> None:
    """Extend up to the policy's ``max_extensions`` times, before expiry, while protected;
    else deny with a reason. Takes the same locks as the expiry job (keys, then the claim),
    so a grant and an expiry of one protection never interleave. A request the policy sends
    to review opens a case that no other event tells: it is told (``tell_opened``)."""
    sent_to_review: list[datetime] = []

    def change(claim: Claim | None, policy: Policy, cause: Cause, now: datetime) -> Outcome:
        outcome = protection.extend(
            requested, claim, policy, now=now, cause=cause, case_id=new_id()
        )
        sent_to_review.extend(case.opened_at for case in outcome.cases_to_open)
        return outcome

    await change_claim(event, registration_id=requested.registration_id, change=change)
    for opened_at in sent_to_review:
        await conflicts.tell_opened(event.session, requested.registration_id, at=opened_at)
