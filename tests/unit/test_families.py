"""Company families and aliases from the CRM (``domain.families``): pure, no fixtures."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from conflict_resolver.domain.families import (
    AccountContext,
    CrmCompany,
    account_context,
    company_lock_keys,
    company_lookup_keys,
    customer_lookup_keys,
    find_company,
    protection_keys,
)
from conflict_resolver.domain.matching import CustomerProfile, normalise_customer, score
from conflict_resolver.domain.policy import CompanyFamiliesPolicy, Policy
from conflict_resolver.domain.replay import PastRegistration, replay
from conflict_resolver.domain.rules import Match, Situation, Submission, decide

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

ACME = CrmCompany(
    crm_system="hubspot",
    company_id="1",
    account_key="d:acme.com",
    name="Acme Corporation",
    domains=("acme.com", "acme-widgets.io"),
    former_names=("Roadrunner Supplies Inc",),
    country="US",
)
GLOBEX = CrmCompany(
    crm_system="hubspot",
    company_id="10",
    account_key="d:globex.com",
    name="Globex Holdings",
    domains=("globex.com",),
)
INITECH = CrmCompany(
    crm_system="hubspot",
    company_id="11",
    account_key="d:initech.com",
    name="Initech",
    domains=("initech.com",),
    parent_company_id="10",
)
INITECH_LABS = replace(
    INITECH,
    company_id="12",
    account_key="d:initechlabs.com",
    name="Initech Labs",
    domains=("initechlabs.com",),
    parent_company_id="11",
)
COMPANIES = (ACME, GLOBEX, INITECH, INITECH_LABS)


def found(name: str, domain: str | None = None, country: str | None = "US") -> str | None:
    hit = find_company(name=name, domain=domain, country=country, companies=COMPANIES)
    return None if hit is None else f"{hit.company.company_id}:{hit.matched_by}"


def test_a_company_is_found_by_its_primary_domain_whatever_the_spelling() -> None:
    assert found("Some Other Name", "https://www.acme.com/about") == "1:domain"


def test_an_alias_domain_maps_to_the_crm_company() -> None:
    assert found("Acme Widgets", "shop.acme-widgets.io") == "1:alias_domain"


def test_a_former_name_maps_to_the_crm_company() -> None:
    assert found("ROADRUNNER SUPPLIES, Inc.") == "1:former_name"


def test_the_current_name_maps_to_the_crm_company() -> None:
    assert found("ACME Corp.") == "1:name"


def test_a_name_in_another_country_is_not_the_company() -> None:
    assert found("Acme Corporation", country="DE") is None


def test_a_name_with_a_domain_the_company_does_not_list_is_not_the_company() -> None:
    assert found("Acme Corporation", "acme-rockets.com") is None


def test_an_unknown_customer_is_no_company() -> None:
    assert found("Roadrunner Logistics", "roadrunner.example") is None


def test_lookup_keys_of_customer_and_company_meet_on_aliases() -> None:
    filed = set(company_lookup_keys(ACME))
    assert set(customer_lookup_keys(name="Roadrunner Supplies", domain=None)) & filed
    assert set(customer_lookup_keys(name="x", domain="acme-widgets.io")) & filed
    assert not set(customer_lookup_keys(name="Globex", domain="gmail.com")) & filed


def context(company: CrmCompany, companies: tuple[CrmCompany, ...] = COMPANIES) -> AccountContext:
    hit = find_company(
        name=company.name, domain=company.domains[0], country=None, companies=companies
    )
    assert hit is not None
    return account_context(hit, companies)


def test_a_subsidiary_knows_its_parent_and_its_family_root() -> None:
    labs = context(INITECH_LABS)
    assert labs.relation == "subsidiary of Initech"
    assert labs.family_root_name == "Globex Holdings"
    assert labs.family_root_key == "d:globex.com"
    assert {"d:globex.com", "d:initech.com", "d:initechlabs.com"} <= set(labs.family_keys)
    assert context(GLOBEX).relation == "parent company"


def test_a_company_without_parent_or_children_has_no_family() -> None:
    acme = context(ACME)
    assert acme.relation is None
    assert acme.family_root_key is None
    assert "n:roadrunner supplies|US" in acme.alias_keys


def test_a_parent_cycle_in_the_crm_does_not_loop() -> None:
    a = replace(GLOBEX, parent_company_id="11")
    ctx = context(INITECH, (a, INITECH))
    assert ctx.family_root_key in {"d:globex.com", "d:initech.com"}


def test_separate_families_keep_each_company_its_own_account() -> None:
    ctx = context(INITECH)
    key, linked = protection_keys(ctx, "separate", default_key="n:initech|US")
    assert key == "d:initech.com"
    assert "d:globex.com" not in linked


def test_one_account_families_compete_under_the_top_parent() -> None:
    ctx = context(INITECH_LABS)
    key, linked = protection_keys(ctx, "one_account", default_key="d:initechlabs.com")
    assert key == "d:globex.com"
    assert {"d:globex.com", "d:initech.com"} <= linked


def test_without_a_crm_company_the_registration_keeps_its_key() -> None:
    assert protection_keys(None, "one_account", default_key="d:x.com") == (
        "d:x.com",
        frozenset({"d:x.com"}),
    )


def test_the_evidence_round_trips_for_the_what_if() -> None:
    ctx = context(INITECH_LABS)
    assert AccountContext.from_evidence(ctx.as_evidence()) == ctx


def test_the_family_policy_is_per_product_line_over_the_default() -> None:
    families = CompanyFamiliesPolicy(mode="separate", product_lines={"endpoint": "one_account"})
    assert families.mode_for("endpoint") == "one_account"
    assert families.mode_for("network-security") == "separate"
    with pytest.raises(ValidationError):
        CompanyFamiliesPolicy(mode="per_family")  # type: ignore[arg-type]


# --- through the rules ------------------------------------------------------------------------


def submission(account_key: str) -> Submission:
    return Submission(
        registration_id="r-new",
        submission_seq=10,
        partner_id="p-b",
        partner_tier="silver",
        account_key=account_key,
        product_line="network-security",
        amount=Decimal(25000),
    )


def holder(protection_key: str, name: str, domain: str) -> Match:
    theirs = normalise_customer(CustomerProfile(name, domain, "US"))
    return Match(
        registration_id="r-a",
        partner_id="p-a",
        submission_seq=5,
        protection_key=protection_key,
        state="protected",
        evidence=score(normalise_customer(CustomerProfile("Initech", "initech.com", "US")), theirs),
        expires_at=NOW + timedelta(days=30),
        linked=True,
    )


def test_a_subsidiary_under_one_account_is_already_registered_with_the_family_as_evidence() -> None:
    policy = Policy(company_families=CompanyFamiliesPolicy(mode="one_account"))
    situation = Situation(
        matches=(holder("d:globex.com", "Globex Holdings", "globex.com"),),
        company=context(INITECH),
    )
    decision = decide(submission("d:initech.com"), situation, policy, now=NOW)
    assert decision.reason_code == "ALREADY_REGISTERED"
    assert decision.protection_key == "d:globex.com"
    company = decision.evidence["crm_company"]
    assert company["relation"] == "subsidiary of Globex Holdings"
    assert company["family_policy"] == "one_account"


def test_a_registration_naming_a_former_name_is_held_under_the_crm_account_key() -> None:
    hit = find_company(name="Roadrunner Supplies", domain=None, country="US", companies=COMPANIES)
    assert hit is not None
    situation = Situation(company=account_context(hit, COMPANIES))
    decision = decide(submission("n:roadrunner supplies|US"), situation, Policy(), now=NOW)
    assert decision.outcome == "approved"
    assert decision.protection_key == "d:acme.com"
    assert decision.evidence["crm_company"]["matched_by"] == "former_name"


# --- the what-if ------------------------------------------------------------------------------


def recorded_past(seq: int, partner: str, company: CrmCompany) -> PastRegistration:
    """Approved under ``separate``, with the CRM company in its evidence, as the resolver
    records it."""
    ctx = context(company)
    return PastRegistration(
        submission=replace(
            submission(company.account_key),
            registration_id=f"r{seq}",
            submission_seq=seq,
            partner_id=partner,
        ),
        customer={"name": company.name, "domain": company.domains[0], "country": "US"},
        submitted_at=NOW + timedelta(minutes=seq),
        decided_at=NOW + timedelta(minutes=seq),
        outcome="approved",
        rule=None,
        reason_code=None,
        evidence={"crm_company": {**ctx.as_evidence(), "family_policy": "separate"}},
    )


def test_the_what_if_shows_a_family_counted_as_one_account() -> None:
    history = [recorded_past(1, "p-a", GLOBEX), recorded_past(2, "p-b", INITECH)]
    assert replay(history, Policy()).changed == ()
    one = Policy(company_families=CompanyFamiliesPolicy(mode="one_account"))
    [change] = replay(history, one).changed
    assert change.registration_id == "r2"
    assert change.after["reason_code"] == "ALREADY_REGISTERED"
    other_line = CompanyFamiliesPolicy(product_lines={"endpoint": "one_account"})
    assert replay(history, Policy(company_families=other_line)).changed == ()


def test_decisions_on_one_company_or_family_lock_its_keys_whatever_the_spelling() -> None:
    assert company_lock_keys(None) == []
    assert company_lock_keys(context(ACME)) == ["c:d:acme.com"]
    assert company_lock_keys(context(INITECH)) == ["c:d:initech.com", "c:d:globex.com"]
