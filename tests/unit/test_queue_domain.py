"""The conflict queue's pure rules: what a decision does, cursors, the live diff, the numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from conflict_resolver.queue.domain import (
    CaseChange,
    CaseFact,
    ClaimFact,
    Cursor,
    DecisionPlan,
    QueueError,
    compute_stats,
    decode_cursor,
    diff_open_cases,
    encode_cursor,
    labelled_pairs,
    plan_decision,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def plan(approve: str | None, statuses: dict[str, str] | None = None) -> DecisionPlan:
    return plan_decision(
        case_registration_id="b",
        competing_ids=["a"],
        statuses=statuses or {"a": "approved", "b": "pending_review"},
        approve=approve,
    )


def test_approving_the_case_registration_approves_it_and_rejects_nothing() -> None:
    assert plan("b") == DecisionPlan(approve="b", reject=None)


def test_approving_none_rejects_the_case_registration() -> None:
    assert plan(None) == DecisionPlan(approve=None, reject="b")


def test_keeping_an_approved_competitor_rejects_the_case_registration() -> None:
    assert plan("a") == DecisionPlan(approve=None, reject="b", kept="a")


def test_a_competitor_waiting_for_its_own_review_cannot_be_approved_here() -> None:
    with pytest.raises(QueueError) as refused:
        plan("a", {"a": "pending_review", "b": "pending_review"})
    assert refused.value.kind == "conflict"


def test_a_registration_outside_the_case_is_invalid() -> None:
    with pytest.raises(QueueError) as refused:
        plan("zzz")
    assert refused.value.kind == "invalid"


def test_cursors_round_trip_and_refuse_forgery_or_another_sort() -> None:
    cursor = Cursor(sort="amount", value="125000.0", case_id="c-1")
    assert decode_cursor(encode_cursor(cursor), "amount") == cursor
    with pytest.raises(QueueError):
        decode_cursor(encode_cursor(cursor), "due")
    with pytest.raises(QueueError):
        decode_cursor("not-a-cursor!", "due")


def test_the_live_diff_names_opened_updated_and_closed_cases() -> None:
    before = {"1": ("", "", "d1"), "2": ("", "", "d2")}
    after = {"2": ("ops-1", "", "d2"), "3": ("", "", "d3")}
    assert diff_open_cases(before, after) == [
        CaseChange("opened", "3"),
        CaseChange("updated", "2"),
        CaseChange("closed", "1"),
    ]


def claim(status: str, *, taken: float, ops: bool = False, partner: str = "p1") -> ClaimFact:
    submitted = NOW - timedelta(hours=1)
    return ClaimFact(
        registration_id=f"r-{status}-{taken}",
        partner_id=partner,
        partner_name=partner.upper(),
        status=status,
        reason_code=None,
        submitted_at=submitted,
        decided_at=submitted + timedelta(seconds=taken),
        amount=Decimal("1000.50"),
        currency="USD",
        decided_by_ops=ops,
    )


def test_stats_count_rates_durations_queue_and_pipeline() -> None:
    claims = [
        claim("approved", taken=0.2),
        claim("approved", taken=0.4, partner="p2"),
        claim("rejected", taken=0.3),
        claim("approved", taken=3600, ops=True),
        claim("pending_review", taken=0.1),
    ]
    cases = [
        CaseFact(
            "POSSIBLE_DUPLICATE",
            "open",
            NOW - timedelta(hours=50),
            NOW - timedelta(hours=2),
            NOW - timedelta(hours=2),
            None,
        ),
        CaseFact(
            "INCUMBENT_CONFLICT",
            "decided",
            NOW - timedelta(hours=3),
            NOW + timedelta(hours=45),
            None,
            NOW - timedelta(hours=1),
        ),
    ]
    numbers = compute_stats(claims, cases, now=NOW)
    assert numbers["registrations_per_day"] == [{"day": "2026-11-27", "count": 5}]
    assert numbers["registrations_per_partner"][0] == {
        "partner_id": "p1",
        "partner_name": "P1",
        "count": 4,
    }
    assert numbers["approval_rate"] == 0.75
    assert numbers["time_to_decision"]["automatic"]["count"] == 3
    assert numbers["time_to_decision"]["manual"] == {
        "count": 1,
        "p50_seconds": 3600.0,
        "p95_seconds": 3600.0,
    }
    assert numbers["partner_sourced_pipeline"] == [{"currency": "USD", "value": "3001.50"}]
    assert numbers["queue"]["open"] == 1
    assert numbers["queue"]["overdue"] == 1
    assert numbers["queue"]["oldest_age_seconds"] == 50 * 3600
    assert numbers["sla_breaches"] == 1
    assert numbers["conflicts_by_reason"] == {"INCUMBENT_CONFLICT": 1, "POSSIBLE_DUPLICATE": 1}


def test_stats_state_the_pipeline_in_the_base_currency_not_a_sum_across_currencies() -> None:
    from dataclasses import replace

    from conflict_resolver.domain.policy import Policy

    policy = Policy.model_validate({"exchange_rates": {"EUR": "1.10"}})
    euros = replace(claim("approved", taken=1), registration_id="r-eur", currency="EUR")
    yen = replace(claim("approved", taken=2), registration_id="r-jpy", currency="JPY")
    numbers = compute_stats([claim("approved", taken=0.2), euros, yen], [], now=NOW, policy=policy)
    # 1,000.50 USD + 1,000.50 EUR at 1.10 (1,100.55); JPY has no rate in this policy.
    assert numbers["partner_sourced_pipeline_base"] == {
        "currency": "USD",
        "value": "2101.05",
        "unconverted": ["JPY"],
    }
    assert len(numbers["partner_sourced_pipeline"]) == 3  # still listed per currency


# --- labelled pairs (issue 17) ------------------------------------------------------------------

_EVIDENCE = {
    "matches": [
        {"registration_id": "r-1", "classification": "possible", "similarity": 0.85},
        {"registration_id": "r-2", "classification": "same", "similarity": 0.97},
        {"registration_id": "r-3", "classification": "possible", "similarity": 0.83},
    ]
}


def _pairs(plan: DecisionPlan, reason_code: str = "POSSIBLE_DUPLICATE") -> list[dict[str, Any]]:
    return labelled_pairs(
        case_registration_id="r-case",
        reason_code=reason_code,
        evidence=_EVIDENCE,
        competing_ids=["r-1", "r-2"],
        plan=plan,
        customer={"name": "Acme"},
    )


def test_approving_a_possible_duplicate_labels_its_doubtful_matches_different() -> None:
    pairs = _pairs(DecisionPlan(approve="r-case", reject=None))
    assert [(p["matched_registration_id"], p["same"]) for p in pairs] == [("r-1", False)]
    assert pairs[0]["features"]["customer"] == {"name": "Acme"}


def test_rejecting_or_keeping_the_other_labels_them_the_same_account() -> None:
    assert _pairs(DecisionPlan(approve=None, reject="r-case"))[0]["same"] is True
    kept = _pairs(DecisionPlan(approve=None, reject="r-case", kept="r-1"))
    assert kept[0]["same"] is True


def test_cases_that_are_not_about_matching_give_no_pairs() -> None:
    assert _pairs(DecisionPlan(approve="r-case", reject=None), "INCUMBENT_CONFLICT") == []
