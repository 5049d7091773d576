"""Company families and aliases from the CRM: which CRM company a customer is, and its family.

The CRM knows a company by more than one spelling: its name, its former names, its primary
domain and alias domains, and its parent company. A registration that names any of them is
the CRM company (:func:`find_company`), so it competes under the company's account key with
every other registration of that company. Parent and subsidiary form a family
(:func:`account_context`); the policy says whether a family counts as one account
(``one_account``) or each company as its own (``separate``, the default), overall or per
product line (:func:`protection_keys`).

Only exact identities count here: the registrable domain (alias domains included) or the
normalised name (former names included). Fuzzy spellings are ``matching``'s business. Pure:
no database, network or clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from schemas.accounts import account_domain, normalise_company_name
from schemas.accounts import normalise_country as _country

FamilyMode = Literal["separate", "one_account"]
MatchedBy = Literal["domain", "alias_domain", "name", "former_name"]

_MAX_FAMILY_DEPTH: Final = 10  # a parent chain longer than this (or a cycle) is cut here
_MATCH_ORDER: Final[Mapping[str, int]] = {
    "domain": 0,
    "alias_domain": 1,
    "name": 2,
    "former_name": 3,
}


@dataclass(frozen=True)
class CrmCompany:
    """A company as the CRM describes it (``schemas.companies.CrmCompanyUpserted``)."""

    crm_system: str
    company_id: str
    account_key: str
    name: str
    domains: tuple[str, ...] = ()  # the primary domain first, then the aliases
    former_names: tuple[str, ...] = ()
    country: str | None = None
    parent_company_id: str | None = None

    @property
    def ref(self) -> tuple[str, str]:
        return (self.crm_system, self.company_id)


def company_lookup_keys(company: CrmCompany) -> list[str]:
    """The keys a company is filed under: each usable domain and each normalised name."""
    keys = [f"d:{d}" for d in (account_domain(raw) for raw in company.domains) if d]
    names = (normalise_company_name(n) for n in (company.name, *company.former_names))
    keys.extend(f"n:{name}" for name in names if name)
    return list(dict.fromkeys(keys))


def customer_lookup_keys(*, name: str, domain: str | None) -> list[str]:
    """The keys to look a registration's customer up by (the same shapes as above)."""
    keys = []
    usable = account_domain(domain)
    if usable:
        keys.append(f"d:{usable}")
    normalised = normalise_company_name(name)
    if normalised:
        keys.append(f"n:{normalised}")
    return keys


@dataclass(frozen=True)
class CompanyHit:
    """The CRM company a customer is, and the identity that says so."""

    company: CrmCompany
    matched_by: MatchedBy
    matched_value: str


def _hits(
    company: CrmCompany, *, domain: str | None, name: str, country: str | None
) -> Iterable[CompanyHit]:
    domains = [account_domain(raw) for raw in company.domains]
    if domain is not None and domain in domains:
        kind: MatchedBy = "domain" if domains.index(domain) == 0 else "alias_domain"
        yield CompanyHit(company, kind, domain)
    theirs = _country(company.country)
    if not name or (country is not None and theirs is not None and country != theirs):
        return
    if domain is not None and any(domains) and domain not in domains:
        return  # both name a domain and they differ: the same name is not enough
    if normalise_company_name(company.name) == name:
        yield CompanyHit(company, "name", company.name)
    for former in company.former_names:
        if normalise_company_name(former) == name:
            yield CompanyHit(company, "former_name", former)


def find_company(
    *, name: str, domain: str | None, country: str | None, companies: Iterable[CrmCompany]
) -> CompanyHit | None:
    """The CRM company this customer is: one of its domains (primary or alias) is the
    customer's registrable domain, or its name or a former name is the customer's name (and
    the countries do not disagree). A domain beats a name; ties go to the lowest id, so the
    answer does not depend on the order companies arrived in."""
    usable = account_domain(domain)
    normalised = normalise_company_name(name)
    wanted = _country(country)
    hits = [
        hit
        for company in companies
        for hit in _hits(company, domain=usable, name=normalised, country=wanted)
    ]
    return min(
        hits,
        key=lambda h: (_MATCH_ORDER[h.matched_by], h.company.crm_system, h.company.company_id),
        default=None,
    )


def alias_keys(company: CrmCompany) -> tuple[str, ...]:
    """Every account key a registration of this company may carry (``account_key`` of each
    domain, and of each name in the company's country): holders under any of them are this
    company's holders."""
    keys = [company.account_key]
    keys.extend(f"d:{d}" for d in (account_domain(raw) for raw in company.domains) if d)
    country = _country(company.country) or "-"
    names = (normalise_company_name(n) for n in (company.name, *company.former_names))
    keys.extend(f"n:{name}|{country}" for name in names if name)
    return tuple(dict.fromkeys(keys))


def ancestors(
    company: CrmCompany, by_ref: Mapping[tuple[str, str], CrmCompany]
) -> list[CrmCompany]:
    """The company's parent, grandparent, ... as far as the CRM knows them (cycle-safe)."""
    chain: list[CrmCompany] = []
    seen = {company.ref}
    current = company
    while current.parent_company_id and len(chain) < _MAX_FAMILY_DEPTH:
        parent = by_ref.get((current.crm_system, current.parent_company_id))
        if parent is None or parent.ref in seen:
            break
        chain.append(parent)
        seen.add(parent.ref)
        current = parent
    return chain


@dataclass(frozen=True)
class AccountContext:
    """What the CRM says about a registration's customer, whatever the policy: the company,
    how it was recognised, and its family. Recorded in the decision's evidence (so the what-if
    can decide again under another family policy) and shown to reviewers."""

    crm_system: str
    company_id: str
    name: str
    account_key: str
    matched_by: MatchedBy
    matched_value: str
    alias_keys: tuple[str, ...]
    parent_name: str | None = None
    family_root_name: str | None = None
    family_root_key: str | None = None  # None: the company has no known family
    family_keys: tuple[str, ...] = ()  # every member's alias keys

    @property
    def relation(self) -> str | None:
        """ "subsidiary of X" for a company with a parent; "parent company" for a family's
        root; None outside a family."""
        if self.parent_name is not None:
            return f"subsidiary of {self.parent_name}"
        if self.family_root_key is not None:
            return "parent company"
        return None

    def as_evidence(self) -> dict[str, Any]:
        return {
            "crm_system": self.crm_system,
            "company_id": self.company_id,
            "name": self.name,
            "account_key": self.account_key,
            "matched_by": self.matched_by,
            "matched_value": self.matched_value,
            "alias_keys": list(self.alias_keys),
            "parent_name": self.parent_name,
            "family_root_name": self.family_root_name,
            "family_root_key": self.family_root_key,
            "family_keys": list(self.family_keys),
            "relation": self.relation,
        }

    @classmethod
    def from_evidence(cls, raw: Mapping[str, Any]) -> AccountContext:
        return cls(
            crm_system=raw["crm_system"],
            company_id=raw["company_id"],
            name=raw["name"],
            account_key=raw["account_key"],
            matched_by=raw["matched_by"],
            matched_value=raw["matched_value"],
            alias_keys=tuple(raw.get("alias_keys", ())),
            parent_name=raw.get("parent_name"),
            family_root_name=raw.get("family_root_name"),
            family_root_key=raw.get("family_root_key"),
            family_keys=tuple(raw.get("family_keys", ())),
        )


def account_context(hit: CompanyHit, companies: Iterable[CrmCompany]) -> AccountContext:
    """The context of a recognised company: its aliases, and its family as far as
    ``companies`` tells (they must include its ancestors and the root's descendants)."""
    known = list(companies)
    by_ref = {c.ref: c for c in known}
    company = hit.company
    chain = ancestors(company, by_ref)
    root = chain[-1] if chain else company
    members = [c for c in known if c.ref == root.ref or _root_of(c, by_ref).ref == root.ref]
    in_family = len(members) > 1
    return AccountContext(
        crm_system=company.crm_system,
        company_id=company.company_id,
        name=company.name,
        account_key=company.account_key,
        matched_by=hit.matched_by,
        matched_value=hit.matched_value,
        alias_keys=alias_keys(company),
        parent_name=chain[0].name if chain else None,
        family_root_name=root.name if in_family else None,
        family_root_key=root.account_key if in_family else None,
        family_keys=tuple(
            dict.fromkeys(
                key for member in sorted(members, key=lambda c: c.ref) for key in alias_keys(member)
            )
        )
        if in_family
        else (),
    )


def _root_of(company: CrmCompany, by_ref: Mapping[tuple[str, str], CrmCompany]) -> CrmCompany:
    chain = ancestors(company, by_ref)
    return chain[-1] if chain else company


def protection_keys(
    context: AccountContext | None, mode: FamilyMode, *, default_key: str
) -> tuple[str, frozenset[str]]:
    """The account key the customer's protection is held under, and every key whose holders
    are the same account: the company's under ``separate``, the family's (under the root's
    key) under ``one_account``. Without a CRM company: the registration's own key."""
    if context is None:
        return default_key, frozenset({default_key})
    if mode == "one_account" and context.family_root_key is not None:
        return context.family_root_key, frozenset({default_key, *context.family_keys})
    return context.account_key, frozenset({default_key, *context.alias_keys})


def company_lock_keys(context: AccountContext | None) -> list[str]:
    """Lock names for a decision on this company's customers: the company's and its top
    parent's (whatever the policy, so a policy change never lets two decisions race)."""
    if context is None:
        return []
    keys = [f"c:{context.account_key}"]
    if context.family_root_key is not None:
        keys.append(f"c:{context.family_root_key}")
    return keys
