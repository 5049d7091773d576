"""Which house (named) account a customer is: rule 3 reads it from the latest list."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from conflict_resolver.adapters.policy_store import HouseAccountList
from conflict_resolver.domain.matching import (
    CandidateIndex,
    CustomerProfile,
    NormalisedCustomer,
    account_key,
    classify,
    normalise_customer,
    score,
)
from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.rules import HouseAccountHit


@dataclass(frozen=True)
class _HouseIndex:
    names: dict[str, tuple[str, NormalisedCustomer]]  # index id -> (name, normalised)
    keys: dict[str, str]  # account key -> name
    index: CandidateIndex


@functools.lru_cache(maxsize=8)
def _house_index(version: int, accounts: HouseAccountList) -> _HouseIndex:
    index = CandidateIndex()
    names: dict[str, tuple[str, NormalisedCustomer]] = {}
    keys: dict[str, str] = {}
    for number, account in enumerate(accounts.accounts):
        norm = normalise_customer(CustomerProfile(account.name, account.domain, account.country))
        index.add(str(number), norm)
        names[str(number)] = (account.name, norm)
        try:
            keys[account_key(name=account.name, domain=account.domain, country=account.country)] = (
                account.name
            )
        except ValueError:
            continue
    return _HouseIndex(names=names, keys=keys, index=index)


def house_account_hit(
    house: tuple[int, HouseAccountList],
    customer: NormalisedCustomer,
    key: str,
    policy: Policy,
) -> HouseAccountHit | None:
    """The house account this customer is: the same account key, or a same-account match."""
    version, accounts = house
    if not accounts.accounts:
        return None
    built = _house_index(version, accounts)
    if key in built.keys:
        return HouseAccountHit(name=built.keys[key], account_key=key, similarity=1.0)
    best: HouseAccountHit | None = None
    for candidate in sorted(built.index.candidates(customer)):
        name, norm = built.names[candidate]
        evidence = score(customer, norm)
        same = classify(
            evidence,
            same_account_threshold=policy.matching.same_account,
            review_threshold=policy.matching.review,
        )
        if same == "same" and (best is None or evidence.similarity > best.similarity):
            best = HouseAccountHit(name=name, account_key=key, similarity=evidence.similarity)
    return best
