"""Protections ending (expired, withdrawn, won, lost) and being extended, as outcomes."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Literal

from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.protection.decisions import (
    emission_of,
    leave_waitlist,
    leaves_waitlist,
)
from conflict_resolver.domain.protection.outcome import (
    CaseToClose,
    CaseToOpen,
    Cause,
    Claim,
    ClaimUpdate,
    Emission,
    IncumbentWrite,
    KeyFiling,
    Outcome,
    ProtectionMove,
    WaitlistToMove,
    submission_of,
)
from conflict_resolver.domain.protection.verdicts import decide_extension
from schemas.registration import (
    ExtensionDenied,
    ExtensionRequested,
    ProtectionExpired,
    ProtectionExtended,
)

Ending = Literal["expired", "withdrawn", "won", "lost"]
_CLOSED = frozenset({"withdrawn", "won", "lost", "expired"})


def end(claim: Claim, ending: Ending, *, now: datetime, cause: Cause | None) -> Outcome:
    """End the claim's protection: expired, withdrawn, won or lost.

    Won makes the partner the incumbent (its keys stay filed: a ``won`` claim is what rule 6
    finds); any other ending drops its keys and moves the waitlist.
    """
    own_cause = cause or Cause(None, claim.correlation_id)
    outcome = Outcome(
        claim_updates=(ClaimUpdate(claim.registration_id, {"status": ending, "ended_at": now}),),
        protection_deletes=(claim.registration_id,),
    )
    if ending == "won":
        return outcome.then(Outcome(incumbents=(_incumbent(claim, now),)))
    outcome = outcome.then(
        Outcome(
            key_filings=(KeyFiling(claim.registration_id, claim.product_line),),
            waitlists_to_move=(WaitlistToMove(claim.protection_key, claim.product_line),),
        )
    )
    if ending == "expired":
        expired = ProtectionExpired(
            registration_id=claim.registration_id,
            account_key=claim.account_key,
            product_line=claim.product_line,
            expired_at=now,
        )
        outcome = outcome.then(Outcome(events=(emission_of(expired, claim.submitted, own_cause),)))
    return outcome


def _incumbent(claim: Claim, now: datetime) -> IncumbentWrite:
    return IncumbentWrite(
        account_key=claim.protection_key,
        product_line=claim.product_line,
        partner_id=claim.submitted.partner.id,
        registration_id=claim.registration_id,
        won_at=now,
    )


def expire(claim: Claim, *, now: datetime) -> Outcome:
    """The expiry job's change, checked again under the claim's lock: nothing when the window
    has not passed (an extension granted after the job picked the row moved it)."""
    if not claim.holds_stale_protection(now):
        return Outcome()
    return end(claim, "expired", now=now, cause=None)


def close_waitlist(claim: Claim, *, now: datetime) -> Outcome:
    """The waitlist job's change, checked again under the claim's lock: a registration still
    on the waitlist whose own expected close date has passed leaves it (``WaitlistLeft``);
    nothing otherwise (promoted, withdrawn, or its date not yet passed)."""
    if not (claim.waitlisted and claim.status == "rejected"):
        return Outcome()
    if not leaves_waitlist(submission_of(claim.submitted), now=now):
        return Outcome()
    return leave_waitlist(claim.submitted, now=now, cause=Cause(None, claim.correlation_id))


def withdraw(claim: Claim, *, now: datetime, cause: Cause) -> Outcome:
    """The partner withdrew: its protection ends (the waitlist moves), or it leaves the queue
    or the waitlist. Nothing when it had already ended."""
    if claim.status in _CLOSED:
        return Outcome()
    if claim.holds_until is not None:
        return end(claim, "withdrawn", now=now, cause=cause)
    values = {"status": "withdrawn", "waitlisted": False, "ended_at": now}
    outcome = Outcome(
        claim_updates=(ClaimUpdate(claim.registration_id, values),),
        key_filings=(KeyFiling(claim.registration_id, claim.product_line),),
    )
    if claim.status == "pending_review":
        outcome = outcome.then(Outcome(cases_to_close=(CaseToClose(claim.registration_id, now),)))
    return outcome


def close_deal(
    claim: Claim, won_or_lost: Literal["won", "lost"], *, now: datetime, cause: Cause
) -> Outcome:
    """Won or lost in the CRM ends the protection. Won after the window ended still makes the
    partner the partner of record."""
    if claim.holds_until is not None:
        return end(claim, won_or_lost, now=now, cause=cause)
    if won_or_lost == "won" and claim.status in ("approved", "expired"):
        values = {"status": "won", "ended_at": now}
        return Outcome(
            claim_updates=(ClaimUpdate(claim.registration_id, values),),
            incumbents=(_incumbent(claim, now),),
        )
    return Outcome()


# --- Extension ------------------------------------------------------------------------------


def extend(
    requested: ExtensionRequested,
    claim: Claim | None,
    policy: Policy,
    *,
    now: datetime,
    cause: Cause,
    case_id: str | None = None,
    decided_by: str = "rules",
) -> Outcome:
    """Extend the protection by the policy's duration, at most ``max_extensions`` times,
    before it ends; otherwise deny with the reason (``ExtensionDenied``). When the policy
    sends extensions to review (``extension.review``), a request it would grant opens the
    case ``case_id`` instead (``EXTENSION_REVIEW``; see :func:`extension_from_review`)."""
    holding = claim is not None and claim.status == "approved" and claim.holds_until is not None
    verdict = decide_extension(
        holds_protection=holding,
        expires_at=None if claim is None else claim.holds_until,
        extensions_so_far=0 if claim is None else claim.extension_count,
        policy=policy,
        now=now,
    )
    partition = Emission(requested, requested.registration_id, requested.account_key, cause)
    if verdict.granted and claim is not None and policy.extension.review and case_id:
        return Outcome(cases_to_open=(_extension_case(claim, policy, case_id, now),))
    if verdict.granted and claim is not None and verdict.protection_expires_at is not None:
        new_expiry = verdict.protection_expires_at
        values = {"protection_expires_at": new_expiry, "extension_count": claim.extension_count + 1}
        extended = ProtectionExtended(
            registration_id=requested.registration_id,
            account_key=requested.account_key,
            product_line=requested.product_line,
            extended_at=now,
            protection_expires_at=new_expiry,
            reason=verdict.reason,
            extensions_left=max(policy.extension.max_extensions - claim.extension_count - 1, 0),
            decided_by=decided_by,
        )
        return Outcome(
            claim_updates=(ClaimUpdate(claim.registration_id, values),),
            protection_moves=(ProtectionMove(claim.registration_id, new_expiry),),
            events=(replace(partition, payload=extended),),
        )
    denied = ExtensionDenied(
        registration_id=requested.registration_id,
        account_key=requested.account_key,
        product_line=requested.product_line,
        decided_at=now,
        reason_code=verdict.reason_code or "DENIED",
        reason=verdict.reason,
    )
    return Outcome(events=(replace(partition, payload=denied),))


EXTENSION_REVIEW = "EXTENSION_REVIEW"
EXTENSION_RULE = "extension_review"
EXTENSION_REJECTED = "EXTENSION_REJECTED"


def _extension_case(claim: Claim, policy: Policy, case_id: str, now: datetime) -> CaseToOpen:
    return CaseToOpen(
        case_id=case_id,
        registration_id=claim.registration_id,
        account_key=claim.protection_key,
        product_line=claim.product_line,
        rule=EXTENSION_RULE,
        reason_code=EXTENSION_REVIEW,
        evidence={
            "protection_expires_at": claim.holds_until.isoformat() if claim.holds_until else None,
            "extensions_so_far": claim.extension_count,
            "extension": _duration_text(policy),
        },
        competing_registration_ids=(),
        opened_at=now,
        due_at=now + policy.review_sla,
    )


def _duration_text(policy: Policy) -> str:
    return f"{policy.extension.duration.days} days"


def extension_from_review(
    claim: Claim, policy: Policy, *, grant: bool, actor: str, now: datetime
) -> Outcome:
    """A reviewer answers an extension request sent to review: granted as the rules would
    grant it (re-checked now: a window that ended meanwhile is denied), or refused."""
    requested = ExtensionRequested(
        registration_id=claim.registration_id,
        account_key=claim.account_key,
        product_line=claim.product_line,
        requested_at=now,
    )
    cause = Cause(None, claim.correlation_id)
    if grant:
        lenient = policy.model_copy(
            update={"extension": policy.extension.model_copy(update={"review": False})}
        )
        return extend(requested, claim, lenient, now=now, cause=cause, decided_by=actor)
    denied = ExtensionDenied(
        registration_id=claim.registration_id,
        account_key=claim.account_key,
        product_line=claim.product_line,
        decided_at=now,
        reason_code=EXTENSION_REJECTED,
        reason="Sales ops reviewed the extension request and did not grant it.",
    )
    emission = Emission(denied, claim.registration_id, claim.account_key, cause)
    return Outcome(events=(emission,))
