"""The numbers sales ops ask for."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from conflict_resolver.adapters import policy_store
from conflict_resolver.adapters.session import Row
from conflict_resolver.queue import store
from conflict_resolver.queue.domain import (
    PIPELINE_STATUSES,
    CaseFact,
    ClaimFact,
    amount_of,
    compute_stats,
    pipeline_entries,
)
from conflict_resolver.queue.handlers.context import SLA_ACTOR, QueueContext


async def stats(ctx: QueueContext, *, days: int | None) -> dict[str, Any]:
    """The numbers sales ops ask for, computed from the claims and cases the events recorded."""
    now = ctx.clock.now()
    since = now - timedelta(days=days) if days else None
    async with ctx.transactions.transaction() as session:
        claim_rows = await store.all_claims(session, since=since)
        case_rows = await store.all_cases(session, since=since)
        policy = await policy_store.current_policy(session, now=now)
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
    numbers = compute_stats(claim_facts, case_facts, now=now, policy=policy)
    return {"since": since, "generated_at": now, **numbers}


async def gauge_numbers(ctx: QueueContext, *, days: int) -> dict[str, Any]:
    """What the queue gauges show, the same numbers as ``stats`` has for them, counted and
    summed in the database: the refresh every few seconds costs a row per status, currency
    and reason code, not one per claim of the window (issue 12, goal 5)."""
    now = ctx.clock.now()
    since = now - timedelta(days=days)
    async with ctx.transactions.transaction() as session:
        by_status = await store.claims_by_status(session, since=since)
        pipeline = await store.pipeline_sums(session, since=since, statuses=PIPELINE_STATUSES)
        cases = await store.case_counts(session, since=since, now=now)
        by_reason = await store.cases_by_reason(session, since=since)
    oldest = cases["oldest_opened_at"]
    return {
        "generated_at": now,
        "registrations_by_status": dict(sorted(by_status.items())),
        "partner_sourced_pipeline": pipeline_entries(pipeline),
        "queue": {
            "open": int(cases["open"]),
            "overdue": int(cases["overdue"]),
            "oldest_age_seconds": (
                round((now - oldest).total_seconds(), 3) if oldest is not None else None
            ),
        },
        "sla_breaches": int(cases["sla_breaches"]),
        "conflicts_by_reason": dict(sorted(by_reason.items())),
    }


def _claim_fact(row: Row, *, decided_by_ops: bool, now: datetime) -> ClaimFact:
    # Of the submitted event, only what ``store.all_claims`` reads of it.
    submitted = {"amount": row["amount"]}
    partner = row["partner"] or {}
    submitted_at = row["submitted_at"]
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
