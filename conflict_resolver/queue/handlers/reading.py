"""Reading the queue: pages of cases and one case with its claims and history, as views."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from conflict_resolver.adapters.session import Row, Session
from conflict_resolver.domain.encroachment import REASON_CODE as ENCROACHMENT
from conflict_resolver.queue import store
from conflict_resolver.queue.domain import (
    CaseFilters,
    Cursor,
    QueueError,
    SortKey,
    decode_cursor,
    encode_cursor,
)
from conflict_resolver.queue.handlers.context import QueueContext


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
    session: Session, rows: list[Row], *, now: datetime, with_history: bool
) -> list[dict[str, Any]]:
    ids = [rid for row in rows for rid in [row["registration_id"], *competing_of(row)]]
    claim_rows = await store.claims_by_id(session, ids)
    owners = await store.operator_names(
        session, [row["owner"] for row in rows if row["owner"]] + [_decider(row) for row in rows]
    )
    views = []
    for row in rows:
        history = await store.history_of(session, row["id"]) if with_history else None
        views.append(_case_view(row, claim_rows, owners, history, now=now))
    return views


def competing_of(row: Row) -> list[str]:
    return [str(rid) for rid in (row["competing_registration_ids"] or [])]


def _decider(row: Row) -> str:
    by = str(row["decided_by"] or "")
    return by.removeprefix("ops:")


def _case_view(
    row: Row,
    claim_rows: dict[str, Row],
    owners: dict[str, str],
    history: list[Row] | None,
    *,
    now: datetime,
) -> dict[str, Any]:
    evidence = dict(row["evidence"] or {})
    matches = {m.get("registration_id"): m for m in evidence.get("matches") or []}
    claim_ids = [row["registration_id"], *competing_of(row)]
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
    if row.get("resolution") is not None or row["reason_code"] == ENCROACHMENT:
        view["resolution"] = row.get("resolution")
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


def claims_amount(claim: Row | None) -> dict[str, Any] | None:
    if claim is None:
        return None
    amount = (claim["submitted"] or {}).get("amount")
    return dict(amount) if amount else None


def _claim_view(
    registration_id: str,
    claim: Row | None,
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
