"""The direct-sales guard, pure: which protections a direct CRM deal encroaches on, which
direct deal a registration collides with, and what each side is told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from conflict_resolver.domain.encroachment import (
    ANY_LINE,
    DirectCandidate,
    DirectDeal,
    HolderCandidate,
    covers,
    crm_protected_until,
    encroached_holders,
    encroachment_case_id,
    matching_direct_opportunity,
    partner_notice,
    resolution_notice,
)
from conflict_resolver.domain.matching import CustomerProfile, normalise_customer, score
from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.rules import DirectOpportunity, Match

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
POLICY = Policy()
ACME_CORP = normalise_customer(CustomerProfile("Acme Corporation", None, "US"))
ACME_INC = normalise_customer(CustomerProfile("ACME Inc", None, "US"))
GLOBEX = normalise_customer(CustomerProfile("Globex", "globex.com", "US"))


def deal(*, product_line: str = ANY_LINE, customer: object = ACME_INC) -> DirectDeal:
    return DirectDeal(
        crm_system="hubspot",
        opportunity_id="9001",
        account_key="n:acmeinc|US",
        product_line=product_line,
        customer=customer,  # type: ignore[arg-type]
        opened_at=NOW,
    )


def holder(
    *,
    registration_id: str = "r-acme",
    product_line: str = "network-security",
    customer: object = ACME_CORP,
    expires_at: datetime | None = NOW + timedelta(days=60),
    state: str = "protected",
) -> HolderCandidate:
    match = Match(
        registration_id=registration_id,
        partner_id="p-northwind",
        submission_seq=1,
        protection_key="n:acme|US",
        state=state,  # type: ignore[arg-type]
        evidence=score(ACME_INC, customer),  # type: ignore[arg-type]
        customer={"name": "Acme Corporation", "domain": None, "country": "US"},
        expires_at=expires_at,
    )
    return HolderCandidate(match=match, product_line=product_line)


def test_a_deal_naming_no_product_line_covers_every_line() -> None:
    assert covers(ANY_LINE, "network-security")
    assert covers("network-security", "network-security")
    assert not covers("endpoint", "network-security")


def test_a_direct_deal_without_a_product_line_encroaches_on_a_protected_same_account() -> None:
    found = encroached_holders(deal(), [holder()], POLICY, now=NOW)
    assert [h.match.registration_id for h in found] == ["r-acme"]


def test_a_direct_deal_for_another_line_does_not_encroach() -> None:
    assert encroached_holders(deal(product_line="endpoint"), [holder()], POLICY, now=NOW) == []


def test_only_live_protections_of_the_same_account_are_encroached() -> None:
    candidates = [
        holder(registration_id="r-other", customer=GLOBEX),
        holder(registration_id="r-expired", expires_at=NOW - timedelta(seconds=1)),
        holder(registration_id="r-review", state="in_review", expires_at=None),
    ]
    assert encroached_holders(deal(), candidates, POLICY, now=NOW) == []


def test_the_case_id_is_the_same_for_one_deal_and_one_holder_and_differs_otherwise() -> None:
    first = encroachment_case_id("hubspot", "9001", "r-acme")
    assert first == encroachment_case_id("hubspot", "9001", "r-acme")
    assert first != encroachment_case_id("hubspot", "9002", "r-acme")
    assert first != encroachment_case_id("salesforce", "9001", "r-acme")
    assert len(first) == 36


def test_a_registration_collides_with_a_direct_deal_found_by_the_matcher() -> None:
    opportunity = DirectOpportunity("9001", "hubspot", "n:acmeinc|US", NOW)
    candidates = [
        DirectCandidate(opportunity, customer=ACME_INC, product_line=ANY_LINE, linked=False)
    ]
    found = matching_direct_opportunity(ACME_CORP, "network-security", candidates, POLICY)
    assert found == opportunity


def test_a_direct_deal_on_another_account_or_line_does_not_collide() -> None:
    opportunity = DirectOpportunity("9001", "hubspot", "d:globex.com", NOW)
    other_account = DirectCandidate(opportunity, customer=GLOBEX, product_line=ANY_LINE)
    other_line = DirectCandidate(opportunity, customer=ACME_INC, product_line="endpoint")
    assert (
        matching_direct_opportunity(
            ACME_CORP, "network-security", [other_account, other_line], POLICY
        )
        is None
    )


def test_a_direct_deal_on_the_same_account_key_collides_whatever_its_spelling() -> None:
    opportunity = DirectOpportunity("9001", "hubspot", "d:acme.com", NOW)
    linked = DirectCandidate(opportunity, customer=GLOBEX, product_line=ANY_LINE, linked=True)
    assert matching_direct_opportunity(ACME_CORP, "network-security", [linked], POLICY) == (
        opportunity
    )


def test_what_the_crm_deal_carries_for_its_owner() -> None:
    assert crm_protected_until(NOW) == "partner-protected until 2026-12-02"


@pytest.mark.parametrize("until", [NOW, NOW + timedelta(days=90)])
def test_the_holder_is_told_without_naming_anyone(until: datetime) -> None:
    sentence = partner_notice(until)
    assert until.date().isoformat() in sentence
    assert "sales" in sentence
    for name in ("Northwind", "Acme", "hubspot", "9001"):
        assert name not in sentence


def test_each_resolution_has_a_partner_sentence() -> None:
    assert "stands" in resolution_notice("partner_keeps")
    assert "proceed" in resolution_notice("direct_proceeds")
    assert resolution_notice("acknowledged")


def test_the_published_rules_describe_the_guard() -> None:
    from conflict_resolver.policy_doc import render

    page = render(POLICY)
    assert "`DIRECT_ENCROACHMENT`" in page
    assert "names no product line counts for every line" in page
    assert "partner-protected until" in page
    for resolution in ("`acknowledged`", "`partner_keeps`", "`direct_proceeds`"):
        assert resolution in page
