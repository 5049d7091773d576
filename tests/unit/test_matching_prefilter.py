"""`could_reach` lets the resolver skip scoring candidates one by one; it must never skip one
that `score` would put at or above the floor (or on the same domain)."""

from __future__ import annotations

import contextlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conflict_resolver.domain.matching import (
    CustomerProfile,
    NormalisedCustomer,
    could_reach,
    normalise_customer,
    score,
)
from tests.bench.bench_whatif import company
from tests.unit.test_matching_quality import ietf_pairs, ietf_spellings, labelled_pairs

FLOORS = (0.5, 0.7, 0.8, 0.84, 0.86, 0.92, 0.97, 1.0)


def customer(
    name: str, domain: str | None = None, country: str | None = None
) -> NormalisedCustomer:
    return normalise_customer(CustomerProfile(name=name, domain=domain, country=country))


def assert_never_skips_a_reachable_candidate(
    query: NormalisedCustomer, candidates: list[NormalisedCustomer], floor: float
) -> int:
    """Returns how many were skipped."""
    reach = could_reach(query, candidates, floor)
    assert len(reach) == len(candidates)
    for candidate, kept in zip(candidates, reach, strict=True):
        if not kept:
            evidence = score(query, candidate)
            assert not evidence.same_domain, (query, candidate)
            assert evidence.similarity < floor, (query, candidate, evidence)
    return reach.count(False)


def pair_groups() -> list[tuple[NormalisedCustomer, list[NormalisedCustomer]]]:
    pairs = labelled_pairs()
    with contextlib.suppress(FileNotFoundError):
        pairs += ietf_pairs(ietf_spellings())
    groups: dict[NormalisedCustomer, list[NormalisedCustomer]] = {}
    for pair in pairs:
        a, b = normalise_customer(pair.a), normalise_customer(pair.b)
        groups.setdefault(a, []).append(b)
        groups.setdefault(b, []).append(a)
    return list(groups.items())


@pytest.mark.parametrize("floor", FLOORS)
def test_no_labelled_or_real_pair_at_or_above_the_floor_is_skipped(floor: float) -> None:
    for query, candidates in pair_groups():
        assert_never_skips_a_reachable_candidate(query, candidates, floor)


@pytest.mark.parametrize("floor", FLOORS)
def test_made_up_companies_and_their_other_spellings_are_never_wrongly_skipped(
    floor: float,
) -> None:
    rng = random.Random(3)
    customers = [customer(*company(rng.randrange(300), rng), "US") for _ in range(600)]
    skipped = sum(
        assert_never_skips_a_reachable_candidate(query, customers, floor)
        for query in customers[:60]
    )
    if floor >= 0.8:  # the bound is worth having: most unrelated names are skipped
        assert skipped > len(customers) * 60 // 2


def test_the_special_cases_are_kept() -> None:
    ibm = customer("IBM", "ibm.com")
    candidates = [
        customer("International Business Machines"),  # initials: 0.84
        customer("Juniper"),
        customer("Juniper Networks Group"),  # only generic words differ: 0.86
        customer("Totally Different", "ibm.com"),  # same domain: 1.0
    ]
    assert could_reach(ibm, candidates[:1] + candidates[3:], 0.8) == [True, True]
    assert could_reach(customer("Juniper Networks"), candidates[1:3], 0.8) == [True, True]
    assert could_reach(customer("Zzyzx", "ibm.com"), candidates[3:], 0.99) == [True]
    assert could_reach(ibm, [], 0.8) == []


names = st.text(alphabet="abcdefg ixyz&.-", min_size=0, max_size=25)
domains = st.one_of(st.none(), st.sampled_from(["a.com", "b.com", "a.de", "gmail.com"]))
countries = st.one_of(st.none(), st.sampled_from(["US", "DE"]))
profiles = st.builds(customer, names, domains, countries)


@settings(max_examples=300, deadline=None)
@given(profiles, st.lists(profiles, max_size=8), st.sampled_from(FLOORS))
def test_any_names_never_lose_a_candidate_at_or_above_the_floor(
    query: NormalisedCustomer, candidates: list[NormalisedCustomer], floor: float
) -> None:
    assert_never_skips_a_reachable_candidate(query, candidates, floor)
