"""Assigning and deciding a case: the one place a human changes protection.

Deciding locks the case (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite transactions are
serialised by ``BEGIN IMMEDIATE``), closes it with ``UPDATE ... WHERE state = 'open'`` (of two
concurrent deciders exactly one changes a row), and changes the protection through the same
``domain.protection`` functions as the rules (``handlers.review``): the window the rules
would give, a stale holder ended properly, first-to-register respected. The primary key of
``protections`` refuses a second live one whatever races; the events leave through the outbox.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from conflict_resolver.adapters.session import Row, Session
from conflict_resolver.domain.encroachment import REASON_CODE as ENCROACHMENT
from conflict_resolver.domain.protection import EXTENSION_REVIEW, ProtectionConflictError
from conflict_resolver.handlers import review
from conflict_resolver.queue import store
from conflict_resolver.queue.domain import (
    DecisionPlan,
    QueueError,
    labelled_pairs,
    plan_decision,
)
from conflict_resolver.queue.handlers.context import SLA_ACTOR, QueueContext
from conflict_resolver.queue.handlers.reading import competing_of, get_case
from conflict_resolver.queue.metrics import CONFLICTS_DECIDED, TIME_TO_DECISION
from services.principals import OpsCaller as Operator


async def assign(
    ctx: QueueContext, operator: Operator, case_id: str, owner: str | None
) -> dict[str, Any]:
    """Give an open case an owner (or none); recorded in the case's history."""
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        row = await store.get_case(session, case_id, lock=True)
        if row is None:
            raise QueueError("not_found", "No such conflict case.")
        if not await store.set_owner(session, case_id, owner):
            raise QueueError("conflict", "The case is already decided.")
        await store.add_history(
            session,
            case_id,
            at=now,
            action="assigned",
            actor=operator.actor,
            detail={"owner": owner},
        )
    return await get_case(ctx, case_id)


async def decide(
    ctx: QueueContext,
    operator: Operator,
    case_id: str,
    *,
    approve: str | None,
    reason: str,
    reason_code: str | None = None,
) -> dict[str, Any]:
    """Approve one claim or none, with a reason (and, approving none, a published code for
    the partner); 409 if decided already or exclusivity says no."""
    if approve is not None and reason_code is not None:
        raise QueueError("invalid", "A reason code is given only when approving none.")
    now = ctx.clock.now()
    with store.exclusivity_guarded():
        async with ctx.transactions.transaction() as session:
            row = await store.get_case(session, case_id, lock=True)
            if row is None:
                raise QueueError("not_found", "No such conflict case.")
            await decide_locked(
                session,
                row,
                approve=approve,
                actor=operator.actor,
                reason=reason,
                now=now,
                reason_code=reason_code,
            )
    CONFLICTS_DECIDED.labels(by="ops", outcome="approved" if approve else "rejected").inc()
    return await get_case(ctx, case_id)


async def decide_locked(
    session: Session,
    row: Row,
    *,
    approve: str | None,
    actor: str,
    reason: str,
    now: datetime,
    reason_code: str | None = None,
) -> DecisionPlan:
    """Decide a case whose row the caller locked: validate ops' choice, change the claims
    and protection, close the case and record it in its history."""
    if row["state"] != "open":
        raise QueueError("conflict", "The case is already decided.")
    if row["reason_code"] == ENCROACHMENT:
        raise QueueError(
            "conflict",
            "A DIRECT_ENCROACHMENT case approves no registration: resolve it "
            "(POST /v1/conflicts/{id}/resolution).",
        )
    if row["reason_code"] == EXTENSION_REVIEW:
        return await _decide_extension(
            session, row, approve=approve, actor=actor, reason=reason, now=now
        )
    competing = competing_of(row)
    claim_rows = await store.claims_by_id(session, [row["registration_id"], *competing])
    plan = plan_decision(
        case_registration_id=row["registration_id"],
        competing_ids=competing,
        statuses={rid: claim["status"] for rid, claim in claim_rows.items()},
        approve=approve,
    )
    if row["registration_id"] not in claim_rows:
        raise QueueError("conflict", "The case's registration is unknown to the resolver.")
    try:
        if plan.approve is not None:
            await review.approve_reviewed(session, plan.approve, competing, actor=actor, now=now)
        if plan.reject is not None:
            await review.reject_reviewed(
                session,
                plan.reject,
                kept=plan.kept,
                actor=actor,
                now=now,
                reason_code=reason_code if plan.reject == row["registration_id"] else None,
            )
    except ProtectionConflictError as refused:
        raise QueueError("conflict", str(refused)) from refused
    if not await store.close_case(
        session,
        row["id"],
        decided_at=now,
        decided_by=actor,
        reason=reason,
        approved_registration_id=plan.approve or plan.kept,
    ):
        raise QueueError("conflict", "The case is already decided.")
    await store.add_history(
        session,
        row["id"],
        at=now,
        action="decided",
        actor=actor,
        reason=reason,
        detail={
            "approved": plan.approve,
            "kept": plan.kept,
            "rejected": plan.reject,
            "reason_code": reason_code,
        },
    )
    case_claim = claim_rows[row["registration_id"]]
    customer = (case_claim["submitted"] or {}).get("customer")
    await record_match_decisions(session, row, plan, customer=customer, actor=actor, now=now)
    mode = "policy" if actor == SLA_ACTOR else "manual"
    TIME_TO_DECISION.labels(mode=mode).observe(max((now - row["opened_at"]).total_seconds(), 0.0))
    return plan


async def record_match_decisions(
    session: Session,
    row: Row,
    plan: DecisionPlan,
    *,
    customer: dict[str, Any] | None,
    actor: str,
    now: datetime,
) -> None:
    """A person's decision on a possible duplicate, as labelled pairs (``labelled_pairs``);
    the SLA policy's default says nothing about matching. The replay derives them again from
    the decision's history line (``conflict_resolver.replay``)."""
    if actor == SLA_ACTOR:
        return
    pairs = labelled_pairs(
        case_registration_id=row["registration_id"],
        reason_code=row["reason_code"],
        evidence=row["evidence"] or {},
        competing_ids=competing_of(row),
        plan=plan,
        customer=customer,
    )
    await store.add_match_decisions(session, row["id"], pairs, decided_by=actor, decided_at=now)


async def _decide_extension(
    session: Session, row: Row, *, approve: str | None, actor: str, reason: str, now: datetime
) -> DecisionPlan:
    """An extension request the policy sent to review: approving its registration grants the
    extension, approving none refuses it."""
    registration_id = row["registration_id"]
    if approve not in (None, registration_id):
        raise QueueError("invalid", "Approve the case's own registration, or none.")
    grant = approve is not None
    await review.answer_extension(session, registration_id, grant=grant, actor=actor, now=now)
    if not await store.close_case(
        session,
        row["id"],
        decided_at=now,
        decided_by=actor,
        reason=reason,
        approved_registration_id=approve,
    ):
        raise QueueError("conflict", "The case is already decided.")
    await store.add_history(
        session,
        row["id"],
        at=now,
        action="decided",
        actor=actor,
        reason=reason,
        detail={"extension": "granted" if grant else "refused"},
    )
    return DecisionPlan(approve=approve, reject=None if grant else registration_id, kept=None)
