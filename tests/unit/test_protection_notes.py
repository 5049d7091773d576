"""crm_sync's protection note on a direct deal: written to the CRM the deal is in, a refusal for
good dead-letters the event (a retry cannot help), no CRM configured writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm_sync.ports import CrmRejectedError
from crm_sync.protection_notes import ProtectionNotes
from schemas.encroachment import DirectEncroachmentRaised
from services.kafka.consumer import PoisonEventError

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
RAISED = DirectEncroachmentRaised(
    conflict_id="c-1",
    registration_id="r-1",
    account_key="n:acme|US",
    product_line="network-security",
    crm_system="hubspot",
    opportunity_id="9001",
    protection_expires_at=NOW,
    crm_note="partner-protected until 2026-12-02",
    partner_reason="The vendor's sales team opened an opportunity on this account.",
    raised_at=NOW,
)


class FakeConnector:
    def __init__(self, system: str, *, refuse: bool = False) -> None:
        self.system = system
        self.refuse = refuse
        self.notes: list[tuple[str, str]] = []

    async def note_protection(self, crm_id: str, note: str) -> None:
        if self.refuse:
            raise CrmRejectedError("404 OBJECT_NOT_FOUND")
        self.notes.append((crm_id, note))


def notes_for(connector: FakeConnector | None) -> ProtectionNotes:
    return ProtectionNotes(connector)  # type: ignore[arg-type]


async def test_the_note_is_written_onto_the_direct_deal() -> None:
    connector = FakeConnector("hubspot")
    await notes_for(connector).write_note(RAISED, event=None)  # type: ignore[arg-type]
    assert connector.notes == [("9001", "partner-protected until 2026-12-02")]


async def test_a_deal_of_another_crm_or_no_crm_is_left_alone() -> None:
    other = FakeConnector("salesforce")
    await notes_for(other).write_note(RAISED, event=None)  # type: ignore[arg-type]
    await notes_for(None).write_note(RAISED, event=None)  # type: ignore[arg-type]
    assert other.notes == []


async def test_a_crm_refusing_the_note_for_good_dead_letters_the_event() -> None:
    with pytest.raises(PoisonEventError):
        await notes_for(FakeConnector("hubspot", refuse=True)).write_note(
            RAISED,
            event=None,  # type: ignore[arg-type]
        )
