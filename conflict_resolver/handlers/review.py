"""The protection changes of the conflict queue: a person or the SLA policy approves or
rejects a registration under review, in the queue's transaction (the case row is locked by
the caller). The same ``domain.protection`` functions as the rules decide what that does."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from conflict_resolver.adapters import claims_store, outcomes, policy_store
from conflict_resolver.adapters.session import Session
from conflict_resolver.domain import protection
from conflict_resolver.domain.protection import Claim, DeadlineDecision, ReviewSituation
from conflict_resolver.handlers.protections import lock_claim

_HOLDER_READS = 3  # a holder ended while we waited for its lock may already have a successor


async def review_situation(
    session: Session,
    registration_id: str,
    competing_registration_ids: Iterable[str] = (),
    *,
    protection_key: str | None = None,
) -> ReviewSituation | None:
    """The registration under review, who holds its account's protection (claim row locked,
    in the order the expiry job locks it), the waitlist behind it and the case's other
    claims. None when the registration is unknown to the resolver."""
    reviewed = await outcomes.load_claim(session, registration_id)
    if reviewed is None:
        return None
    key = protection_key or reviewed.protection_key
    holder = await _locked_holder(session, key, reviewed.product_line)
    return ReviewSituation(
        reviewed=reviewed,
        holder=holder,
        waitlisted=tuple(await outcomes.waitlist_of(session, key, reviewed.product_line)),
        competing=tuple(await outcomes.load_claims(session, competing_registration_ids)),
    )


async def _locked_holder(session: Session, key: str, product_line: str) -> Claim | None:
    for _ in range(_HOLDER_READS):
        found = await outcomes.holder_of(session, key, product_line)
        if found is None:
            return None
        holder = await outcomes.load_claim(session, found.registration_id, for_update=True)
        if holder is not None and holder.holds_until is not None:
            return holder
    return None


async def approve_reviewed(
    session: Session,
    registration_id: str,
    competing_registration_ids: Iterable[str],
    *,
    actor: str,
    now: datetime,
) -> None:
    """Approve from the queue (``protection.approve_from_review``); raises
    ``ProtectionConflictError`` when that would break exclusivity or first-to-register,
    and ``IntegrityError`` when another writer took the protection after our read."""
    situation = await review_situation(session, registration_id, competing_registration_ids)
    if situation is None:
        raise protection.ProtectionConflictError(
            "The case's registration is unknown to the resolver."
        )
    policy = await policy_store.current_policy(session, now=now)
    outcome = protection.approve_from_review(situation, policy, actor=actor, now=now)
    await outcomes.persist(session, outcome, now=now)


async def reject_reviewed(
    session: Session,
    registration_id: str,
    *,
    kept: str | None,
    actor: str,
    now: datetime,
    reason_code: str | None = None,
) -> None:
    reviewed = await outcomes.load_claim(session, registration_id)
    if reviewed is None:
        raise protection.ProtectionConflictError(
            "The case's registration is unknown to the resolver."
        )
    policy = await policy_store.current_policy(session, now=now)
    outcome = protection.reject_from_review(
        reviewed, policy, kept=kept, actor=actor, now=now, reason_code=reason_code
    )
    await outcomes.persist(session, outcome, now=now)


async def deadline_decision(
    session: Session,
    *,
    registration_id: str,
    account_key: str,
    product_line: str,
    competing_registration_ids: list[str],
    now: datetime,
) -> DeadlineDecision | None:
    """What the current policy decides for a case still open at its SLA deadline (None: leave
    it to a human and escalate). Reads, in the caller's transaction; writes nothing.

    ``account_key`` is the case's (canonical) account key: the holder is looked up under it.
    ``product_line`` is the case's, the same as its registration's.
    """
    del product_line  # the registration's own, read with it
    situation = await review_situation(
        session, registration_id, competing_registration_ids, protection_key=account_key
    )
    if situation is None:
        return None
    policy = await policy_store.current_policy(session, now=now)
    return protection.decision_at_deadline(situation, policy, now=now)


async def return_reviewed(
    session: Session,
    registration_id: str,
    *,
    comments: str,
    fields: Sequence[str],
    actor: str,
    now: datetime,
) -> None:
    """Return the registration under review for edit (``protection.return_for_edit``);
    raises ``ProtectionConflictError`` past the policy's round trips."""
    reviewed = await outcomes.load_claim(session, registration_id)
    row = await claims_store.claim_row(session, registration_id)
    if reviewed is None or row is None:
        raise protection.ProtectionConflictError(
            "The case's registration is unknown to the resolver."
        )
    policy = await policy_store.current_policy(session, now=now)
    outcome = protection.return_for_edit(
        reviewed,
        policy,
        comments=comments,
        fields=fields,
        round_trips_so_far=int(row.get("edit_round_trips") or 0),
        actor=actor,
        now=now,
    )
    await outcomes.persist(session, outcome, now=now)


async def answer_extension(
    session: Session, registration_id: str, *, grant: bool, actor: str, now: datetime
) -> None:
    """Grant or refuse an extension request the policy sent to review
    (``protection.extension_from_review``), under the claim's key locks and row lock, as the
    expiry job takes them."""
    await lock_claim(session, registration_id)
    claim = await outcomes.load_claim(session, registration_id, for_update=True)
    if claim is None:
        raise protection.ProtectionConflictError(
            "The case's registration is unknown to the resolver."
        )
    policy = await policy_store.current_policy(session, now=now)
    outcome = protection.extension_from_review(claim, policy, grant=grant, actor=actor, now=now)
    await outcomes.persist(session, outcome, now=now)
