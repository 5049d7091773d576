"""The review SLA: a case past its due time is escalated, or decided by the policy in force
(``sla_auto_decision``) through the same decision as a person's."""

from __future__ import annotations

from datetime import datetime

from conflict_resolver.adapters.outcomes import emit
from conflict_resolver.domain.encroachment import REASON_CODE as ENCROACHMENT
from conflict_resolver.domain.protection import EXTENSION_REVIEW, Cause
from conflict_resolver.handlers import review
from conflict_resolver.queue import store
from conflict_resolver.queue.domain import SLA_REASON
from conflict_resolver.queue.handlers.context import SLA_ACTOR, QueueContext
from conflict_resolver.queue.handlers.deciding import decide_locked
from conflict_resolver.queue.handlers.reading import competing_of
from conflict_resolver.queue.metrics import CONFLICTS_DECIDED, CONFLICTS_ESCALATED
from schemas.registration import ConflictEscalated
from services.clock import new_id


async def escalate_due(ctx: QueueContext, *, batch: int = 100) -> int:
    """Escalate (or, if the policy says so, decide) every open case past its due time."""
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        due = await store.due_case_ids(session, now=now, limit=batch)
    handled = 0
    for case_id in due:
        handled += await _escalate_one(ctx, case_id, now=now)
    return handled


async def _escalate_one(ctx: QueueContext, case_id: str, *, now: datetime) -> int:
    async with ctx.transactions.transaction() as session:
        row = await store.get_case(session, case_id, lock=True)
        if row is None or row["state"] != "open" or row["escalated_at"] is not None:
            return 0
        # The policy in force (sla_auto_decision) may decide instead of escalating; an
        # encroachment case approves no registration, so it is only ever escalated; an
        # extension request in review is always left to a person.
        at_deadline = (
            None
            if row["reason_code"] in (ENCROACHMENT, EXTENSION_REVIEW)
            else await review.deadline_decision(
                session,
                registration_id=row["registration_id"],
                account_key=row["account_key"],
                product_line=row["product_line"],
                competing_registration_ids=competing_of(row),
                now=now,
            )
        )
        if at_deadline is not None:
            approve = row["registration_id"] if at_deadline.approve else None
            await decide_locked(
                session,
                row,
                approve=approve,
                actor=SLA_ACTOR,
                reason=f"{SLA_REASON} {at_deadline.reason}",
                now=now,
            )
            outcome = "approved" if at_deadline.approve else "rejected"
            CONFLICTS_DECIDED.labels(by="policy", outcome=outcome).inc()
            return 1
        if not await store.mark_escalated(session, case_id, at=now):
            return 0
        await store.add_history(
            session,
            case_id,
            at=now,
            action="escalated",
            actor=SLA_ACTOR,
            reason=f"Past its due time ({row['due_at'].isoformat()}) undecided.",
        )
        claim = (await store.claims_by_id(session, [row["registration_id"]])).get(
            row["registration_id"]
        )
        event = ConflictEscalated(
            conflict_id=case_id,
            registration_id=row["registration_id"],
            account_key=row["account_key"],
            product_line=row["product_line"],
            due_at=row["due_at"],
            escalated_at=now,
        )
        await emit(
            session,
            event,
            registration_id=row["registration_id"],
            partition_key=row["account_key"],
            cause=Cause(None, claim["correlation_id"] if claim else new_id()),
            now=now,
        )
    CONFLICTS_ESCALATED.inc()
    return 1
