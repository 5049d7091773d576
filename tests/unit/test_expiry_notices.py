"""'Protection expires in N days' notices (issue 15, item 1), pure: which notice is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.protection.notices import notice_words, notices_due
from deal_registration.domain import lifecycle
from schemas.registration import ProtectionExpiring

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
EXPIRES = T0 + timedelta(days=90)
NOTICES = (timedelta(days=14), timedelta(days=3), timedelta(days=1))


def due(now: datetime, recorded: tuple[timedelta, ...] = (), granted: datetime = T0) -> object:
    return notices_due(
        expires_at=EXPIRES, granted_at=granted, notices=NOTICES, recorded=recorded, now=now
    )


def test_nothing_is_due_before_the_first_notice() -> None:
    plan = due(EXPIRES - timedelta(days=15))
    assert plan.send is None
    assert plan.record == ()


def test_the_fourteen_day_notice_is_due_fourteen_days_before() -> None:
    plan = due(EXPIRES - timedelta(days=14))
    assert (plan.send, plan.record) == (timedelta(days=14), (timedelta(days=14),))


def test_a_notice_already_recorded_is_not_due_again() -> None:
    plan = due(EXPIRES - timedelta(days=10), recorded=(timedelta(days=14),))
    assert (plan.send, plan.record) == (None, ())


def test_after_a_pause_only_the_latest_due_notice_is_sent_the_older_are_recorded() -> None:
    plan = due(EXPIRES - timedelta(hours=30))
    assert plan.send == timedelta(days=3)
    assert set(plan.record) == {timedelta(days=14), timedelta(days=3)}


def test_a_notice_due_before_the_protection_was_granted_is_recorded_not_sent() -> None:
    plan = due(EXPIRES - timedelta(days=5), granted=EXPIRES - timedelta(days=10))
    assert (plan.send, plan.record) == (None, (timedelta(days=14),))


def test_nothing_once_the_protection_has_expired() -> None:
    assert due(EXPIRES).send is None
    assert due(EXPIRES).record == ()


def test_the_words_say_how_long_is_left() -> None:
    assert notice_words(timedelta(days=14)) == "14 days"
    assert notice_words(timedelta(days=1)) == "1 day"
    assert notice_words(timedelta(hours=6)) == "6 hours"
    assert notice_words(timedelta(seconds=90)) == "90 seconds"


def test_the_policy_sets_the_notices() -> None:
    assert Policy().expiry_notices == [timedelta(days=14), timedelta(days=3), timedelta(days=1)]
    assert Policy(expiry_notices=["PT1H"]).expiry_notices == [timedelta(hours=1)]  # type: ignore[list-item]
    with pytest.raises(ValidationError):
        Policy(expiry_notices=["P0D"])  # type: ignore[list-item]


def _expiring(expires_at: datetime) -> ProtectionExpiring:
    return ProtectionExpiring(
        registration_id="r1",
        account_key="d:acme.com",
        product_line="network-security",
        protection_expires_at=expires_at,
        notice=timedelta(days=14),
        noticed_at=expires_at - timedelta(days=14),
        reason="Your protection expires in 14 days.",
    )


def test_the_holder_is_told_and_nothing_changes() -> None:
    current = lifecycle.Current(status=lifecycle.Status.APPROVED, protection_expires_at=EXPIRES)
    change = lifecycle.change_for(_expiring(EXPIRES), current, now=T0)
    assert change is not None
    assert change.entry is not None
    assert change.entry.webhook_type == "registration.protection_expiring"
    assert set(change.updates) == {"updated_at"}


def test_a_notice_about_an_expiry_since_extended_or_ended_is_not_told() -> None:
    extended = lifecycle.Current(
        status=lifecycle.Status.APPROVED, protection_expires_at=EXPIRES + timedelta(days=30)
    )
    assert lifecycle.change_for(_expiring(EXPIRES), extended, now=T0) is None
    won = lifecycle.Current(status=lifecycle.Status.WON, protection_expires_at=EXPIRES)
    assert lifecycle.change_for(_expiring(EXPIRES), won, now=T0) is None
