"""The partner export's wire formats: JSON lines or CSV, one flat row per line, and the
cursor (the last row's change time) to send as ``updated_since`` next time."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from deal_registration.domain.lifecycle import actor_for_partner
from deal_registration.handlers import Row

EXPORT_FORMATS = {"jsonl": "application/x-ndjson", "csv": "text/csv"}


def _registration(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "status": row["status"],
        "reason_code": row["reason_code"],
        "reason": row["reason"],
        "customer_name": row["customer_name"],
        "customer_domain": row["customer_domain"],
        "customer_country": row["customer_country"],
        "product_line": row["product_line"],
        "deal_type": row["deal_type"],
        "amount_value": row["amount_value"],
        "amount_currency": row["amount_currency"],
        "expected_close_date": row["expected_close_date"],
        "partner_reference": row["partner_reference"],
        "submitted_at": row["submitted_at"],
        "decided_at": row["decided_at"],
        "protection_expires_at": row["protection_expires_at"],
        "crm_opportunity_id": row["crm_opportunity_id"],
        "crm_stage": row["crm_stage"],
        "updated_at": row["updated_at"],
    }


def _history(row: Row) -> dict[str, Any]:
    return {
        "registration_id": row["registration_id"],
        "status": row["status"],
        "reason_code": row["reason_code"],
        "reason": row["reason"],
        "actor": actor_for_partner(row["actor"]),
        "at": row["at"],
        "recorded_at": row["changed_at"],
    }


_OUTCOME_COLUMNS = (
    "registration_id",
    "product_line",
    "amount_value",
    "amount_currency",
    "submitted_at",
    "approved_at",
    "rejected_at",
    "review_at",
    "waitlisted",
    "protection_expires_at",
    "won_at",
    "lost_at",
    "expired_at",
    "withdrawn_at",
    "left_waitlist_at",
    "transferred_at",
    "updated_at",
)
_CREDIT_COLUMNS = (
    "registration_id",
    "role",
    "share",
    "amount_value",
    "amount_currency",
    "model",
    "attributed_at",
    "updated_at",
)


def _pick(columns: Sequence[str]) -> Callable[[Row], dict[str, Any]]:
    return lambda row: {column: row[column] for column in columns}


_SHAPES: dict[str, tuple[Callable[[Row], dict[str, Any]], str]] = {
    "registrations": (_registration, "updated_at"),
    "history": (_history, "recorded_at"),
    "outcomes": (_pick(_OUTCOME_COLUMNS), "updated_at"),
    "attributions": (_pick(_CREDIT_COLUMNS), "updated_at"),
}


def _text(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def render_export(dataset: str, rows: Sequence[Row], chosen: str) -> tuple[str, str | None]:
    """The body in ``chosen`` format and the cursor for the next call (None: no rows)."""
    shape, changed = _SHAPES[dataset]
    flat = [{key: _text(value) for key, value in shape(row).items()} for row in rows]
    cursor = flat[-1][changed] if flat else None
    if chosen == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(shape(rows[0])) if rows else [])
        if rows:
            writer.writeheader()
            writer.writerows(flat)
        return out.getvalue(), cursor
    return "".join(json.dumps(item) + "\n" for item in flat), cursor
