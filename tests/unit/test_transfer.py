"""Protection transfer (issue 15, item 5), pure: what moving a live protection does to both
claims, the protections table, the keys, the case and the events."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from conflict_resolver.domain import protection
from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.protection import ProtectionConflictError
from crm_sync.domain.lifecycle import merged_status
from crm_sync.handlers import lifecycle_note
from deal_registration.domain import lifecycle
from schemas.registration import ProtectionTransferred, RegistrationApproved
from tests.unit.test_protection import NOW, claim, event_types

POLICY = Policy()
NOTE = "The earlier registration was accepted first."
HOLDER = claim("r-late", 9, holds_until=NOW + timedelta(days=60))
EARLIER = claim("r-early", 4, status="pending_review")


def values_of(outcome: protection.Outcome, rid: str) -> dict[str, Any]:
    return {
        key: value
        for update in outcome.claim_updates
        if update.registration_id == rid
        for key, value in update.values.items()
    }


def move(source: Any = HOLDER, target: Any = EARLIER, **changes: Any) -> protection.Outcome:
    arguments: dict[str, Any] = {
        "reason": "first_to_register_conflict",
        "note": NOTE,
        "actor": "ops:u1",
        "now": NOW,
        **changes,
    }
    return protection.transfer(source, target, POLICY, **arguments)


def test_a_transfer_ends_the_old_protection_and_starts_the_new_in_one_outcome() -> None:
    outcome = move()
    assert values_of(outcome, "r-late")["status"] == "transferred"
    assert values_of(outcome, "r-early")["status"] == "approved"
    assert outcome.protection_deletes == ("r-late",)
    (write,) = outcome.protection_writes
    assert (write.registration_id, write.account_key) == ("r-early", "d:acme.com")
    assert write.expires_at == NOW + POLICY.window_for("silver", "network-security")
    assert outcome.waitlists_to_move == ()  # the target takes it; nobody else moves up
    assert [k.registration_id for k in outcome.key_filings] == ["r-late"]
    assert event_types(outcome) == ["ProtectionTransferred", "RegistrationApproved"]


def test_both_partners_are_told_without_naming_the_other() -> None:
    outcome = move()
    away, approved = (emission.payload for emission in outcome.events)
    assert isinstance(away, ProtectionTransferred)
    assert isinstance(approved, RegistrationApproved)
    assert (approved.reason_code, approved.decided_by) == ("PROTECTION_TRANSFERRED", "ops:u1")
    assert away.transfer_reason == "first_to_register_conflict"
    assert away.decided_by == "ops:u1"
    for text in (away.reason, approved.reason):
        assert "r-late" not in text
        assert "r-early" not in text
        assert "Partner" not in text
    assert away.to_registration_id == "r-early"  # ops and the CRM read it; partners do not


def test_the_transfer_tells_what_a_replay_needs_to_write_it_again() -> None:
    """The note closes the target's case and the policy gave its window: both on the event
    (``dealreg replay conflict_resolver`` applies it from them); earlier events lack them."""
    away = next(e.payload for e in move().events if isinstance(e.payload, ProtectionTransferred))
    assert (away.note, away.policy_version) == (NOTE, POLICY.version)
    told_before = away.model_dump(mode="json", exclude={"note", "policy_version"})
    assert ProtectionTransferred.model_validate(told_before).note is None


def test_a_transfer_closes_the_target_s_open_case() -> None:
    outcome = move()
    assert [c.registration_id for c in outcome.cases_to_close] == ["r-early"]


@pytest.mark.parametrize(
    ("source", "target", "why"),
    [
        (claim("r-old", 1, holds_until=NOW - timedelta(seconds=1)), EARLIER, "live protection"),
        (claim("r-old", 1, status="expired"), EARLIER, "live protection"),
        (HOLDER, claim("r-won", 2, status="won"), "cannot receive"),
        (HOLDER, HOLDER, "itself"),
    ],
)
def test_a_transfer_needs_a_live_source_and_a_waiting_target(
    source: Any, target: Any, why: str
) -> None:
    with pytest.raises(ProtectionConflictError, match=why):
        move(source, target)


def test_a_transfer_stays_on_one_account_and_product_line() -> None:
    elsewhere = protection.Claim(
        submitted=EARLIER.submitted,
        status="pending_review",
        protection_key="d:globex.com",
        correlation_id="c",
    )
    with pytest.raises(ProtectionConflictError, match="same customer"):
        move(HOLDER, elsewhere)


def test_a_waitlisted_registration_may_receive_a_protection() -> None:
    waiting = claim("r-wait", 3, status="rejected", waitlisted=True)
    outcome = move(target=waiting, reason="customer_request")
    assert values_of(outcome, "r-wait")["waitlisted"] is False
    assert outcome.cases_to_close == ()


# --- What the partners see (deal_registration) ---------------------------------------------------


def test_the_old_holder_reads_transferred_and_is_not_told_who_has_it_now() -> None:
    outcome = move()
    away = outcome.events[0].payload
    current = lifecycle.Current(status=lifecycle.Status.APPROVED)
    change = lifecycle.change_for(away, current, now=NOW)
    assert change is not None
    assert change.entry is not None
    assert change.updates["status"] == "transferred"
    assert change.entry.webhook_type == "registration.transferred"
    assert lifecycle.actor_of(away) == "ops:u1"
    assert "r-early" not in json.dumps(change.updates, default=str)


def test_the_new_holder_in_review_reads_approved() -> None:
    approved = move().events[1].payload
    current = lifecycle.Current(status=lifecycle.Status.PENDING_REVIEW)
    change = lifecycle.change_for(approved, current, now=NOW)
    assert change is not None
    assert change.updates["reason_code"] == "PROTECTION_TRANSFERRED"


def test_the_target_s_case_is_closed_as_decided_by_the_operator_with_the_note() -> None:
    (closing,) = move().cases_to_close
    assert (closing.decided_by, closing.approved_registration_id) == ("ops:u1", "r-early")
    assert "The earlier registration was accepted first." in closing.reason


# --- What the CRM shows (crm_sync) ---------------------------------------------------------------


def test_the_old_holder_s_mirrored_deal_reads_transferred_whatever_the_order() -> None:
    away = move().events[0].payload
    assert isinstance(away, ProtectionTransferred)
    note = lifecycle_note(away)
    assert note.status == "transferred"
    assert merged_status("approved", "transferred") == "transferred"
    assert merged_status("transferred", "approved") == "transferred"
    assert note.applied_to({"registration_status": "approved"})["registration_status"] == (
        "transferred"
    )
