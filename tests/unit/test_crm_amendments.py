"""A partner's amendment of an approved registration's sales fields, as crm_sync carries it
to the CRM: once, alongside the owned fields, never as a field the CRM's changes overwrite."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from crm_sync.domain.amendments import SalesAmendment, pending_amendment, with_amendment
from crm_sync.domain.rules import outbound_changes

AT = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
AMENDED = SalesAmendment(
    amount=Decimal("150000.00"), currency="USD", close_date=date(2027, 4, 30), amended_at=AT
)


def test_an_amendment_is_sent_once_and_is_not_an_owned_field() -> None:
    desired = with_amendment({"registration_status": "approved"}, AMENDED)
    assert pending_amendment(desired, last_written={"registration_status": "approved"}) == AMENDED
    assert pending_amendment(desired, last_written=desired) is None
    assert outbound_changes(desired, {"registration_status": "approved"}) == {}


def test_a_later_amendment_replaces_an_unsent_one() -> None:
    first = with_amendment({}, AMENDED)
    later = SalesAmendment(
        amount=Decimal(1), currency="EUR", close_date=date(2027, 5, 1), amended_at=AT
    )
    assert pending_amendment(with_amendment(first, later), last_written=None) == later
