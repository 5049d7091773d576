"""The numbers sales ops ask for."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from conflict_resolver.adapters.session import Row
from conflict_resolver.queue import store
from conflict_resolver.queue.domain import CaseFact, ClaimFact, amount_of, compute_stats
from conflict_resolver.queue.handlers.context import SLA_ACTOR, QueueContext


async def stats(ctx: QueueContext, *, days: int | None) -> dict[str, Any]:
    """The numbers sales ops ask for, computed from the claims and cases the events recorded."""
    now = ctx.clock.now()
    since = now - timedelta(days=days) if days else None
    async with ctx.transactions.transaction() as session:
        claim_rows = await store.all_claims(session, since=since)
        case_rows = await store.all_cases(session, since=since)
    manual = {
        row["registration_id"]
        for row in case_rows
        if row["state"] == "decided" and str(row["decided_by"] or "") != SLA_ACTOR
    } | {
        str(row["approved_registration_id"])
        for row in case_rows
        if row["approved_registration_id"] and str(row["decided_by"] or "") != SLA_ACTOR
    }
    claim_facts = [
        _claim_fact(row, decided_by_ops=row["registration_id"] in manual, now=now)
        for row in claim_rows
    ]
    case_facts = [
        CaseFact(
            reason_code=row["reason_code"],
            state=row["state"],
            opened_at=row["opened_at"],
            due_at=row["due_at"],
            escalated_at=row["escalated_at"],
            decided_at=row["decided_at"],
        )
        for row in case_rows
    ]
    numbers = compute_stats(claim_facts, case_facts, now=now)
    return {"since": since, "generated_at": now, **numbers}


def _claim_fact(row: Row, *, decided_by_ops: bool, now: datetime) -> ClaimFact:
    submitted = dict(row["submitted"] or {})
    partner = submitted.get("partner") or {}
    submitted_at = submitted.get("submitted_at")
    return ClaimFact(
        registration_id=row["registration_id"],
        partner_id=row["partner_id"],
        partner_name=str(partner.get("name") or ""),
        status=row["status"],
        reason_code=row["reason_code"],
        submitted_at=datetime.fromisoformat(submitted_at) if submitted_at else now,
        decided_at=row["decided_at"],
        amount=amount_of(submitted),
        currency=str((submitted.get("amount") or {}).get("currency") or ""),
        decided_by_ops=decided_by_ops,
    )
