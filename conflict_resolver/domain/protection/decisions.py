"""A decision of the rules, and the waitlist moving up, as outcomes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.protection.outcome import (
    CaseToOpen,
    Cause,
    ClaimUpdate,
    Emission,
    KeyFiling,
    Outcome,
    ProtectionWrite,
    customer_keys,
)
from conflict_resolver.domain.rules import Decision, Submission
from schemas.envelope import EventPayload
from schemas.registration import (
    RegistrationApproved,
    RegistrationRejected,
    RegistrationSentToReview,
    RegistrationSubmitted,
    RegistrationSummary,
    WaitlistLeft,
    WaitlistReevaluated,
)


def record_decision(
    submitted: RegistrationSubmitted,
    decision: Decision,
    policy: Policy,
    *,
    now: datetime,
    cause: Cause,
    case_id: str,
    promoted: bool = False,
) -> Outcome:
    """What a decision of the rules does: status, protection, keys, case and event.

    ``case_id`` names the case opened if the decision is ``pending_review``; ``promoted``
    marks an approval from the waitlist (``WAITLIST_PROMOTED``).
    """
    registration_id = submitted.registration_id
    claim = ClaimUpdate(
        registration_id,
        {
            "status": decision.outcome,
            "decision": decision.outcome,
            "rule": decision.rule,
            "reason_code": decision.reason_code,
            "reason": decision.reason,
            "policy_version": policy.version,
            "decided_at": now,
            "protection_expires_at": decision.protection_expires_at,
            "protection_key": decision.protection_key,
            "waitlisted": decision.waitlisted,
            "evidence": decision.evidence,
        },
    )
    live = decision.outcome != "rejected" or decision.waitlisted
    keys = customer_keys(submitted.customer) if live else ()
    outcome = Outcome(
        claim_updates=(claim,),
        key_filings=(KeyFiling(registration_id, submitted.product_line, keys),),
    )
    if decision.outcome == "approved":
        return outcome.then(_approved(submitted, decision, policy, now, cause, promoted))
    if decision.outcome == "pending_review":
        return outcome.then(_sent_to_review(submitted, decision, policy, now, cause, case_id))
    rejected = RegistrationRejected(
        **decision_fields(submitted, policy, now=now, rule=decision.rule),
        reason_code=decision.reason_code or "REJECTED",
        reason=decision.reason,
        blocking_registration_id=decision.blocking_registration_id,
        blocked_until=decision.blocked_until,
        waitlisted=decision.waitlisted,
        **recorded_fields(decision),
    )
    return outcome.then(Outcome(events=(emission_of(rejected, submitted, cause),)))


def _approved(
    submitted: RegistrationSubmitted,
    decision: Decision,
    policy: Policy,
    now: datetime,
    cause: Cause,
    promoted: bool,
) -> Outcome:
    expires_at = decision.protection_expires_at
    if expires_at is None:
        raise ValueError("an approval carries its protection's expiry")
    event = RegistrationApproved(
        **decision_fields(submitted, policy, now=now, rule=decision.rule),
        protection_expires_at=expires_at,
        reason=decision.reason,
        reason_code="WAITLIST_PROMOTED" if promoted else None,
        registration=summary_of(submitted),
        extensions_allowed=policy.extension.max_extensions,
        **recorded_fields(decision),
    )
    return Outcome(
        protection_writes=(protection_of(submitted, decision.protection_key, expires_at),),
        events=(emission_of(event, submitted, cause),),
    )


def _sent_to_review(
    submitted: RegistrationSubmitted,
    decision: Decision,
    policy: Policy,
    now: datetime,
    cause: Cause,
    case_id: str,
) -> Outcome:
    due_at = now + policy.review_sla
    reason_code = decision.reason_code or "REVIEW"
    case = CaseToOpen(
        case_id=case_id,
        registration_id=submitted.registration_id,
        account_key=decision.protection_key,
        product_line=submitted.product_line,
        rule=decision.rule,
        reason_code=reason_code,
        evidence=decision.evidence,
        competing_registration_ids=decision.competing_registration_ids,
        opened_at=now,
        due_at=due_at,
    )
    event = RegistrationSentToReview(
        **decision_fields(submitted, policy, now=now, rule=decision.rule),
        reason_code=reason_code,
        reason=decision.reason,
        conflict_id=case_id,
        due_at=due_at,
        competing_registration_ids=tuple(decision.competing_registration_ids),
        **recorded_fields(decision),
    )
    return Outcome(cases_to_open=(case,), events=(emission_of(event, submitted, cause),))


def decision_fields(
    submitted: RegistrationSubmitted, policy: Policy, *, now: datetime, rule: str
) -> dict[str, Any]:
    """What every decision event says first: which registration, when, by which policy and
    rule."""
    return {
        "registration_id": submitted.registration_id,
        "account_key": submitted.account_key,
        "product_line": submitted.product_line,
        "decided_at": now,
        "policy_version": policy.version,
        "rule": rule,
    }


def recorded_fields(decision: Decision) -> dict[str, Any]:
    """What the resolver records of a decision of the rules beyond what partners read: the
    canonical key the claim competes on and the evidence (also the opened case's evidence).
    On the decision event so that the resolver's record can be rebuilt from the topics
    without deciding again (``dealreg replay conflict_resolver``)."""
    return {"protection_key": decision.protection_key, "evidence": dict(decision.evidence)}


def summary_of(submitted: RegistrationSubmitted) -> RegistrationSummary:
    return RegistrationSummary(
        partner_id=submitted.partner.id,
        partner_name=submitted.partner.name,
        customer=submitted.customer,
        product_line=submitted.product_line,
        deal_type=submitted.deal_type,
        amount=submitted.amount,
        expected_close_date=submitted.expected_close_date,
        submitted_at=submitted.submitted_at,
    )


def protection_of(
    submitted: RegistrationSubmitted, protection_key: str, expires_at: datetime
) -> ProtectionWrite:
    return ProtectionWrite(
        account_key=protection_key or submitted.account_key,
        product_line=submitted.product_line,
        registration_id=submitted.registration_id,
        partner_id=submitted.partner.id,
        expires_at=expires_at,
    )


def emission_of(payload: EventPayload, submitted: RegistrationSubmitted, cause: Cause) -> Emission:
    return Emission(payload, submitted.registration_id, submitted.account_key, cause)


def leaves_waitlist(submission: Submission, *, now: datetime) -> bool:
    """A waitlisted registration leaves the waitlist when its expected close date passed."""
    return (
        submission.expected_close_date is not None and submission.expected_close_date < now.date()
    )


@dataclass(frozen=True)
class WaitlistMove:
    """What re-evaluating the head of the waitlist means for it and the walk."""

    stays_waiting: bool  # still blocked: it stays first in line
    recorded: bool  # the new decision is recorded (approved, review, or another rejection)
    moves_on: bool  # the next in line is evaluated too


def waitlist_move(decision: Decision | None) -> WaitlistMove:
    """The head of the waitlist after a protection ended, re-evaluated by the rules now.

    ``decision`` is what the rules say now (None when it left the waitlist because its close
    date passed). Still blocked: it stays first in line and the walk stops. Approved
    (``WAITLIST_PROMOTED``) or sent to review: the walk stops. Rejected for another reason:
    it leaves the waitlist and the next in line is evaluated.
    """
    if decision is None:
        return WaitlistMove(stays_waiting=False, recorded=False, moves_on=True)
    if decision.outcome == "rejected" and decision.waitlisted:
        return WaitlistMove(stays_waiting=True, recorded=False, moves_on=False)
    return WaitlistMove(stays_waiting=False, recorded=True, moves_on=decision.outcome == "rejected")


@dataclass(frozen=True)
class WaitlistStep:
    """One registration at the head of the waitlist, re-evaluated, as an outcome."""

    outcome: Outcome
    decision: Decision | None
    moves_on: bool  # True: the next in line is evaluated too


def waitlist_step(
    waiting: RegistrationSubmitted,
    decision: Decision | None,
    policy: Policy,
    *,
    now: datetime,
    cause: Cause,
    case_id: str,
) -> WaitlistStep:
    """What :func:`waitlist_move` does to the claims, keys, cases and events."""
    registration_id = waiting.registration_id
    move = waitlist_move(decision)
    if decision is not None and move.recorded:
        recorded = record_decision(
            waiting, decision, policy, now=now, cause=cause, case_id=case_id, promoted=True
        )
        return WaitlistStep(recorded, decision, move.moves_on)
    if decision is not None and move.stays_waiting:
        values = {"waitlisted": True, "protection_key": decision.protection_key}
        kept = WaitlistReevaluated(
            registration_id=registration_id,
            account_key=waiting.account_key,
            product_line=waiting.product_line,
            reevaluated_at=now,
            protection_key=decision.protection_key,
            blocking_registration_id=decision.blocking_registration_id,
        )
        stay = Outcome(
            claim_updates=(ClaimUpdate(registration_id, values),),
            events=(emission_of(kept, waiting, cause),),  # the record changed: on the topics
        )
        return WaitlistStep(stay, decision, move.moves_on)
    return WaitlistStep(leave_waitlist(waiting, now=now, cause=cause), decision, move.moves_on)


WAITLIST_LEFT = "WAITLIST_LEFT"
WAITLIST_LEFT_SENTENCE = (
    "Your expected close date ({date}) passed while this registration waited behind another "
    "partner's protection: it has left the waitlist and will not be promoted."
)


def leave_waitlist(waiting: RegistrationSubmitted, *, now: datetime, cause: Cause) -> Outcome:
    """A waitlisted registration leaves the waitlist (its expected close date passed): its
    keys are dropped, it stays ``rejected`` and the partner is told (``WaitlistLeft``)."""
    left = WaitlistLeft(
        registration_id=waiting.registration_id,
        account_key=waiting.account_key,
        product_line=waiting.product_line,
        left_at=now,
        expected_close_date=waiting.expected_close_date,
        reason_code=WAITLIST_LEFT,
        reason=WAITLIST_LEFT_SENTENCE.format(date=waiting.expected_close_date.isoformat()),
    )
    return Outcome(
        claim_updates=(ClaimUpdate(waiting.registration_id, {"waitlisted": False}),),
        key_filings=(KeyFiling(waiting.registration_id, waiting.product_line),),
        events=(emission_of(left, waiting, cause),),
    )
