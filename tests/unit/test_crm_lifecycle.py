"""The lifecycle merge gives the same registration status in any delivery order."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from crm_sync.domain.lifecycle import LifecycleNote

APPROVED_UNTIL = datetime(2027, 1, 1, tzinfo=UTC)
APPROVED = {"registration_status": "approved", "protection_expires_at": APPROVED_UNTIL.isoformat()}
EXTENDED = LifecycleNote(status="approved", protection_expires_at=APPROVED_UNTIL + timedelta(30))
WITHDRAWN = LifecycleNote(status="withdrawn")
EXPIRED = LifecycleNote(status="expired")


def _fold(notes: tuple[LifecycleNote, ...]) -> dict[str, str]:
    merged = LifecycleNote()
    for note in notes:
        merged = merged.merge(note)
    return merged.applied_to(APPROVED)


def test_every_order_of_the_same_events_gives_the_same_deal() -> None:
    outcomes = {
        tuple(sorted(_fold(order).items()))
        for order in itertools.permutations((EXTENDED, WITHDRAWN, EXPIRED))
    }
    assert len(outcomes) == 1
    (outcome,) = outcomes
    assert dict(outcome)["registration_status"] == "withdrawn"


def test_an_extension_never_makes_a_withdrawn_registration_approved_again() -> None:
    withdrawn = WITHDRAWN.applied_to(APPROVED)
    assert EXTENDED.applied_to(withdrawn)["registration_status"] == "withdrawn"


def test_protection_only_moves_forward() -> None:
    earlier = LifecycleNote(protection_expires_at=APPROVED_UNTIL - timedelta(days=5))
    assert earlier.applied_to(APPROVED) == APPROVED
    assert (
        EXTENDED.applied_to(APPROVED)["protection_expires_at"]
        == (APPROVED_UNTIL + timedelta(30)).isoformat()
    )
