"""Capacity caps by tier (issue 15, item 4): pure rules, no fixtures."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from conflict_resolver.domain.policy import CapacityPolicy, Policy, TierCapacity
from conflict_resolver.domain.replay import PastRegistration, replay
from conflict_resolver.domain.rules import Holdings, Incumbent, Situation, Submission, decide
from conflict_resolver.domain.rules.capacity import capacity_caps_of, capacity_of
from deal_registration.domain.capacity import capacity_view

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
GOLD_THREE = Policy(capacity=CapacityPolicy(tiers={"gold": TierCapacity(overall=3)}))


def submission(**changes: object) -> Submission:
    base = Submission(
        registration_id="r-new",
        submission_seq=10,
        partner_id="p-gold",
        partner_tier="gold",
        account_key="d:acme.com",
        product_line="network-security",
        partner_product_lines=("network-security", "endpoint"),
        amount=Decimal("25000"),
        expected_close_date=date(2027, 3, 31),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def holding(*lines: str) -> Situation:
    return Situation(holdings=Holdings(product_lines=tuple(lines)))


def test_under_the_cap_a_registration_is_approved() -> None:
    decision = decide(submission(), holding("endpoint", "endpoint"), GOLD_THREE, now=NOW)
    assert decision.outcome == "approved"


def test_the_gold_cap_of_three_refuses_the_fourth() -> None:
    situation = holding("endpoint", "network-security", "endpoint")
    decision = decide(submission(), situation, GOLD_THREE, now=NOW)
    assert (decision.outcome, decision.reason_code) == ("rejected", "CAPACITY_LIMIT")
    assert decision.rule == "capacity"
    assert "3" in decision.reason
    assert decision.evidence["capacity"] == {
        "scope": "overall",
        "limit": 3,
        "held": 3,
        "tier": "gold",
    }


def test_a_tier_without_a_cap_is_not_capped() -> None:
    situation = holding(*["endpoint"] * 50)
    assert decide(submission(partner_tier="silver"), situation, GOLD_THREE, now=NOW).outcome == (
        "approved"
    )


def test_the_policy_may_send_an_over_cap_registration_to_review() -> None:
    policy = Policy(
        capacity=CapacityPolicy(tiers={"gold": TierCapacity(overall=1)}, action="review")
    )
    decision = decide(submission(), holding("endpoint"), policy, now=NOW)
    assert (decision.outcome, decision.reason_code) == ("pending_review", "CAPACITY_LIMIT")


def test_a_per_product_line_cap_counts_only_that_line() -> None:
    policy = Policy(capacity=CapacityPolicy(tiers={"gold": TierCapacity(per_product_line=2)}))
    assert decide(submission(), holding("endpoint", "endpoint"), policy, now=NOW).outcome == (
        "approved"
    )
    situation = holding("network-security", "network-security")
    decision = decide(submission(), situation, policy, now=NOW)
    assert decision.reason_code == "CAPACITY_LIMIT"
    assert decision.evidence["capacity"]["scope"] == "network-security"


def test_a_line_may_have_its_own_cap_over_the_tier_default() -> None:
    policy = Policy(
        capacity=CapacityPolicy(
            tiers={"gold": TierCapacity(per_product_line=5, product_lines={"endpoint": 1})}
        )
    )
    situation = holding("endpoint")
    assert decide(submission(product_line="endpoint"), situation, policy, now=NOW).reason_code == (
        "CAPACITY_LIMIT"
    )
    assert decide(submission(), holding("network-security"), policy, now=NOW).outcome == (
        "approved"
    )


def test_rejections_by_earlier_rules_win_over_capacity() -> None:
    decision = decide(submission(amount=Decimal(1)), holding("a", "b", "c"), GOLD_THREE, now=NOW)
    assert decision.reason_code == "BELOW_MINIMUM"


def test_the_incumbent_renewal_is_capped_too() -> None:
    incumbent = Incumbent(partner_id="p-gold", registration_id="r-won", won_at=NOW - timedelta(1))
    situation = replace(holding("a", "b", "c"), incumbent=incumbent)
    decision = decide(submission(deal_type="renewal"), situation, GOLD_THREE, now=NOW)
    assert (decision.rule, decision.reason_code) == ("capacity", "CAPACITY_LIMIT")


def test_capacity_reads_limits_and_what_is_held() -> None:
    policy = Policy(
        capacity=CapacityPolicy(tiers={"gold": TierCapacity(overall=3, per_product_line=2)})
    )
    figures = capacity_of(policy, tier="gold", product_lines=("endpoint", "endpoint", "x"))
    assert figures.overall_limit == 3
    assert figures.held == 3
    assert figures.per_line == {"endpoint": (2, 2), "x": (1, 2)}
    assert figures.remaining == 0


def test_a_cap_is_a_positive_whole_number() -> None:
    with pytest.raises(ValidationError):
        TierCapacity(overall=0)
    with pytest.raises(ValidationError):
        CapacityPolicy(tiers={"gold": {"overall": "3"}})  # type: ignore[dict-item]


# --- The what-if ---------------------------------------------------------------------------------


def _past(seq: int, domain: str, *, ended_at: datetime | None = None) -> PastRegistration:
    return PastRegistration(
        submission=submission(
            registration_id=f"r{seq}", submission_seq=seq, account_key=f"d:{domain}"
        ),
        customer={"name": domain.split(".")[0].title(), "domain": domain, "country": "US"},
        submitted_at=NOW + timedelta(minutes=seq),
        decided_at=NOW + timedelta(minutes=seq),
        outcome="approved",
        rule="approved",
        reason_code=None,
        evidence={},
        ended_at=ended_at,
        ended_as=None if ended_at is None else "lost",
    )


def test_the_what_if_shows_a_tighter_cap_refusing_the_later_registrations() -> None:
    history = [_past(1, "acme.com"), _past(2, "globex.com"), _past(3, "initech.com")]
    tighter = Policy(capacity=CapacityPolicy(tiers={"gold": TierCapacity(overall=2)}))
    result = replay(history, tighter)
    assert [change.registration_id for change in result.changed] == ["r3"]
    assert result.changed[0].after["reason_code"] == "CAPACITY_LIMIT"
    assert result.transitions == {"approved -> rejected": 1}


def test_the_what_if_frees_capacity_when_a_protection_ended() -> None:
    history = [
        _past(1, "acme.com", ended_at=NOW + timedelta(minutes=2)),
        _past(3, "globex.com"),
    ]
    tighter = Policy(capacity=CapacityPolicy(tiers={"gold": TierCapacity(overall=1)}))
    assert replay(history, tighter).changed == ()


# --- What the partner reads (deal_registration) ----------------------------------------------


def test_the_partner_reads_its_capacity_against_its_tier_s_caps() -> None:
    caps = capacity_caps_of(
        Policy(
            version=4,
            capacity=CapacityPolicy(
                tiers={"gold": TierCapacity(overall=3, product_lines={"endpoint": 1})}
            ),
        ),
        now=NOW,
    )
    view = capacity_view(caps, tier="gold", live_lines=["endpoint", "network-security"])
    assert (view["held"], view["limit"], view["remaining"], view["policy_version"]) == (2, 3, 1, 4)
    assert view["product_lines"] == [
        {"product_line": "endpoint", "held": 1, "limit": 1},
        {"product_line": "network-security", "held": 1, "limit": None},
    ]
    silver = capacity_view(caps, tier="silver", live_lines=["endpoint"])
    assert (silver["limit"], silver["remaining"]) == (None, None)
    assert capacity_view(None, tier="gold", live_lines=[])["policy_version"] is None
