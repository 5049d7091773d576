"""A reviewer's answers a partner may act on: a coded rejection, one appeal that reopens the
case, and a return for edit (``action_required``) capped by the policy's round trips.

Rules of engagement written here, in DOMAIN.md's words:

- A reviewer's rejection carries a code from a published list
  (``schemas.review_reasons``) and the partner reads that code's sentence, never the
  reviewer's note and never another partner.
- The partner may appeal a reviewer's rejection once, with a note: the case reopens with
  its original evidence and competing claims, and its own SLA (``policy.reviews.appeal_sla``);
  the registration is ``pending_review`` again (``APPEALED``).
- Instead of rejecting, a reviewer may return a registration for edit with comments and the
  fields the partner may change; it is then ``action_required`` and holds nothing until the
  partner's edit, which the rules decide again. A registration may be returned at most
  ``policy.reviews.max_edit_round_trips`` times; past that the reviewer must decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.protection.decisions import emission_of
from conflict_resolver.domain.protection.outcome import (
    CaseToReopen,
    Cause,
    Claim,
    ClaimUpdate,
    KeyFiling,
    Outcome,
    ProtectionConflictError,
    customer_keys,
)
from schemas.registration import RegistrationSentToReview
from schemas.review import RegistrationAppealed, RegistrationReturnedForEdit
from schemas.review_reasons import APPEALABLE

APPEALED = "APPEALED"
APPEAL_RULE = "appeal"
RETURNED_FOR_EDIT = "RETURNED_FOR_EDIT"
APPEAL_SENTENCE = (
    "Your appeal was received: sales ops will review this registration again by {date}."
)


def reopen_on_appeal(
    appealed: RegistrationAppealed,
    claim: Claim | None,
    policy: Policy,
    *,
    case_id: str,
    by_review: bool,
    now: datetime,
    cause: Cause,
) -> Outcome:
    """The partner's appeal of a reviewer's rejection (``by_review``: the registration's case
    was decided by a person or the SLA policy): the case reopens with its own SLA and the
    registration is in review again. Anything else (a rules rejection, a claim that moved
    on, a repeated appeal) changes nothing: intake refuses those before they are sent."""
    if claim is None or claim.status != "rejected" or not by_review:
        return Outcome()
    if appealed.rejection_code not in APPEALABLE:
        return Outcome()
    submitted = claim.submitted
    due_at = now + policy.reviews.appeal_sla
    sentence = APPEAL_SENTENCE.format(date=due_at.date().isoformat())
    values = {
        "status": "pending_review",
        "decision": "pending_review",
        "reason_code": APPEALED,
        "reason": sentence,
        "decided_at": now,
        "waitlisted": False,
    }
    event = RegistrationSentToReview(
        registration_id=submitted.registration_id,
        account_key=submitted.account_key,
        product_line=submitted.product_line,
        decided_at=now,
        policy_version=policy.version,
        rule=APPEAL_RULE,
        reason_code=APPEALED,
        reason=sentence,
        conflict_id=case_id,
        due_at=due_at,
    )
    reopened = CaseToReopen(
        case_id=case_id,
        registration_id=submitted.registration_id,
        reopened_at=now,
        due_at=due_at,
        actor=f"partner:{submitted.partner.id}",
        note=appealed.note,
    )
    keys = customer_keys(submitted.customer)
    return Outcome(
        claim_updates=(ClaimUpdate(submitted.registration_id, values),),
        key_filings=(KeyFiling(submitted.registration_id, submitted.product_line, keys),),
        cases_to_reopen=(reopened,),
        events=(emission_of(event, submitted, cause),),
    )


def return_for_edit(
    reviewed: Claim,
    policy: Policy,
    *,
    comments: str,
    fields: Sequence[str],
    round_trips_so_far: int,
    actor: str,
    now: datetime,
) -> Outcome:
    """A reviewer returns the registration under review for edit; raises
    :class:`ProtectionConflictError` past the policy's round trips."""
    cap = policy.reviews.max_edit_round_trips
    if round_trips_so_far >= cap:
        raise ProtectionConflictError(
            f"This registration was already returned for edit {round_trips_so_far} time(s), "
            f"the policy's limit of round trips ({cap}): approve or reject it."
        )
    submitted = reviewed.submitted
    values = {
        "status": "action_required",
        "decision": "action_required",
        "reason_code": RETURNED_FOR_EDIT,
        "reason": comments,
        "decided_at": now,
        "edit_round_trips": round_trips_so_far + 1,
    }
    event = RegistrationReturnedForEdit(
        registration_id=submitted.registration_id,
        account_key=submitted.account_key,
        product_line=submitted.product_line,
        returned_at=now,
        comments=comments,
        editable_fields=tuple(fields),
        round_trip=round_trips_so_far + 1,
        max_round_trips=cap,
        decided_by=actor,
    )
    return Outcome(
        claim_updates=(ClaimUpdate(submitted.registration_id, values),),
        key_filings=(KeyFiling(submitted.registration_id, submitted.product_line),),
        events=(emission_of(event, submitted, Cause(None, reviewed.correlation_id)),),
    )
