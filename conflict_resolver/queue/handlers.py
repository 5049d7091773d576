"""The queue's use cases, each one transaction: state change, history and outbox events together.

Deciding a case is the one place a human changes protection. It locks the case (``SELECT ...
FOR UPDATE`` on PostgreSQL; SQLite transactions are serialised by ``BEGIN IMMEDIATE``), closes it
with ``UPDATE ... WHERE state = 'open'`` (of two concurrent deciders exactly one changes a row),
and writes the protection into ``protections``, whose primary key refuses a second live one.
The events leave through the outbox, exactly like an automatic decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from conflict_resolver import handlers as resolver_handlers
from conflict_resolver.adapters import policy_store
from conflict_resolver.adapters.tables import outbox
from conflict_resolver.domain.policy import Policy
from conflict_resolver.queue import store
from conflict_resolver.queue.auth import Operator
from conflict_resolver.queue.domain import (
    PARTNER_SENTENCE_APPROVED,
    PARTNER_SENTENCE_REJECTED,
    REVIEW_REJECTED,
    SLA_REASON,
    CaseFact,
    CaseFilters,
    ClaimFact,
    Cursor,
    DecisionPlan,
    QueueError,
    SortKey,
    amount_of,
    compute_stats,
    decode_cursor,
    encode_cursor,
    plan_decision,
    protection_blocks,
)
from conflict_resolver.queue.metrics import CONFLICTS_DECIDED, CONFLICTS_ESCALATED, TIME_TO_DECISION
from schemas.envelope import EventEnvelope, EventPayload, new_envelope
from schemas.registration import (
    ConflictEscalated,
    RegistrationApproved,
    RegistrationRejected,
    RegistrationSummary,
)
from services.clock import Clock, new_id
from services.outbox import stage_events
from services.uow import TransactionRunner

SOURCE = "/dealreg/conflict_resolver/queue"
PRINCIPALS_CONSUMER = "conflict_resolver.principals"
SLA_ACTOR = "policy:sla"


@dataclass(frozen=True)
class QueueContext:
    transactions: TransactionRunner
    clock: Clock
    policy: Policy
    admin_token: str


# --- Reading --------------------------------------------------------------------------------


async def list_cases(
    ctx: QueueContext,
    filters: CaseFilters,
    *,
    sort: SortKey,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of cases and the cursor of the next (None on the last page)."""
    after = decode_cursor(cursor, sort) if cursor else None
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        rows = await store.list_cases(
            session, filters, sort=sort, after=after, limit=limit + 1, now=now
        )
        page = rows[:limit]
        views = await _views(session, page, now=now, with_history=False)
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        if sort == "amount":
            value = repr(float(last["amount"]))
        else:
            value = last["due_at" if sort == "due" else "opened_at"].isoformat()
        next_cursor = encode_cursor(Cursor(sort=sort, value=value, case_id=last["id"]))
    return views, next_cursor


async def get_case(ctx: QueueContext, case_id: str) -> dict[str, Any]:
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        row = await store.get_case(session, case_id)
        if row is None:
            raise QueueError("not_found", "No such conflict case.")
        return (await _views(session, [row], now=now, with_history=True))[0]


async def _views(
    session: AsyncSession, rows: list[RowMapping], *, now: datetime, with_history: bool
) -> list[dict[str, Any]]:
    ids = [rid for row in rows for rid in [row["registration_id"], *_competing(row)]]
    claim_rows = await store.claims_by_id(session, ids)
    owners = await store.operator_names(
        session, [row["owner"] for row in rows if row["owner"]] + [_decider(row) for row in rows]
    )
    views = []
    for row in rows:
        history = await store.history_of(session, row["id"]) if with_history else None
        views.append(_case_view(row, claim_rows, owners, history, now=now))
    return views


def _competing(row: RowMapping) -> list[str]:
    return [str(rid) for rid in (row["competing_registration_ids"] or [])]


def _decider(row: RowMapping) -> str:
    by = str(row["decided_by"] or "")
    return by.removeprefix("ops:")


def _case_view(
    row: RowMapping,
    claim_rows: dict[str, RowMapping],
    owners: dict[str, str],
    history: list[RowMapping] | None,
    *,
    now: datetime,
) -> dict[str, Any]:
    evidence = dict(row["evidence"] or {})
    matches = {m.get("registration_id"): m for m in evidence.get("matches") or []}
    claim_ids = [row["registration_id"], *_competing(row)]
    claims = [
        _claim_view(rid, claim_rows.get(rid), matches.get(rid), under_review=index == 0)
        for index, rid in enumerate(claim_ids)
    ]
    claims.sort(key=lambda claim: claim.get("submission_seq") or 0)
    view: dict[str, Any] = {
        "id": row["id"],
        "state": row["state"],
        "registration_id": row["registration_id"],
        "account_key": row["account_key"],
        "product_line": row["product_line"],
        "rule": row["rule"],
        "reason_code": row["reason_code"],
        "amount": claims_amount(claim_rows.get(row["registration_id"])),
        "claims": claims,
        "evidence": evidence,
        "owner": row["owner"],
        "owner_name": owners.get(row["owner"] or "", "admin" if row["owner"] == "admin" else None),
        "opened_at": row["opened_at"],
        "due_at": row["due_at"],
        "overdue": row["state"] == "open" and row["due_at"] <= now,
        "escalated_at": row["escalated_at"],
        "decided_at": row["decided_at"],
        "decided_by": row["decided_by"],
        "decided_by_name": owners.get(_decider(row)),
        "decision_reason": row["decision_reason"],
        "approved_registration_id": row["approved_registration_id"],
    }
    if history is not None:
        opened = {"at": row["opened_at"], "action": "opened", "actor": "rules", "reason": None}
        view["history"] = [opened] + [
            {
                "at": entry["at"],
                "action": entry["action"],
                "actor": entry["actor"],
                "reason": entry["reason"],
                "detail": entry["detail"],
            }
            for entry in history
        ]
    return view


def claims_amount(claim: RowMapping | None) -> dict[str, Any] | None:
    if claim is None:
        return None
    amount = (claim["submitted"] or {}).get("amount")
    return dict(amount) if amount else None


def _claim_view(
    registration_id: str,
    claim: RowMapping | None,
    match: dict[str, Any] | None,
    *,
    under_review: bool,
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "registration_id": registration_id,
        "role": "under_review" if under_review else "competing",
        "match": match,
    }
    if claim is None:
        return {**view, "status": "unknown"}
    submitted = dict(claim["submitted"] or {})
    partner = submitted.get("partner") or {}
    return {
        **view,
        "submission_seq": claim["submission_seq"],
        "status": claim["status"],
        "reason_code": claim["reason_code"],
        "partner": {
            "id": partner.get("id"),
            "name": partner.get("name"),
            "tier": partner.get("tier"),
        },
        "customer": submitted.get("customer"),
        "account_key": claim["account_key"],
        "product_line": claim["product_line"],
        "deal_type": submitted.get("deal_type"),
        "amount": submitted.get("amount"),
        "expected_close_date": submitted.get("expected_close_date"),
        "submitted_at": submitted.get("submitted_at"),
        "decided_at": claim["decided_at"],
        "protection_expires_at": claim["protection_expires_at"],
    }


# --- Assigning ------------------------------------------------------------------------------


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


# --- Deciding -------------------------------------------------------------------------------


async def decide(
    ctx: QueueContext, operator: Operator, case_id: str, *, approve: str | None, reason: str
) -> dict[str, Any]:
    """Approve one claim or none, with a reason; 409 if decided already or exclusivity says no."""
    now = ctx.clock.now()
    try:
        async with ctx.transactions.transaction() as session:
            row = await store.get_case(session, case_id, lock=True)
            if row is None:
                raise QueueError("not_found", "No such conflict case.")
            await _decide_locked(
                session, ctx, row, approve=approve, actor=operator.actor, reason=reason, now=now
            )
    except IntegrityError as error:
        # Another writer (the rules, or another instance) took the protection after our read.
        raise QueueError(
            "conflict", "Approving would break exclusivity: another claim now holds protection."
        ) from error
    CONFLICTS_DECIDED.labels(by="ops", outcome="approved" if approve else "rejected").inc()
    return await get_case(ctx, case_id)


async def _decide_locked(
    session: AsyncSession,
    ctx: QueueContext,
    row: RowMapping,
    *,
    approve: str | None,
    actor: str,
    reason: str,
    now: datetime,
) -> DecisionPlan:
    if row["state"] != "open":
        raise QueueError("conflict", "The case is already decided.")
    claim_rows = await store.claims_by_id(session, [row["registration_id"], *_competing(row)])
    plan = plan_decision(
        case_registration_id=row["registration_id"],
        competing_ids=_competing(row),
        statuses={rid: claim["status"] for rid, claim in claim_rows.items()},
        approve=approve,
    )
    subject = claim_rows.get(row["registration_id"])
    if subject is None:
        raise QueueError("conflict", "The case's registration is unknown to the resolver.")
    events: list[EventEnvelope[Any]] = []
    if plan.approve is not None:
        events.append(await _approve(session, ctx, subject, actor=actor, now=now))
    if plan.reject is not None:
        events.append(await _reject(session, ctx, subject, kept=plan.kept, actor=actor, now=now))
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
        detail={"approved": plan.approve, "kept": plan.kept, "rejected": plan.reject},
    )
    await _stage(session, events, now=now)
    mode = "policy" if actor == SLA_ACTOR else "manual"
    TIME_TO_DECISION.labels(mode=mode).observe(max((now - row["opened_at"]).total_seconds(), 0.0))
    return plan


async def _approve(
    session: AsyncSession, ctx: QueueContext, claim: RowMapping, *, actor: str, now: datetime
) -> EventEnvelope[Any]:
    # The key the rules chose to hold this account's protection under (a fuzzy match adopts
    # the existing claim's key), so the primary key of `protections` guards the same account.
    # Approving a POSSIBLE_DUPLICATE is ops saying the two are different companies.
    key = claim["protection_key"] or claim["account_key"]
    holder = await store.live_protection(session, key, claim["product_line"])
    if holder is not None:
        if protection_blocks(
            holder["registration_id"], holder["expires_at"], claim["registration_id"], now=now
        ):
            raise QueueError(
                "conflict",
                "Approving would break exclusivity: another registration holds live protection "
                f"on this account and product line until {holder['expires_at'].isoformat()}.",
            )
        # The holder's window has passed but the expiry job has not ended it yet.
        await store.end_protection(session, key, claim["product_line"])
    submitted = dict(claim["submitted"])
    partner = submitted["partner"]
    policy = await policy_store.current_policy(session, now=now)
    expires_at = now + policy.window_for(partner["tier"])
    await store.add_protection(
        session,
        account_key=key,
        product_line=claim["product_line"],
        registration_id=claim["registration_id"],
        partner_id=claim["partner_id"],
        expires_at=expires_at,
    )
    sentence = PARTNER_SENTENCE_APPROVED.format(date=expires_at.date().isoformat())
    await store.update_claim(
        session,
        claim["registration_id"],
        status="approved",
        rule="manual_review",
        reason_code=None,
        reason=sentence,
        decided_at=now,
        protection_expires_at=expires_at,
        policy_version=policy.version,
    )
    event = RegistrationApproved(
        registration_id=claim["registration_id"],
        account_key=claim["account_key"],
        product_line=claim["product_line"],
        decided_at=now,
        protection_expires_at=expires_at,
        policy_version=policy.version,
        rule="manual_review",
        reason=sentence,
        decided_by=actor,
        registration=RegistrationSummary(
            partner_id=partner["id"],
            partner_name=partner["name"],
            customer=submitted["customer"],
            product_line=claim["product_line"],
            deal_type=submitted["deal_type"],
            amount=submitted["amount"],
            expected_close_date=submitted["expected_close_date"],
            submitted_at=submitted["submitted_at"],
        ),
    )
    return _envelope(event, claim, now=now)


async def _reject(
    session: AsyncSession,
    ctx: QueueContext,
    claim: RowMapping,
    *,
    kept: str | None,
    actor: str,
    now: datetime,
) -> EventEnvelope[Any]:
    policy = await policy_store.current_policy(session, now=now)
    await store.update_claim(
        session,
        claim["registration_id"],
        status="rejected",
        rule="manual_review",
        reason_code=REVIEW_REJECTED,
        reason=PARTNER_SENTENCE_REJECTED,
        decided_at=now,
        policy_version=policy.version,
    )
    event = RegistrationRejected(
        registration_id=claim["registration_id"],
        account_key=claim["account_key"],
        product_line=claim["product_line"],
        decided_at=now,
        policy_version=policy.version,
        rule="manual_review",
        reason_code=REVIEW_REJECTED,
        reason=PARTNER_SENTENCE_REJECTED,
        blocking_registration_id=kept,
        decided_by=actor,
    )
    return _envelope(event, claim, now=now)


def _envelope(payload: EventPayload, claim: RowMapping, *, now: datetime) -> EventEnvelope[Any]:
    return new_envelope(
        payload,
        event_id=new_id(),
        source=SOURCE,
        subject=claim["registration_id"],
        time=now,
        correlation_id=claim["correlation_id"],
        causation_id=None,
        partition_key=claim["account_key"],
    )


async def _stage(session: AsyncSession, events: list[EventEnvelope[Any]], *, now: datetime) -> None:
    await stage_events(session, outbox, events, now=now)


# --- The SLA --------------------------------------------------------------------------------


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
        # The policy in force (sla_auto_decision) may decide instead of escalating.
        at_deadline = await resolver_handlers.deadline_decision(
            session,
            registration_id=row["registration_id"],
            account_key=row["account_key"],
            product_line=row["product_line"],
            competing_registration_ids=list(row["competing_registration_ids"]),
            now=now,
        )
        if at_deadline is not None:
            approve = row["registration_id"] if at_deadline.approve else None
            await _decide_locked(
                session,
                ctx,
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
        envelope = new_envelope(
            event,
            event_id=new_id(),
            source=SOURCE,
            subject=row["registration_id"],
            time=now,
            correlation_id=claim["correlation_id"] if claim else new_id(),
            causation_id=None,
            partition_key=row["account_key"],
        )
        await _stage(session, [envelope], now=now)
    CONFLICTS_ESCALATED.inc()
    return 1


# --- Numbers --------------------------------------------------------------------------------


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


def _claim_fact(row: RowMapping, *, decided_by_ops: bool, now: datetime) -> ClaimFact:
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
