"""A partner acts on a reviewer's answer: an appeal reopens the case; an edit of a
registration returned for edit goes through the rules again (``domain.protection.answers``).

Both run in the event's transaction, under the claim's key locks and row lock, like every
protection change (``handlers.protections``)."""

from __future__ import annotations

from datetime import datetime

from conflict_resolver.adapters import claims_store as store
from conflict_resolver.adapters import conflicts, policy_store
from conflict_resolver.adapters.session import Session
from conflict_resolver.domain import protection
from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.protection import Cause, Claim, Outcome
from conflict_resolver.handlers.context import cause_of
from conflict_resolver.handlers.protections import apply, change_claim, evaluate, lock_claim
from schemas.registration import RegistrationSubmitted
from schemas.review import RegistrationAppealed, RegistrationEdited
from services.clock import new_id
from services.events import EventContext

_NOT_BY_REVIEW = {None, "partner"}  # a case closed by its partner's withdrawal was not decided


async def appeal(appealed: RegistrationAppealed, event: EventContext) -> None:
    """Reopen the case of a reviewer's rejection with its own SLA (once: intake refuses a
    second appeal, and a reopened case is no longer a rejection to appeal)."""
    case = await conflicts.case_of(event.session, appealed.registration_id)
    by_review = (
        case is not None and case["state"] == "decided" and case["decided_by"] not in _NOT_BY_REVIEW
    )
    case_id = case["id"] if case is not None else ""

    def change(claim: Claim | None, policy: Policy, cause: Cause, now: datetime) -> Outcome:
        return protection.reopen_on_appeal(
            appealed, claim, policy, case_id=case_id, by_review=by_review, now=now, cause=cause
        )

    await change_claim(event, registration_id=appealed.registration_id, change=change)


async def edited(edited: RegistrationEdited, event: EventContext) -> None:
    """The partner's edit of a registration returned for edit: the claim takes the edited
    registration (keeping its place in first-to-register) and the rules decide it again; if
    it goes to review, its earlier case opens again with the new evidence."""
    session, now = event.session, event.now
    submitted = await take_edit(session, edited)
    if submitted is None:
        return
    policy = await policy_store.current_policy(session, now=now)
    decision = await evaluate(session, submitted, policy, now=now)
    case = await conflicts.case_of(session, edited.registration_id)
    outcome = protection.record_decision(
        submitted,
        decision,
        policy,
        now=now,
        cause=cause_of(event),
        case_id=case["id"] if case is not None else new_id(),
    )
    await apply(session, outcome, policy, now=now)


async def take_edit(session: Session, edited: RegistrationEdited) -> RegistrationSubmitted | None:
    """The claim returned for edit takes the edited registration, keeping its place in
    first-to-register, and waits for the rules (also the replay's write of an edit, whose
    decision is applied from its own event). None when the claim moved on."""
    await lock_claim(session, edited.registration_id)
    claim = await store.claim_row(session, edited.registration_id, for_update=True)
    if claim is None or claim["status"] != "action_required":
        return None  # a repeated or late edit: the claim moved on
    submitted = edited.registration.model_copy(update={"submission_seq": claim["submission_seq"]})
    await store.update_claim(
        session,
        edited.registration_id,
        submitted=submitted.model_dump(mode="json"),
        account_key=submitted.account_key,
        status="submitted",
    )
    return submitted
