"""Typo-tolerant names (issue 17): a transposed, dropped or added letter in a long distinctive
word is the same word; short and generic words are never merged; names that differ in the
word that tells them apart are not sent to review."""

import pytest

from conflict_resolver.domain.matching import (
    CandidateIndex,
    CustomerProfile,
    NormalisedCustomer,
    classify,
    normalise_customer,
    score,
)


def customer(name: str, domain: str | None = None) -> NormalisedCustomer:
    return normalise_customer(CustomerProfile(name=name, domain=domain))


@pytest.mark.parametrize(
    ("name_a", "name_b"),
    [
        ("Mircosoft", "Microsoft"),  # transposition
        ("Mircosoft Corp", "Microsoft Corporation"),
        ("Micrsoft", "Microsoft"),  # deletion
        ("Microssoft", "Microsoft"),  # insertion
        ("Acme Technolgies", "Acme Technologies"),  # a generic word misspelt
        ("Yokgoawa Electric", "Yokogawa Electric"),
    ],
)
def test_one_slip_in_a_long_distinctive_word_is_the_same_account(name_a: str, name_b: str) -> None:
    evidence = score(customer(name_a), customer(name_b))
    assert classify(evidence) == "same", evidence


@pytest.mark.parametrize(
    ("name_a", "name_b"),
    [
        ("Marvel", "Marvell"),  # six letters and one added: two companies
        ("Acme", "Acne"),
        ("Intel", "Itnel"),  # short words are never merged
        ("Vintela", "Viptela"),  # two substitutions
        ("Nortel", "Norte"),
        ("Rational Software", "National Software"),  # a substitution, not a slip of the hand
        ("Level3 Networks", "Level4 Networks"),
    ],
)
def test_short_words_and_other_edits_are_not_merged(name_a: str, name_b: str) -> None:
    assert classify(score(customer(name_a), customer(name_b))) != "same"


def test_a_misspelt_generic_word_stays_generic() -> None:
    # "Technolgies" is "technology": it must not make two names share a distinctive word.
    evidence = score(customer("Acme Technolgies"), customer("Zenith Technologies"))
    assert classify(evidence) == "different"


@pytest.mark.parametrize(
    ("name_a", "name_b"),
    [
        ("Summit Health", "Summit Materials"),
        ("Delta Health", "Delta Airlines"),
        ("Juniper Networks", "Juniper Bank"),
    ],
)
def test_names_sharing_only_their_first_word_are_not_sent_to_review(
    name_a: str, name_b: str
) -> None:
    evidence = score(customer(name_a), customer(name_b))
    assert classify(evidence) == "different", evidence


@pytest.mark.parametrize(
    ("name_a", "name_b"),
    [
        ("Juniper", "Juniper Networks"),
        ("Check Point Software", "Check Point Software Technologies"),
    ],
)
def test_a_name_that_only_adds_generic_words_still_goes_to_review(name_a: str, name_b: str) -> None:
    assert classify(score(customer(name_a), customer(name_b))) == "possible"


@pytest.mark.parametrize(
    ("name_a", "name_b"),
    [("Cloudflare", "University of Turin"), ("Itscom", "University of Michigan")],
)
def test_a_long_single_word_is_not_taken_for_the_initials_of_another_name(
    name_a: str, name_b: str
) -> None:
    # Neither has initials: an absent acronym on both sides is no evidence.
    assert classify(score(customer(name_a), customer(name_b))) == "different"


def test_typo_tolerance_is_symmetric() -> None:
    a, b = customer("Mircosoft Research"), customer("Microsoft")
    assert score(a, b) == score(b, a)


@pytest.mark.parametrize(
    ("filed", "query"),
    [("Microsoft", "Mircosoft"), ("Yokogawa Electric", "Yokgoawa"), ("Microsoft", "Microssoft")],
)
def test_the_candidate_index_finds_a_name_from_its_slip(filed: str, query: str) -> None:
    index = CandidateIndex()
    index.add("claim-1", customer(filed))
    assert index.candidates(customer(query)) == {"claim-1"}
