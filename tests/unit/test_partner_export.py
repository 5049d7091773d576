"""The partner export's wire formats: JSON lines or CSV, and the cursor for the next call."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

from deal_registration.api.export import render_export

AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
CREDIT = {
    "registration_id": "r1",
    "partner_id": "p1",
    "role": "sourced",
    "share": Decimal("1.000000"),
    "amount_value": Decimal("130000.00"),
    "amount_currency": "USD",
    "model": "sourced_only",
    "attributed_at": AT,
    "updated_at": AT,
}


def test_json_lines_one_row_a_line_with_the_last_change_as_cursor() -> None:
    later = {**CREDIT, "registration_id": "r2", "updated_at": AT.replace(hour=10)}
    body, cursor = render_export("attributions", [CREDIT, later], "jsonl")
    rows = [json.loads(line) for line in body.splitlines()]
    assert [row["registration_id"] for row in rows] == ["r1", "r2"]
    assert rows[0]["amount_value"] == "130000.00"
    assert "partner_id" not in rows[0]  # the partner's own rows: its id says nothing
    assert cursor == "2026-12-01T10:30:00+00:00"


def test_csv_has_a_header_and_no_rows_gives_an_empty_body_and_no_cursor() -> None:
    body, _ = render_export("attributions", [CREDIT], "csv")
    (row,) = list(csv.DictReader(io.StringIO(body)))
    assert (row["role"], row["share"], row["attributed_at"]) == (
        "sourced",
        "1.000000",
        "2026-12-01T09:30:00+00:00",
    )
    assert render_export("attributions", [], "csv") == ("", None)
    assert render_export("history", [], "jsonl") == ("", None)
