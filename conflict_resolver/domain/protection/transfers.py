"""Sales ops move a live protection from one registration to another, in one step.

Rules of engagement written here, in DOMAIN.md's words: sales ops may move a live protection
from one registration to another with a reason (a customer's request, a first-to-register
conflict, a partner merger), in one step that ends the old, starts the new, keeps the
invariant and tells both partners without naming either. The new holder gets the window the
rules would give it (tier and product line); the waitlist does not move (the protection did
not end, it changed hands). Only a registration waiting for it may receive it: one in review
(its case closes) or on the waitlist, for the same customer and product line.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.protection.decisions import (
    decision_fields,
    emission_of,
    protection_of,
    summary_of,
)
from conflict_resolver.domain.protection.outcome import (
    CaseToClose,
    Cause,
    Claim,
    ClaimUpdate,
    KeyFiling,
    Outcome,
    ProtectionConflictError,
)
from schemas.registration import ProtectionTransferred, RegistrationApproved

TransferReason = Literal["customer_request", "first_to_register_conflict", "partner_merger"]
TRANSFER_RULE = "protection_transfer"
TRANSFERRED = "PROTECTION_TRANSFERRED"
SENTENCE_AWAY = (
    "Sales operations transferred the protection of this registration to another "
    "registration for this customer and product line ({why}); it no longer holds protection."
)
SENTENCE_TO = (
    "Sales operations transferred the protection for this customer and product line to this "
    "registration ({why}): you hold protection until {date}."
)
_WHY: dict[str, str] = {
    "customer_request": "at the customer's request",
    "first_to_register_conflict": "it was registered first",
    "partner_merger": "after a partner merger",
}


def transfer_refusal(source: Claim, target: Claim, *, now: datetime) -> str | None:
    """Why this transfer would break the invariant or take from no one (None: it may go)."""
    if source.registration_id == target.registration_id:
        return "A protection cannot be transferred to itself."
    if source.status != "approved" or not source.holds_live_protection(now):
        return "The source registration holds no live protection to transfer."
    same_line = source.product_line == target.product_line
    if not same_line or source.protection_key != target.protection_key:
        return "A protection moves only between registrations for the same customer and line."
    waiting = target.status == "pending_review" or (
        target.status == "rejected" and target.waitlisted
    )
    if not waiting:
        return (
            f"A registration that is {target.status} cannot receive a protection; only one "
            "in review or on the waitlist can."
        )
    return None


def transfer(
    source: Claim,
    target: Claim,
    policy: Policy,
    *,
    reason: TransferReason,
    note: str,
    actor: str,
    now: datetime,
) -> Outcome:
    """End the source's protection (``transferred``) and approve the target in its place.

    Raises :class:`ProtectionConflictError` (see :func:`transfer_refusal`). ``note`` is for
    sales ops (the case and the request); partners read the sentences above.
    """
    refusal = transfer_refusal(source, target, now=now)
    if refusal is not None:
        raise ProtectionConflictError(refusal)
    why = _WHY[reason]
    away = ProtectionTransferred(
        registration_id=source.registration_id,
        account_key=source.account_key,
        product_line=source.product_line,
        transferred_at=now,
        to_registration_id=target.registration_id,
        transfer_reason=reason,
        reason=SENTENCE_AWAY.format(why=why),
        decided_by=actor,
        note=note,  # for ops and the replay: the case's closing reason holds it
        policy_version=policy.version,
    )
    ended = Outcome(
        claim_updates=(
            ClaimUpdate(source.registration_id, {"status": "transferred", "ended_at": now}),
        ),
        protection_deletes=(source.registration_id,),
        key_filings=(KeyFiling(source.registration_id, source.product_line),),
        events=(emission_of(away, source.submitted, Cause(None, source.correlation_id)),),
    )
    approved = _approved(target, policy, why=why, actor=actor, now=now)
    if target.status == "pending_review":
        closing = CaseToClose(
            target.registration_id,
            now,
            decided_by=actor,
            reason=f"Protection transferred to this registration ({reason}): {note}",
            approved_registration_id=target.registration_id,
        )
        approved = approved.then(Outcome(cases_to_close=(closing,)))
    return ended.then(approved)


def _approved(target: Claim, policy: Policy, *, why: str, actor: str, now: datetime) -> Outcome:
    submitted = target.submitted
    expires_at = now + policy.window_for(submitted.partner.tier, submitted.product_line)
    sentence = SENTENCE_TO.format(why=why, date=expires_at.date().isoformat())
    values = {
        "status": "approved",
        "waitlisted": False,
        "rule": TRANSFER_RULE,
        "reason_code": TRANSFERRED,
        "reason": sentence,
        "decided_at": now,
        "protection_expires_at": expires_at,
        "policy_version": policy.version,
    }
    event = RegistrationApproved(
        **decision_fields(submitted, policy, now=now, rule=TRANSFER_RULE),
        protection_expires_at=expires_at,
        reason=sentence,
        reason_code=TRANSFERRED,
        decided_by=actor,
        registration=summary_of(submitted),
    )
    return Outcome(
        claim_updates=(ClaimUpdate(target.registration_id, values),),
        protection_writes=(protection_of(submitted, target.protection_key, expires_at),),
        events=(emission_of(event, submitted, Cause(None, target.correlation_id)),),
    )
