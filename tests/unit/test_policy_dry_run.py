"""A policy is dry-run before it is stored: the rules decide a sample of situations under it,
and one that cannot be decided names the field that governs it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from conflict_resolver.domain.policy import DEFAULT_POLICY, ExtensionPolicy, Policy
from conflict_resolver.domain.policy_dry_run import UNLISTED_LINE, dry_run
from conflict_resolver.domain.rules import decide
from conflict_resolver.domain.situation import Decision, Situation, Submission

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
RICH = Policy.model_validate(
    {
        "base_currency": "EUR",
        "exchange_rates": {"USD": "0.92", "GBP": "1.17", "JPY": "0.0061"},
        "tier_protection_windows": {"platinum": "P120D", "registered": "PT5S"},
        "product_lines": {"edge": {"protection_window": "P30D", "minimum_amount": "100"}},
        "extension": {"max_extensions": 100, "duration": "P3650D"},
        "house_account_action": "review",
        "sla_auto_decision": "approve_first",
    }
)


def fields(policy: Policy, **options: Any) -> dict[str, str]:
    return {problem.field: problem.message for problem in dry_run(policy, now=NOW, **options)}


def test_the_default_and_a_rich_policy_decide_every_sample() -> None:
    assert fields(DEFAULT_POLICY) == {}
    assert fields(RICH) == {}


durations = st.integers(min_value=1, max_value=3653 * 86400).map(lambda s: timedelta(seconds=s))


@settings(max_examples=60, deadline=None)
@given(
    window=durations,
    tier_window=durations,
    extension=durations,
    max_extensions=st.integers(min_value=0, max_value=100),
    review=st.floats(min_value=0.01, max_value=1),
    minimum=st.decimals(min_value=0, max_value=Decimal(10) ** 12, places=2),
    rate=st.decimals(min_value=Decimal("0.000001"), max_value=Decimal(10) ** 6, places=6),
)
def test_every_policy_within_the_bounds_decides_every_sample(
    window: timedelta,
    tier_window: timedelta,
    extension: timedelta,
    max_extensions: int,
    review: float,
    minimum: Decimal,
    rate: Decimal,
) -> None:
    policy = Policy(
        protection_window=window,
        tier_protection_windows={"gold": tier_window},
        extension=ExtensionPolicy(duration=extension, max_extensions=max_extensions),
        matching={"review": review, "same_account": 1.0},  # type: ignore[arg-type]
        minimum_amount=minimum,
        exchange_rates={"CHF": rate},
        incumbency_period=window,
        review_sla=window,
    )
    assert fields(policy) == {}


def test_a_window_past_the_bounds_is_caught_by_the_dry_run_too() -> None:
    """Were the field bound lifted, ``P3000000D`` would overflow every approval."""
    unbounded = Policy.model_construct(
        **{**DEFAULT_POLICY.__dict__, "protection_window": timedelta(days=3_000_000)}
    )
    found = fields(unbounded)
    assert "protection_window" in found
    assert "OverflowError" in found["protection_window"]


def test_an_extension_that_overflows_names_the_extension_duration() -> None:
    extension = ExtensionPolicy.model_construct(max_extensions=3, duration=timedelta(days=10**6))
    unbounded = Policy.model_construct(**{**DEFAULT_POLICY.__dict__, "extension": extension})
    assert "extension.duration" in fields(unbounded)


def test_a_product_line_or_tier_that_cannot_decide_names_its_own_window() -> None:
    def fails_on_edge(sub: Submission, situation: Situation, policy: Policy, **kw: Any) -> Decision:
        if sub.product_line == "edge":
            raise ArithmeticError("edge")
        return decide(sub, situation, policy, **kw)

    found = fields(RICH, decide=fails_on_edge)
    assert set(found) == {"product_lines.edge.protection_window"}
    assert "raises ArithmeticError" in found["product_lines.edge.protection_window"]

    def fails_for_platinum(
        sub: Submission, situation: Situation, policy: Policy, **kw: Any
    ) -> Decision:
        if sub.partner_tier == "platinum" and sub.product_line == UNLISTED_LINE:
            raise OverflowError("platinum")
        return decide(sub, situation, policy, **kw)

    assert set(fields(RICH, decide=fails_for_platinum)) == {"tier_protection_windows.platinum"}


def test_an_approval_without_a_future_expiry_or_a_policy_that_approves_nothing_is_refused() -> None:
    def no_expiry(sub: Submission, situation: Situation, policy: Policy, **kw: Any) -> Decision:
        return Decision(outcome="approved", rule="approve", reason="Approved.")

    found = fields(DEFAULT_POLICY, decide=no_expiry)
    assert "protection window that ends after" in found["protection_window"]

    def rejects_all(sub: Submission, situation: Situation, policy: Policy, **kw: Any) -> Decision:
        return Decision(outcome="rejected", rule="x", reason="No.", reason_code="BELOW_MINIMUM")

    assert (
        "nothing can be approved" in fields(DEFAULT_POLICY, decide=rejects_all)["protection_window"]
    )


def test_a_decision_without_a_readable_reason_is_refused() -> None:
    def mute(sub: Submission, situation: Situation, policy: Policy, **kw: Any) -> Decision:
        decision = decide(sub, situation, policy, **kw)
        return Decision(outcome=decision.outcome, rule=decision.rule, reason=" ")

    assert "reason" in fields(DEFAULT_POLICY, decide=mute)["protection_window"]
