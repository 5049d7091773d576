"""The conflict queue's protection changes: a person or the SLA policy approves or rejects the
registration under review, and the decision at the SLA deadline."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.protection.decisions import (
    decision_fields,
    emission_of,
    protection_of,
    summary_of,
)
from conflict_resolver.domain.protection.endings import end
from conflict_resolver.domain.protection.outcome import (
    Cause,
    Claim,
    ClaimUpdate,
    KeyFiling,
    Outcome,
    ProtectionConflictError,
)
from conflict_resolver.domain.protection.verdicts import DeadlineDecision, decide_at_deadline
from schemas.registration import RegistrationApproved, RegistrationRejected
from schemas.review_reasons import REVIEW_REJECTED as REVIEW_REJECTED
from schemas.review_reasons import rejection_sentence as published_sentence

MANUAL_RULE = "manual_review"
PARTNER_SENTENCE_APPROVED = "Approved after review: you hold protection until {date}."
PARTNER_SENTENCE_REJECTED = "Sales ops reviewed this registration and did not approve it."
PARTNER_SENTENCE_REJECTED_KEPT = (
    "Sales ops reviewed this registration against another registration for this customer and "
    "product line and kept the other one; this one is not approved."
)


def rejection_sentence(*, kept: str | None) -> str:
    """What the partner reads of a rejection from the queue: whether another registration
    was kept instead, never whose."""
    return PARTNER_SENTENCE_REJECTED if kept is None else PARTNER_SENTENCE_REJECTED_KEPT


@dataclass(frozen=True)
class ReviewSituation:
    """What an approval from the queue must respect, read under the case's locks."""

    reviewed: Claim
    holder: Claim | None = None  # whoever holds the protection under the reviewed key
    waitlisted: tuple[Claim, ...] = ()  # waiting behind that key, in submission order
    competing: tuple[Claim, ...] = field(default_factory=tuple)  # the case's other claims


def approval_refusal(situation: ReviewSituation, *, now: datetime) -> str | None:
    """Why approving the reviewed registration now would break exclusivity or
    first-to-register (None: it may be approved)."""
    reviewed, holder = situation.reviewed, situation.holder
    blocking = holder is not None and holder.registration_id != reviewed.registration_id
    if blocking and holder is not None and holder.holds_live_protection(now):
        until = holder.holds_until.isoformat() if holder.holds_until else ""
        return (
            "Approving would break exclusivity: another registration holds live protection "
            f"on this account and product line until {until}."
        )
    earlier = [c for c in situation.waitlisted if c.submission_seq < reviewed.submission_seq]
    if earlier:
        return (
            "Approving would break first-to-register: a registration accepted before this one "
            "is on the waitlist for this account and product line; it is re-evaluated first "
            "when the current protection ends."
        )
    return None


def approve_from_review(
    situation: ReviewSituation, policy: Policy, *, actor: str, now: datetime
) -> Outcome:
    """Sales ops (or the SLA policy) approve the registration under review.

    It gets the window the rules would give it (tier and product line). A holder whose
    window has passed is ended first, exactly as the expiry job would (``expired``,
    ``ProtectionExpired``); the waitlist behind it is consulted in submission order: anyone
    accepted before the reviewed registration makes the approval a conflict (see
    :func:`approval_refusal`), anyone after stays waiting behind the new holder.
    Raises :class:`ProtectionConflictError`.
    """
    refusal = approval_refusal(situation, now=now)
    if refusal is not None:
        raise ProtectionConflictError(refusal)
    reviewed, holder = situation.reviewed, situation.holder
    outcome = Outcome()
    if holder is not None and holder.registration_id != reviewed.registration_id:
        ended = end(holder, "expired", now=now, cause=None)
        outcome = replace(ended, waitlists_to_move=())  # the reviewed registration takes it
    submitted = reviewed.submitted
    expires_at = now + policy.window_for(submitted.partner.tier, submitted.product_line)
    sentence = PARTNER_SENTENCE_APPROVED.format(date=expires_at.date().isoformat())
    values = {
        "status": "approved",
        "rule": MANUAL_RULE,
        "reason_code": None,
        "reason": sentence,
        "decided_at": now,
        "protection_expires_at": expires_at,
        "policy_version": policy.version,
    }
    event = RegistrationApproved(
        **decision_fields(submitted, policy, now=now, rule=MANUAL_RULE),
        protection_expires_at=expires_at,
        reason=sentence,
        decided_by=actor,
        registration=summary_of(submitted),
        extensions_allowed=policy.extension.max_extensions,
    )
    cause = Cause(None, reviewed.correlation_id)
    return outcome.then(
        Outcome(
            claim_updates=(ClaimUpdate(reviewed.registration_id, values),),
            protection_writes=(protection_of(submitted, reviewed.protection_key, expires_at),),
            events=(emission_of(event, submitted, cause),),
        )
    )


def reject_from_review(
    reviewed: Claim,
    policy: Policy,
    *,
    kept: str | None,
    actor: str,
    now: datetime,
    reason_code: str | None = None,
) -> Outcome:
    """Sales ops (or the SLA policy) reject the registration under review; the partner is
    not told who was kept, only that another registration was (``rejection_sentence``).

    With a published ``reason_code`` (``schemas.review_reasons``) the partner reads that
    code and its sentence instead."""
    code = reason_code or REVIEW_REJECTED
    sentence = published_sentence(code) if reason_code else rejection_sentence(kept=kept)
    values = {
        "status": "rejected",
        "rule": MANUAL_RULE,
        "reason_code": code,
        "reason": sentence,
        "decided_at": now,
        "policy_version": policy.version,
    }
    event = RegistrationRejected(
        **decision_fields(reviewed.submitted, policy, now=now, rule=MANUAL_RULE),
        reason_code=code,
        reason=sentence,
        blocking_registration_id=kept,
        decided_by=actor,
    )
    return Outcome(
        claim_updates=(ClaimUpdate(reviewed.registration_id, values),),
        key_filings=(KeyFiling(reviewed.registration_id, reviewed.product_line),),
        events=(emission_of(event, reviewed.submitted, Cause(None, reviewed.correlation_id)),),
    )


def decision_at_deadline(
    situation: ReviewSituation, policy: Policy, *, now: datetime
) -> DeadlineDecision | None:
    """What the policy decides for a case still open at its SLA deadline (None: escalate).

    Live rivals are the competing claims still in review or holding unexpired protection,
    and the registrations waiting on the waitlist; a holder whose window has passed holds
    nothing (approving ends it properly, see :func:`approve_from_review`).
    """
    reviewed = situation.reviewed
    rivals = [
        c
        for c in (*situation.competing, *situation.waitlisted)
        if c.registration_id != reviewed.registration_id
        and (c.status == "pending_review" or c.waitlisted or c.holds_live_protection(now))
    ]
    holder = situation.holder
    return decide_at_deadline(
        policy,
        submission_seq=reviewed.submission_seq,
        competing_live_seqs=tuple(c.submission_seq for c in rivals),
        protection_held_by_another=holder is not None
        and holder.registration_id != reviewed.registration_id
        and holder.holds_live_protection(now),
    )
