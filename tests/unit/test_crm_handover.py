"""crm_sync's handover rule, pure: a transfer moves the opportunity, not the sales fields."""

from __future__ import annotations

from datetime import UTC, datetime

from crm_sync.domain.handover import Opportunity, adopted, known_by_another_key

WRITTEN = {"registration_id": "old", "partner_id": "p1", "registration_status": "approved"}
AT = datetime(2026, 12, 2, tzinfo=UTC)


def test_the_new_holder_adopts_the_opportunity_and_what_was_last_written_to_it() -> None:
    opportunity = Opportunity("hubspot", "crm-1", WRITTEN, {"stage": "proposal"}, AT, AT)
    assert adopted(opportunity) == {
        "crm_system": "hubspot",
        "crm_opportunity_id": "crm-1",
        "last_written": WRITTEN,
        "applied": {"stage": "proposal"},
        "applied_modified_at": AT,
        "written_modified_at": AT,
    }


def test_an_opportunity_never_created_is_not_adopted() -> None:
    assert adopted(Opportunity(None, None, None, None, None, None)) == {}


def test_the_write_goes_by_the_crm_id_only_until_the_opportunity_carries_the_new_id() -> None:
    assert known_by_another_key("new", "crm-1", WRITTEN)
    assert not known_by_another_key("old", "crm-1", WRITTEN)
    assert not known_by_another_key("new", None, WRITTEN)
    assert not known_by_another_key("new", "crm-1", None)
