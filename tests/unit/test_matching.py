"""Customer-account matching: normalisation, domains, keys, scoring, classification, blocking."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conflict_resolver.domain.matching import (
    CandidateIndex,
    CustomerProfile,
    MatchEvidence,
    NormalisedCustomer,
    account_domain,
    account_key,
    blocking_keys,
    choose_probe_keys,
    classify,
    is_free_email_domain,
    normalise_company_name,
    normalise_customer,
    registrable_domain,
    score,
)


def customer(
    name: str, domain: str | None = None, country: str | None = None
) -> NormalisedCustomer:
    return normalise_customer(CustomerProfile(name=name, domain=domain, country=country))


# --- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["ACME Corp.", "Acme Corporation", "Acme Inc (US)", "ACME GmbH", "The ACME Corporation Inc."],
)
def test_legal_forms_case_punctuation_and_country_tags_reduce_to_the_bare_name(raw: str) -> None:
    assert normalise_company_name(raw) == "acme"


def test_legal_forms_are_stripped_until_none_is_left() -> None:
    assert normalise_company_name("Acme Co., Ltd.") == "acme"
    assert normalise_company_name("Henkel AG & Co. KGaA") == "henkel"
    assert normalise_company_name("SAP Deutschland SE & Co. KG") == "sap"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Enel S.p.A.", "enel"),
        ("Heineken N.V.", "heineken"),
        ("Novo Nordisk A/S", "novo nordisk"),
        ("Kowalski i Synowie Sp. z o.o.", "kowalski i synowie"),
        ("Grupo Bimbo, S.A.B. de C.V.", "grupo bimbo"),
        ("Atlassian Pty Ltd", "atlassian"),
        ("Axiata Group Bhd", "axiata"),
        ("Nokia Oyj", "nokia"),
        ("Gazprom PJSC", "gazprom"),
        ("OOO Yandex", "yandex"),
        ("AB Volvo", "volvo"),
        ("Kabushiki Kaisha Toshiba", "toshiba"),
        ("株式会社トヨタ", "トヨタ"),
    ],
)
def test_legal_forms_of_many_languages_are_stripped(raw: str, expected: str) -> None:
    assert normalise_company_name(raw) == expected


def test_accents_and_letters_without_decomposition_are_folded() -> None:
    assert normalise_company_name("Société Générale SA") == "societe generale"
    assert normalise_company_name("Ørsted A/S") == "orsted"
    assert normalise_company_name("A.P. Møller - Mærsk A/S") == "ap moller maersk"


def test_the_ampersand_and_apostrophes_are_evened_out() -> None:
    assert normalise_company_name("The Procter & Gamble Company") == "procter and gamble"
    assert normalise_company_name("McDonald's Corporation") == "mcdonalds"
    assert normalise_company_name("Moët et Chandon") == normalise_company_name("Moët & Chandon")


def test_initials_joined_by_an_ampersand_or_dots_become_one_word() -> None:
    assert normalise_company_name("AT&T Inc.") == "att"
    assert normalise_company_name("AT & T") == "att"
    assert normalise_company_name("I.B.M.") == "ibm"


def test_common_abbreviations_are_spelled_out() -> None:
    assert normalise_company_name("Intl Paper Co") == "international paper"
    assert normalise_company_name("Philip Morris Int'l") == "philip morris international"
    assert normalise_company_name("Midwest Mfg. Co.") == "midwest manufacturing"
    assert normalise_company_name("Keysight Tech") == normalise_company_name(
        "Keysight Technologies"
    )


def test_a_country_is_stripped_as_a_tag_but_kept_when_it_is_part_of_the_name() -> None:
    assert normalise_company_name("Acme UK Ltd") == "acme"
    assert normalise_company_name("Acme GmbH Germany") == "acme"
    assert normalise_company_name("Accenture, UK") == "accenture"
    assert normalise_company_name("Bank of China Limited") == "bank of china"
    assert normalise_company_name("Air France SA") == "air france"


def test_a_web_suffix_in_a_name_is_dropped() -> None:
    assert normalise_company_name("Amazon.com, Inc.") == "amazon"


def test_a_name_made_only_of_a_legal_form_keeps_it() -> None:
    assert normalise_company_name("Company") == "company"
    assert normalise_company_name("(Acme)") == "acme"


def test_trademark_signs_do_not_become_letters() -> None:
    assert normalise_company_name("Wire™") == "wire"


@given(st.text())
def test_normalising_a_normalised_name_changes_nothing(raw: str) -> None:
    normalised = normalise_company_name(raw)
    assert normalise_company_name(normalised) == normalised


@given(st.text(), st.text(), st.text())
def test_any_text_is_handled_without_an_error(name: str, domain: str, country: str) -> None:
    prepared = normalise_customer(CustomerProfile(name=name, domain=domain, country=country))
    evidence = score(prepared, prepared)
    assert 0.0 <= evidence.similarity <= 1.0
    assert isinstance(blocking_keys(prepared), list)


# --- domains -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "acme.com",
        "ACME.COM",
        "www.acme.com",
        "https://www.acme.com/contact?x=1",
        "http://sales.eu.acme.com:8080/",
        "bob.smith@acme.com",
        "mailto:bob@Acme.com",
        "acme.com.",
    ],
)
def test_registrable_domain_of_urls_hosts_and_email_addresses(raw: str) -> None:
    assert registrable_domain(raw) == "acme.com"


def test_registrable_domain_keeps_country_and_private_suffixes() -> None:
    assert registrable_domain("www.shop.acme.co.uk") == "acme.co.uk"
    assert registrable_domain("acme.com.au") == "acme.com.au"
    assert registrable_domain("https://acme.github.io/docs") == "acme.github.io"
    assert registrable_domain("acme.herokuapp.com") == "acme.herokuapp.com"


def test_international_domains_give_one_key_in_either_spelling() -> None:
    assert registrable_domain("müller.de") == registrable_domain("xn--mller-kva.de")


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "localhost", "192.168.1.1", "[::1]", "acme.notatld", "com", "co.uk", "acme .com"],
)
def test_registrable_domain_is_none_for_nonsense(raw: str) -> None:
    assert registrable_domain(raw) is None


@pytest.mark.parametrize(
    "domain", ["gmail.com", "outlook.com", "hotmail.co.uk", "yahoo.fr", "gmx.de", "qq.com"]
)
def test_free_email_domains_are_recognised(domain: str) -> None:
    assert is_free_email_domain(domain)


def test_a_company_domain_is_not_free_email() -> None:
    assert not is_free_email_domain("acme.com")


def test_free_email_and_shared_platform_pages_never_identify_an_account() -> None:
    assert account_domain("jane@gmail.com") is None
    assert account_domain("https://www.linkedin.com/company/acme") is None
    assert account_domain("acme.sharepoint.com") is None
    assert account_domain("www.linkedin.com") == "linkedin.com"
    assert account_domain("jane@linkedin.com") == "linkedin.com"


# --- account keys ------------------------------------------------------------------------------


def test_account_key_is_the_domain_when_there_is_a_usable_one() -> None:
    key = account_key(name="ACME Corp.", domain="https://www.acme.com/", country="US")
    assert key == "d:acme.com"
    assert account_key(name="Acme GmbH", domain="jane@acme.com", country="DE") == key


def test_account_key_falls_back_to_name_and_country_without_a_usable_domain() -> None:
    assert account_key(name="ACME Corp.", domain="bob@gmail.com", country="us") == "n:acme|US"
    assert account_key(name="Acme Inc (US)", domain=None, country=None) == "n:acme|-"
    assert account_key(name="Acme Ltd", domain=None, country="UK") == "n:acme|GB"


def test_account_key_refuses_a_name_without_letters_when_there_is_no_domain() -> None:
    with pytest.raises(ValueError, match="no letters or digits"):
        account_key(name="!!!", domain=None, country="US")


# --- scoring -----------------------------------------------------------------------------------


def test_the_same_registrable_domain_is_the_same_account_whatever_the_names() -> None:
    evidence = score(customer("Facebook", "www.meta.com"), customer("Meta Platforms", "meta.com"))
    assert evidence.similarity == 1.0
    assert evidence.same_domain
    assert "domain" in evidence.matched_fields


def test_spellings_of_one_company_score_as_the_same_account() -> None:
    evidence = score(customer("ACME Corp.", country="US"), customer("Acme Inc (US)", country="US"))
    assert evidence.similarity == 1.0
    assert evidence.country_match is True
    assert evidence.matched_fields == ("name", "country")


@pytest.mark.parametrize(
    ("name_a", "name_b"),
    [
        ("Apple", "Apple Leisure Group"),
        ("American Express", "American Airlines"),
        ("General Electric", "General Motors"),
        ("Delta Air Lines", "Delta Dental"),
        ("Acme", "Acne"),
    ],
)
def test_names_sharing_a_word_or_a_prefix_are_not_auto_matched(name_a: str, name_b: str) -> None:
    assert classify(score(customer(name_a), customer(name_b))) != "same"


def test_a_name_that_adds_only_generic_words_goes_to_review() -> None:
    assert classify(score(customer("Juniper"), customer("Juniper Networks"))) == "possible"


def test_initials_of_a_long_name_go_to_review() -> None:
    evidence = score(customer("IBM"), customer("International Business Machines"))
    assert classify(evidence) == "possible"


def test_a_typo_in_a_long_name_stays_close() -> None:
    evidence = score(customer("Berkshire Hathaway Inc."), customer("Berkshire Hathway"))
    assert evidence.name_score >= 0.9


def test_spacing_alone_does_not_separate_names() -> None:
    assert classify(score(customer("Acme Packet"), customer("AcmePacket"))) == "same"


def test_different_countries_send_an_identical_name_to_review() -> None:
    evidence = score(
        customer("Atlas Logistics", country="US"), customer("Atlas Logistics", country="IN")
    )
    assert evidence.country_match is False
    assert classify(evidence) == "possible"


def test_an_unknown_country_neither_helps_nor_hurts() -> None:
    evidence = score(customer("Atlas Logistics", country="US"), customer("Atlas Logistics"))
    assert evidence.country_match is None
    assert evidence.similarity == 1.0


def test_unrelated_domains_send_an_identical_name_to_review() -> None:
    a = customer("Summit Consulting", "summitconsulting.com")
    b = customer("Summit Consulting", "summitcg.net")
    assert classify(score(a, b)) == "possible"


def test_one_domain_label_under_two_suffixes_is_not_held_against_the_names() -> None:
    evidence = score(customer("Zalando SE", "zalando.de"), customer("Zalando", "zalando.com"))
    assert not evidence.same_domain
    assert evidence.similarity == 1.0
    assert "domain_label" in evidence.matched_fields


def test_free_email_addresses_do_not_make_two_companies_one() -> None:
    a = customer("Riverside Plumbing", "bob@gmail.com")
    b = customer("Hillside Roofing", "alice@gmail.com")
    evidence = score(a, b)
    assert not evidence.same_domain
    assert classify(evidence) == "different"


def test_scores_are_symmetric() -> None:
    a = customer("Hewlett Packard Enterprise", "hpe.com", "US")
    b = customer("Hewlett-Packard", None, "US")
    assert score(a, b) == score(b, a)


# --- classify ----------------------------------------------------------------------------------


def evidence_with(similarity: float, *, same_domain: bool = False) -> MatchEvidence:
    return MatchEvidence(
        similarity=similarity,
        same_domain=same_domain,
        name_score=similarity,
        country_match=None,
        matched_fields=(),
    )


def test_classify_uses_the_default_bands_of_rule_seven() -> None:
    assert classify(evidence_with(0.92)) == "same"
    assert classify(evidence_with(0.919)) == "possible"
    assert classify(evidence_with(0.80)) == "possible"
    assert classify(evidence_with(0.799)) == "different"


def test_classify_treats_the_same_domain_as_the_same_account() -> None:
    assert classify(evidence_with(0.1, same_domain=True)) == "same"


def test_classify_takes_the_policy_thresholds() -> None:
    evidence = evidence_with(0.9)
    assert classify(evidence, same_account_threshold=0.95, review_threshold=0.9) == "possible"
    assert classify(evidence, same_account_threshold=0.85) == "same"


# --- blocking ----------------------------------------------------------------------------------


def test_blocking_keys_cover_domain_name_rare_words_and_initials() -> None:
    keys = blocking_keys(customer("Palo Alto Networks, Inc.", "paloaltonetworks.com"))
    assert keys[:2] == ["d:paloaltonetworks.com", "n:paloaltonetworks"]
    assert {"t:palo", "t:alto"} <= set(keys)
    assert "t:networks" not in keys


def test_blocking_keys_of_a_name_made_of_generic_words_use_those_words() -> None:
    assert set(blocking_keys(customer("General Electric"))) == {
        "n:generalelectric",
        "t:general",
        "t:electric",
    }


def test_blocking_keys_do_not_depend_on_other_claims() -> None:
    acme = customer("Acme Widgets Ltd", "acme.co.uk")
    before = blocking_keys(acme)
    index = CandidateIndex()
    index.add("c1", customer("Acme Anvils"))
    assert blocking_keys(acme) == before


def test_candidates_find_spellings_typos_initials_and_domains() -> None:
    index = CandidateIndex()
    index.add("ibm", customer("International Business Machines"))
    index.add("verisign", customer("Verisign Inc"))
    index.add("meta", customer("Meta Platforms", "meta.com"))
    index.add("acme", customer("ACME Corporation"))
    assert index.candidates(customer("IBM")) == {"ibm"}
    assert index.candidates(customer("VeriSgn")) == {"verisign"}
    assert index.candidates(customer("Facebook", "https://www.meta.com")) == {"meta"}
    assert index.candidates(customer("Acme GmbH")) == {"acme"}


def test_candidates_leave_out_unrelated_claims() -> None:
    index = CandidateIndex()
    index.add("apple", customer("Apple Inc."))
    index.add("delta", customer("Delta Dental"))
    assert index.candidates(customer("Zenith Roofing")) == set()


def test_removed_and_refiled_claims_are_forgotten_under_their_old_keys() -> None:
    index = CandidateIndex()
    index.add("c1", customer("Acme Corp"))
    index.add("c1", customer("Zenith Roofing"))
    assert index.candidates(customer("Acme")) == set()
    index.remove("c1")
    index.remove("never-filed")
    assert index.candidates(customer("Zenith Roofing")) == set()
    assert len(index) == 0


def test_a_crowded_word_key_is_skipped_but_name_and_domain_keys_never_are() -> None:
    sizes = {"d:acme.com": 900, "n:acme": 900, "t:acme": 900, "t:anvils": 3, "k:nvls": 4}
    probe_keys = choose_probe_keys(sizes, lambda key: sizes[key], max_postings=100)
    assert probe_keys == ["d:acme.com", "n:acme", "t:anvils", "k:nvls"]


def test_only_the_two_rarest_word_keys_are_probed() -> None:
    sizes = {"t:one": 1, "t:two": 2, "t:three": 3, "k:a": 5, "k:b": 1}
    assert choose_probe_keys(sizes, lambda key: sizes[key]) == ["t:one", "t:two", "k:b"]


def test_candidate_work_stays_bounded_when_a_word_is_very_common() -> None:
    index = CandidateIndex(max_postings=50)
    for number in range(200):
        index.add(f"c{number}", customer(f"Acme {number}"))
    assert index.candidates(customer("Acme Anvils")) == set()
