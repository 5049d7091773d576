"""The rules of engagement, one by one and in their order: pure functions, no fixtures."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from conflict_resolver.domain.matching import CustomerProfile, normalise_customer, score
from conflict_resolver.domain.policy import Policy, ProductLinePolicy
from conflict_resolver.domain.protection import decide_at_deadline, decide_extension
from conflict_resolver.domain.rules import (
    ClaimState,
    DirectOpportunity,
    HouseAccountHit,
    Incumbent,
    Match,
    Situation,
    Submission,
    decide,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
POLICY = Policy(exchange_rates={"EUR": Decimal("1.10")})
ACME = normalise_customer(CustomerProfile("Acme Corporation", "acme.com", "US"))
ACME_SPELLED_AGAIN = CustomerProfile("ACME Corp.", "www.acme.com", "US")
NOTHING = Situation()


def submission(**changes: object) -> Submission:
    base = Submission(
        registration_id="r-new",
        submission_seq=10,
        partner_id="p-new",
        partner_tier="silver",
        account_key="d:acme.com",
        product_line="network-security",
        partner_status="active",
        partner_product_lines=("network-security",),
        deal_type="new",
        amount=Decimal("25000"),
        currency="USD",
        expected_close_date=date(2027, 3, 31),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def claim(
    *,
    registration_id: str = "r-old",
    partner_id: str = "p-old",
    seq: int = 5,
    state: ClaimState = "protected",
    customer: CustomerProfile = ACME_SPELLED_AGAIN,
    expires_at: datetime | None = NOW + timedelta(days=30),
    protection_key: str = "d:acme.com",
) -> Match:
    return Match(
        registration_id=registration_id,
        partner_id=partner_id,
        submission_seq=seq,
        protection_key=protection_key,
        state=state,
        evidence=score(ACME, normalise_customer(customer)),
        customer={"name": customer.name, "domain": customer.domain},
        expires_at=expires_at if state == "protected" else None,
    )


def run(situation: Situation = NOTHING, policy: Policy = POLICY, **changes: object):  # type: ignore[no-untyped-def]
    return decide(submission(**changes), situation, policy, now=NOW)


# --- 1. eligibility ---------------------------------------------------------------------------


def test_a_suspended_partner_is_ineligible() -> None:
    decision = run(partner_status="suspended")
    assert (decision.outcome, decision.reason_code) == ("rejected", "PARTNER_INELIGIBLE")


def test_a_product_line_the_partner_may_not_sell_is_not_authorised() -> None:
    decision = run(partner_product_lines=("endpoint",))
    assert (decision.outcome, decision.reason_code) == ("rejected", "PRODUCT_NOT_AUTHORIZED")


def test_an_amount_under_the_minimum_is_rejected_and_other_currencies_convert() -> None:
    assert run(amount=Decimal("4999.99")).reason_code == "BELOW_MINIMUM"
    assert run(amount=Decimal("5000")).outcome == "approved"
    # 4,600 EUR at 1.10 is 5,060 USD: enough; 4,500 EUR is 4,950 USD: not.
    assert run(amount=Decimal("4600"), currency="EUR").outcome == "approved"
    assert run(amount=Decimal("4500"), currency="EUR").reason_code == "BELOW_MINIMUM"


def test_a_product_line_may_have_its_own_minimum_and_window() -> None:
    policy = Policy(
        product_lines={
            "network-security": ProductLinePolicy(
                minimum_amount=Decimal(50000), protection_window=timedelta(days=10)
            )
        }
    )
    assert run(policy=policy).reason_code == "BELOW_MINIMUM"
    approved = run(policy=policy, amount=Decimal(60000))
    assert approved.protection_expires_at == NOW + timedelta(days=10)


def test_a_currency_without_a_rate_goes_to_review_rather_than_guessing() -> None:
    decision = run(currency="NOK")
    assert (decision.outcome, decision.reason_code) == ("pending_review", "UNKNOWN_CURRENCY")


# --- 2. same partner again --------------------------------------------------------------------


def test_the_same_partner_again_is_a_duplicate_pointing_at_the_first() -> None:
    first = claim(partner_id="p-new", registration_id="r-first")
    decision = run(Situation(matches=(first,)))
    assert (decision.outcome, decision.reason_code) == ("rejected", "DUPLICATE")
    assert decision.blocking_registration_id == "r-first"
    assert "r-first" in decision.reason


def test_a_duplicate_of_a_claim_in_review_or_on_the_waitlist_is_still_a_duplicate() -> None:
    for state in ("in_review", "waitlisted"):
        first = claim(partner_id="p-new", state=state)  # type: ignore[arg-type]
        assert run(Situation(matches=(first,))).reason_code == "DUPLICATE"


def test_eligibility_comes_before_duplicates() -> None:
    first = claim(partner_id="p-new")
    assert run(Situation(matches=(first,)), amount=Decimal(1)).reason_code == "BELOW_MINIMUM"


# --- 3. house account -------------------------------------------------------------------------


def test_a_house_account_is_rejected_or_reviewed_by_policy() -> None:
    house = Situation(house_account=HouseAccountHit("Acme", "d:acme.com", 1.0))
    assert run(house).reason_code == "HOUSE_ACCOUNT"
    assert run(house).outcome == "rejected"
    reviewed = run(house, policy=Policy(house_account_action="review"))
    assert (reviewed.outcome, reviewed.reason_code) == ("pending_review", "HOUSE_ACCOUNT")


# --- 4. direct opportunity --------------------------------------------------------------------


def test_an_open_direct_opportunity_sends_it_to_review_with_the_evidence() -> None:
    direct = DirectOpportunity("006A", "salesforce", "d:acme.com", NOW - timedelta(days=3))
    decision = run(Situation(direct_opportunity=direct))
    assert (decision.outcome, decision.reason_code) == (
        "pending_review",
        "DIRECT_OPPORTUNITY_CONFLICT",
    )
    assert decision.evidence["direct_opportunity"]["opportunity_id"] == "006A"


# --- 5. another partner holds protection ------------------------------------------------------


def test_another_partners_protection_rejects_and_waitlists_without_naming_it() -> None:
    holder = claim()
    decision = run(Situation(matches=(holder,)))
    assert (decision.outcome, decision.reason_code) == ("rejected", "ALREADY_REGISTERED")
    assert decision.waitlisted
    assert decision.blocking_registration_id == "r-old"
    assert decision.blocked_until == holder.expires_at
    assert "p-old" not in decision.reason
    assert "r-old" not in decision.reason
    assert "another partner until 2026-12-27" in decision.reason
    evidence = decision.evidence["matches"][0]
    assert evidence["registration_id"] == "r-old"
    assert evidence["same_domain"]
    assert "domain" in evidence["matched_fields"]


def test_an_expired_holder_no_longer_blocks() -> None:
    stale = claim(expires_at=NOW - timedelta(seconds=1))
    assert run(Situation(matches=(stale,))).outcome == "approved"


def test_a_holder_accepted_after_this_registration_sends_it_to_review() -> None:
    later = claim(seq=20)
    decision = run(Situation(matches=(later,)))
    assert (decision.outcome, decision.reason_code) == (
        "pending_review",
        "FIRST_TO_REGISTER_CONFLICT",
    )
    assert decision.competing_registration_ids == ("r-old",)


def test_a_fuzzy_match_adopts_the_holders_account_key() -> None:
    holder = claim(customer=CustomerProfile("Acme Corp", None, "US"), protection_key="n:acme|US")
    decision = run(Situation(matches=(holder,)))
    assert decision.reason_code == "ALREADY_REGISTERED"
    assert decision.protection_key == "n:acme|US"


def test_a_linked_holder_is_the_same_account_whatever_its_spelling() -> None:
    holder = replace(
        claim(customer=CustomerProfile("Totally Different", "other.org", "DE")), linked=True
    )
    assert run(Situation(matches=(holder,))).reason_code == "ALREADY_REGISTERED"


def test_the_holder_of_an_adopted_account_key_blocks_even_when_its_own_name_scores_low() -> None:
    """Matching is not transitive: this registration matches a claim (the bridge) filed on an
    account whose key it adopts, while the protection holder of that key is spelled too
    differently to match it directly. The holder still holds the account: approving would
    give one account two protections (the database refuses the second, and the partition
    retried that refusal forever)."""
    bridge = claim(
        registration_id="r-bridge",
        partner_id="p-bridge",
        seq=7,
        state="waitlisted",
        protection_key="n:acme|US",
    )
    holder = claim(
        customer=CustomerProfile("Totally Different", "other.org", "DE"), protection_key="n:acme|US"
    )
    for state in ("waitlisted", "in_review"):
        decision = run(Situation(matches=(replace(bridge, state=state), holder)))
        assert decision.outcome != "approved", state
        assert decision.protection_key in ("", "n:acme|US")


def test_another_partners_claim_in_review_sends_this_one_to_review_too() -> None:
    pending = claim(state="in_review")
    decision = run(Situation(matches=(pending,)))
    assert (decision.outcome, decision.reason_code) == ("pending_review", "CLAIM_IN_REVIEW")


# --- 6. incumbent -----------------------------------------------------------------------------


def test_a_renewal_by_a_non_incumbent_goes_to_review_and_by_the_incumbent_is_approved() -> None:
    incumbent = Situation(incumbent=Incumbent("p-inc", "r-won", NOW - timedelta(days=100)))
    other = run(incumbent, deal_type="renewal")
    assert (other.outcome, other.reason_code) == ("pending_review", "INCUMBENT_CONFLICT")
    own = run(incumbent, deal_type="upsell", partner_id="p-inc")
    assert (own.outcome, own.rule) == ("approved", "incumbent_protection")
    assert run(incumbent, deal_type="new").outcome == "approved"


def test_incumbency_lapses_after_the_period() -> None:
    old = Situation(incumbent=Incumbent("p-inc", "r-won", NOW - timedelta(days=400)))
    assert run(old, deal_type="renewal").outcome == "approved"


# --- 7. uncertain match -----------------------------------------------------------------------


def test_a_customer_in_the_review_band_is_a_possible_duplicate() -> None:
    similar = claim(customer=CustomerProfile("Acme Systems", None, "US"), protection_key="n:x")
    assert 0.80 <= similar.evidence.similarity < 0.92
    decision = run(Situation(matches=(similar,)))
    assert (decision.outcome, decision.reason_code) == ("pending_review", "POSSIBLE_DUPLICATE")
    assert decision.evidence["matches"][0]["classification"] == "possible"


def test_reviewers_see_the_calibrated_probability_once_a_calibration_is_published() -> None:
    similar = claim(customer=CustomerProfile("Acme Systems", None, "US"), protection_key="n:x")
    uncalibrated = run(Situation(matches=(similar,)))
    assert uncalibrated.evidence["matches"][0]["calibrated_probability"] is None
    calibrated = Policy(
        matching={  # type: ignore[arg-type]
            "calibration": [
                {"similarity": 0.80, "probability": 0.1, "support": 40},
                {"similarity": 0.85, "probability": 0.7, "support": 30},
            ]
        }
    )
    decision = run(Situation(matches=(similar,)), policy=calibrated)
    expected = 0.7 if similar.evidence.similarity >= 0.85 else 0.1
    assert decision.evidence["matches"][0]["calibrated_probability"] == expected


def test_a_calibration_that_falls_with_similarity_is_refused() -> None:
    with pytest.raises(ValidationError, match="must rise"):
        Policy(
            matching={  # type: ignore[arg-type]
                "calibration": [
                    {"similarity": 0.80, "probability": 0.9, "support": 40},
                    {"similarity": 0.85, "probability": 0.2, "support": 30},
                ]
            }
        )


def test_the_thresholds_come_from_the_policy() -> None:
    similar = claim(customer=CustomerProfile("Acme Systems", None, "US"), protection_key="n:x")
    strict = Policy(matching={"same_account": 0.99, "review": 0.95})  # type: ignore[arg-type]
    assert run(Situation(matches=(similar,)), policy=strict).outcome == "approved"


def test_a_different_customer_does_not_count() -> None:
    other = claim(customer=CustomerProfile("Globex", "globex.com", "US"), protection_key="d:g")
    decision = run(Situation(matches=(other,)))
    assert decision.outcome == "approved"
    assert decision.evidence["matches"] == []


# --- 8. approved ------------------------------------------------------------------------------


def test_otherwise_approved_with_the_tier_window() -> None:
    policy = Policy(tier_protection_windows={"gold": timedelta(days=120)})
    assert run(policy=policy).protection_expires_at == NOW + timedelta(days=90)
    gold = run(policy=policy, partner_tier="gold")
    assert gold.protection_expires_at == NOW + timedelta(days=120)
    assert gold.protection_key == "d:acme.com"
    assert "2027-03-27" in gold.reason


def test_rules_fire_in_the_order_of_the_domain() -> None:
    everything = Situation(
        matches=(claim(),),
        house_account=HouseAccountHit("Acme", "d:acme.com", 1.0),
        direct_opportunity=DirectOpportunity("006A", "hubspot", "d:acme.com", NOW),
    )
    assert run(everything).reason_code == "HOUSE_ACCOUNT"
    assert run(replace(everything, house_account=None)).reason_code == (
        "DIRECT_OPPORTUNITY_CONFLICT"
    )


# --- extensions and deadlines -----------------------------------------------------------------


def test_an_extension_is_granted_once_before_expiry() -> None:
    expires = NOW + timedelta(days=5)
    granted = decide_extension(
        holds_protection=True, expires_at=expires, extensions_so_far=0, policy=POLICY, now=NOW
    )
    assert granted.granted
    assert granted.protection_expires_at == expires + timedelta(days=30)
    again = decide_extension(
        holds_protection=True, expires_at=expires, extensions_so_far=1, policy=POLICY, now=NOW
    )
    assert (again.granted, again.reason_code) == (False, "ALREADY_EXTENDED")
    late = decide_extension(
        holds_protection=True, expires_at=NOW, extensions_so_far=0, policy=POLICY, now=NOW
    )
    assert late.reason_code == "WINDOW_OVER"
    closed = decide_extension(
        holds_protection=False, expires_at=None, extensions_so_far=0, policy=POLICY, now=NOW
    )
    assert closed.reason_code == "NOT_PROTECTED"


def test_the_review_deadline_decides_only_when_the_policy_says_so() -> None:
    args = {"submission_seq": 3, "competing_live_seqs": (7,), "protection_held_by_another": False}
    assert decide_at_deadline(POLICY, **args) is None  # type: ignore[arg-type]
    first = decide_at_deadline(Policy(sla_auto_decision="approve_first"), **args)  # type: ignore[arg-type]
    assert first is not None
    assert first.approve
    held = {**args, "protection_held_by_another": True}
    blocked = decide_at_deadline(Policy(sla_auto_decision="approve_first"), **held)  # type: ignore[arg-type]
    assert blocked is not None
    assert not blocked.approve
    rejected = decide_at_deadline(Policy(sla_auto_decision="reject"), **args)  # type: ignore[arg-type]
    assert rejected is not None
    assert not rejected.approve


# --- the policy as data -----------------------------------------------------------------------


def test_policy_reads_iso_durations_and_refuses_nonsense() -> None:
    policy = Policy.model_validate({"protection_window": "PT5S", "review_sla": "PT2S"})
    assert policy.protection_window == timedelta(seconds=5)
    assert policy.document()["protection_window"] == "PT5S"
    with pytest.raises(ValidationError):
        Policy.model_validate({"matching": {"same_account": 0.7, "review": 0.8}})
    with pytest.raises(ValidationError):
        Policy.model_validate({"exchange_rates": {"EUR": "-1"}})
    with pytest.raises(ValidationError):
        Policy.model_validate({"protection_windw": "P1D"})


def test_no_reason_sentence_names_another_partner_or_its_registration() -> None:
    holder = claim(partner_id="p-secret", registration_id="r-secret")
    situations = [
        Situation(matches=(holder,)),
        Situation(matches=(replace(holder, submission_seq=99),)),
        Situation(matches=(replace(holder, state="in_review"),)),
        Situation(incumbent=Incumbent("p-secret", "r-secret", NOW)),
        Situation(
            matches=(
                claim(
                    partner_id="p-secret",
                    registration_id="r-secret",
                    customer=CustomerProfile("Acme Systems", None, "US"),
                    protection_key="n:x",
                ),
            )
        ),
    ]
    codes = set()
    for situation in situations:
        decision = run(situation, deal_type="renewal")
        codes.add(decision.reason_code)
        assert "secret" not in decision.reason, decision
    assert codes == {
        "ALREADY_REGISTERED",
        "FIRST_TO_REGISTER_CONFLICT",
        "CLAIM_IN_REVIEW",
        "INCUMBENT_CONFLICT",
        "POSSIBLE_DUPLICATE",
    }
