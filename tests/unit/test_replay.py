"""Policy what-if: past registrations replayed in memory under a draft policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.replay import PastRegistration, replay
from conflict_resolver.domain.rules import Submission

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def past(
    seq: int,
    partner: str,
    amount: str,
    outcome: str,
    code: str | None,
    *,
    name: str = "Acme Corporation",
    domain: str = "acme.com",
    ended_at: datetime | None = None,
    ended_as: str | None = None,
) -> PastRegistration:
    return PastRegistration(
        submission=Submission(
            registration_id=f"r{seq}",
            submission_seq=seq,
            partner_id=partner,
            partner_tier="silver",
            account_key=f"d:{domain}",
            product_line="fw",
            amount=Decimal(amount),
        ),
        customer={"name": name, "domain": domain, "country": "US"},
        submitted_at=T0 + timedelta(minutes=seq),
        decided_at=T0 + timedelta(minutes=seq),
        outcome=outcome,
        rule=None,
        reason_code=code,
        evidence={},
        ended_at=ended_at,
        ended_as=ended_as,
    )


HISTORY = [
    past(1, "p1", "8000", "approved", None),
    past(2, "p2", "90000", "rejected", "ALREADY_REGISTERED"),
    past(3, "p3", "20000", "approved", None, name="Globex", domain="globex.com"),
]


def test_the_current_policy_changes_nothing() -> None:
    result = replay(HISTORY, Policy())
    assert result.replayed == 3
    assert result.changed == ()


def test_a_higher_minimum_rejects_the_small_deal_and_the_waitlisted_one_wins() -> None:
    result = replay(HISTORY, Policy(minimum_amount=Decimal(10000)))
    changes = {change.registration_id: change for change in result.changed}
    assert set(changes) == {"r1", "r2"}
    assert changes["r1"].after["reason_code"] == "BELOW_MINIMUM"
    assert changes["r2"].before == {
        "outcome": "rejected",
        "rule": None,
        "reason_code": "ALREADY_REGISTERED",
    }
    assert changes["r2"].after["outcome"] == "approved"
    assert result.transitions == {"approved -> rejected": 1, "rejected -> approved": 1}


def test_a_shorter_window_lets_the_next_partner_in_after_it_ends() -> None:
    later = past(4, "p4", "9000", "rejected", "ALREADY_REGISTERED")
    later = PastRegistration(**{**later.__dict__, "decided_at": T0 + timedelta(days=40)})
    result = replay([HISTORY[0], HISTORY[2], later], Policy(protection_window=timedelta(days=30)))
    assert [change.registration_id for change in result.changed] == ["r4"]
    assert "rule approved fired" in result.changed[0].why


def test_when_a_shorter_window_ends_the_waitlist_is_promoted_first() -> None:
    """Failed before: the replay never promoted the waitlist, so the later r4 took r2's turn."""
    later = past(4, "p4", "9000", "rejected", "ALREADY_REGISTERED")
    later = PastRegistration(**{**later.__dict__, "decided_at": T0 + timedelta(days=40)})
    result = replay([*HISTORY, later], Policy(protection_window=timedelta(days=30)))
    assert [change.registration_id for change in result.changed] == ["r2"]
    promoted = result.changed[0]
    assert promoted.after["outcome"] == "approved"
    assert "re-evaluated from the waitlist at 2026-12-01T09:01:00+00:00" in promoted.why


def test_a_promotion_that_really_happened_is_no_change() -> None:
    """r1 was withdrawn and r2, waiting behind it, was promoted (recorded as approved)."""
    withdrawn = past(
        1, "p1", "8000", "approved", None, ended_at=T0 + timedelta(days=2), ended_as="withdrawn"
    )
    promoted = PastRegistration(
        **{**HISTORY[1].__dict__, "outcome": "approved", "reason_code": None}
    )
    result = replay([withdrawn, promoted], Policy())
    assert result.changed == ()


def test_a_win_frees_no_waitlist() -> None:
    won = past(1, "p1", "8000", "approved", None, ended_at=T0 + timedelta(days=2), ended_as="won")
    result = replay([won, HISTORY[1]], Policy())
    assert result.changed == ()


def test_a_withdrawal_in_the_record_ends_the_protection_in_the_replay() -> None:
    withdrawn = past(
        1, "p1", "8000", "approved", None, ended_at=T0 + timedelta(minutes=1, seconds=30)
    )
    result = replay([withdrawn, HISTORY[1]], Policy())
    assert [change.registration_id for change in result.changed] == ["r2"]
