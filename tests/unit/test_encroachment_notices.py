"""What a holder's view says when direct sales encroaches and when ops resolve it: a history
step (and so a webhook) of its own, the status unchanged, no one named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from deal_registration.domain.encroachment import change_for_encroachment
from deal_registration.domain.lifecycle import Current, Status
from schemas.encroachment import DirectEncroachmentRaised, DirectEncroachmentResolved

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
UNTIL = NOW + timedelta(days=60)
RAISED = DirectEncroachmentRaised(
    conflict_id="c-1",
    registration_id="r-1",
    account_key="n:acme|US",
    product_line="network-security",
    crm_system="hubspot",
    opportunity_id="9001",
    protection_expires_at=UNTIL,
    crm_note="partner-protected until 2027-01-31",
    partner_reason="The vendor's sales team opened an opportunity on this account.",
    raised_at=NOW,
)
RESOLVED = DirectEncroachmentResolved(
    conflict_id="c-1",
    registration_id="r-1",
    account_key="n:acme|US",
    product_line="network-security",
    crm_system="hubspot",
    opportunity_id="9001",
    resolution="partner_keeps",
    partner_reason="Your protection stands.",
    decided_by="ops:u-1",
    resolved_at=NOW,
)


def test_an_encroachment_is_a_step_of_an_approved_registration_s_history() -> None:
    change = change_for_encroachment(RAISED, Current(Status.APPROVED), now=NOW)
    assert change is not None
    assert "status" not in change.updates
    assert change.entry is not None
    assert change.entry.status is Status.APPROVED
    assert change.entry.reason_code == "DIRECT_ENCROACHMENT"
    assert change.entry.reason == RAISED.partner_reason
    assert change.entry.webhook_type == "registration.direct_encroachment"


def test_its_resolution_is_a_step_too() -> None:
    change = change_for_encroachment(RESOLVED, Current(Status.APPROVED), now=NOW)
    assert change is not None
    assert change.entry is not None
    assert change.entry.reason_code == "DIRECT_ENCROACHMENT_RESOLVED"
    assert change.entry.webhook_type == "registration.direct_encroachment_resolved"


def test_a_registration_no_longer_approved_is_not_told() -> None:
    assert change_for_encroachment(RAISED, Current(Status.WON), now=NOW) is None
