"""Attribution at closed-won: the arithmetic of each model, computed by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from conflict_resolver.domain import protection
from conflict_resolver.domain.attribution import Involvement, attribute
from conflict_resolver.domain.policy import AttributionPolicy, Policy
from conflict_resolver.domain.protection import Cause, Claim
from schemas.attribution import DealAttributed
from schemas.registration import AmountData

T0 = datetime(2026, 11, 1, tzinfo=UTC)
SOURCED = Involvement("R", "sourced", T0 + timedelta(days=2), "reg-r")
INFLUENCE = Involvement("C", "influence", T0, "reg-c")
DISTRIBUTOR = Involvement("D", "distributor", T0 + timedelta(days=5))
ALL = [SOURCED, INFLUENCE, DISTRIBUTOR]


def _credits(model: str, amount: str, involved: list[Involvement], **weights: str) -> dict:
    policy = AttributionPolicy.model_validate(
        {"model": model, **({"role_weights": weights} if weights else {})}
    )
    return {
        c.partner_id: (c.role, c.amount, c.share)
        for c in attribute(Decimal(amount), involved, policy)
    }


def test_sourced_only_credits_the_sourced_partner_with_everything() -> None:
    assert _credits("sourced_only", "125000.00", ALL) == {
        "R": ("sourced", Decimal("125000.00"), Decimal("1.000000"))
    }


def test_sourced_only_without_a_sourced_partner_credits_no_one() -> None:
    assert _credits("sourced_only", "1000", [INFLUENCE, DISTRIBUTOR]) == {}


def test_first_touch_credits_whoever_joined_first_even_if_not_sourced() -> None:
    assert _credits("first_touch", "999.99", ALL) == {
        "C": ("influence", Decimal("999.99"), Decimal("1.000000"))
    }


def test_first_touch_tie_goes_to_the_sourced_partner() -> None:
    tie = Involvement("C", "influence", SOURCED.joined_at)
    assert set(_credits("first_touch", "10", [tie, SOURCED])) == {"R"}


def test_even_split_gives_the_odd_cent_to_the_earliest() -> None:
    # 100.00 / 3 = 33.333...: 33.33 each, one cent left, to the earliest joined (C).
    assert _credits("even_split", "100.00", ALL) == {
        "C": ("influence", Decimal("33.34"), Decimal("0.333333")),
        "R": ("sourced", Decimal("33.33"), Decimal("0.333333")),
        "D": ("distributor", Decimal("33.33"), Decimal("0.333333")),
    }


def test_role_weights_divide_by_the_weights_involved() -> None:
    # weights 60 + 30 + 10 = 100: 60%, 30%, 10% of 50,000.
    credits = _credits("role_weights", "50000", ALL, sourced="60", influence="30", distributor="10")
    assert credits == {
        "R": ("sourced", Decimal("30000.00"), Decimal("0.600000")),
        "C": ("influence", Decimal("15000.00"), Decimal("0.300000")),
        "D": ("distributor", Decimal("5000.00"), Decimal("0.100000")),
    }


def test_role_weights_renormalise_over_the_roles_present() -> None:
    # Only R (60) and C (20) involved: 60/80 = 75%, 20/80 = 25% of 1,000.01 -> 750.0075, 250.0025:
    # 750.00 and 250.00, the cent left to the larger remainder (R's .0075).
    credits = _credits(
        "role_weights", "1000.01", [SOURCED, INFLUENCE], sourced="60", influence="20"
    )
    assert credits == {
        "R": ("sourced", Decimal("750.01"), Decimal("0.750000")),
        "C": ("influence", Decimal("250.00"), Decimal("0.250000")),
    }


def test_a_role_without_weight_gets_nothing_and_zero_weights_split_evenly() -> None:
    credits = _credits("role_weights", "90", ALL, sourced="1", influence="0")
    assert credits == {"R": ("sourced", Decimal("90.00"), Decimal("1.000000"))}
    assert len(_credits("role_weights", "90", ALL, referral="5")) == 3


def test_a_partner_in_two_roles_counts_once_with_its_first_role() -> None:
    twice = Involvement("R", "reseller", T0 + timedelta(days=9))
    assert _credits("even_split", "10", [SOURCED, twice]) == {
        "R": ("sourced", Decimal("10.00"), Decimal("1.000000"))
    }


@pytest.mark.parametrize("model", ["sourced_only", "first_touch", "even_split", "role_weights"])
@pytest.mark.parametrize("amount", ["0.01", "0.02", "1", "7.77", "123456.78"])
def test_the_credits_always_add_up_to_the_amount(model: str, amount: str) -> None:
    credits = _credits(model, amount, ALL)
    assert sum(part for _, part, _ in credits.values()) == Decimal(amount).quantize(Decimal("0.01"))


def test_the_default_policy_credits_the_sourced_partner_only() -> None:
    assert Policy().attribution.model == "sourced_only"
    with pytest.raises(ValueError, match="model"):
        AttributionPolicy.model_validate({"model": "last_touch"})


# --- the event a win records, and the what-if ---------------------------------------------


def _won_claim() -> Claim:
    from tests.unit.test_protection import claim

    return claim("r1", 1, holds_until=T0 + timedelta(days=90))


def test_a_win_records_one_deal_attributed_with_the_crm_amount_and_base_currency() -> None:
    policy = Policy.model_validate({"exchange_rates": {"EUR": "1.10"}, "version": 3})
    won = AmountData(value=Decimal("40000.00"), currency="EUR")
    outcome = protection.attribute_win(
        _won_claim(), policy, amount=won, closed_at=T0, now=T0, cause=Cause("e", "c")
    )
    (emission,) = outcome.events
    attributed = emission.payload
    assert isinstance(attributed, DealAttributed)
    assert outcome.attributions == (attributed,)
    assert (attributed.model, attributed.policy_version, attributed.amount) == (
        "sourced_only",
        3,
        won,
    )
    (line,) = attributed.lines
    assert (line.partner_id, line.role, line.registration_id) == ("partner-r1", "sourced", "r1")
    assert line.amount == won
    assert line.base_amount == AmountData(value=Decimal("44000.00"), currency="USD")


def test_without_a_crm_amount_the_registered_amount_is_credited() -> None:
    outcome = protection.attribute_win(
        _won_claim(), Policy(), amount=None, closed_at=T0, now=T0, cause=Cause("e", "c")
    )
    assert outcome.attributions[0].lines[0].amount.value == Decimal("25000.00")


def test_the_what_if_credits_past_wins_again_under_the_draft_model() -> None:
    claim = _won_claim()
    recorded = protection.attribute_win(
        claim, Policy(), amount=None, closed_at=T0, now=T0, cause=Cause("e", "c")
    ).attributions[0]
    same = protection.attribution_what_if([(recorded, claim.submitted)], Policy())
    assert (same["deals"], same["changed"]) == (1, 0)
    weights = {"model": "role_weights", "role_weights": {"sourced": "0"}}
    draft = Policy.model_validate({"attribution": weights})
    # Only the sourced partner is involved today: zero weights fall back to an even split,
    # so its credit stays whole; the what-if says nothing changed.
    assert protection.attribution_what_if([(recorded, claim.submitted)], draft)["changed"] == 0
    # A recorded credit that the draft would give differently (here: one recorded under a
    # model crediting no one) shows as a change with partner totals before and after.
    empty = recorded.model_copy(update={"lines": ()})
    answer = protection.attribution_what_if([(empty, claim.submitted)], Policy())
    assert answer["changed"] == 1
    assert answer["partners"] == [
        {"partner_id": "partner-r1", "before": "0.00", "after": "25000.00"}
    ]


def test_a_win_credits_the_co_sell_and_influence_partners_gathered_with_when_each_joined() -> None:
    claim = _won_claim()
    joined_r = claim.submitted.submitted_at
    distributor = Involvement("D", "distributor", joined_r + timedelta(days=1), "r1")
    consultant = Involvement("C", "influence", joined_r + timedelta(days=2), "reg-c")
    weights = {"sourced": "0.6", "distributor": "0.3", "influence": "0.1"}
    policy = Policy.model_validate(
        {"attribution": {"model": "role_weights", "role_weights": weights}}
    )
    won = AmountData(value=Decimal("100000.00"), currency="USD")
    attributed = protection.attribute_win(
        claim,
        policy,
        amount=won,
        closed_at=T0,
        now=T0,
        cause=Cause("e", "c"),
        others=(distributor, consultant),
    ).attributions[0]
    lines = {line.partner_id: line for line in attributed.lines}
    assert {p: (line.role, line.amount.value) for p, line in lines.items()} == {
        "partner-r1": ("sourced", Decimal("60000.00")),
        "D": ("distributor", Decimal("30000.00")),
        "C": ("influence", Decimal("10000.00")),
    }
    assert (lines["D"].joined_at, lines["C"].registration_id) == (distributor.joined_at, "reg-c")
    # The what-if reads the other partners back from the lines: under first touch the holder,
    # who registered first, takes everything.
    draft = Policy.model_validate({"attribution": {"model": "first_touch"}})
    answer = protection.attribution_what_if([(attributed, claim.submitted)], draft)
    assert {p["partner_id"]: p["after"] for p in answer["partners"]} == {
        "C": "0.00",
        "D": "0.00",
        "partner-r1": "100000.00",
    }
