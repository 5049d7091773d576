"""The direct-sales guard, pure: direct CRM deals against partners' protections.

Rules of engagement written here, in DOMAIN.md's words:

- A **direct opportunity** (an open CRM deal that dealreg did not create) is matched against
  the live claims as a registration is: the same blocking keys and the same matcher, the same
  thresholds. A deal naming no product line (filed under ``*``) counts for every line.
- **Direct encroachment**: a direct opportunity opened on an account a partner already
  protects opens a ``DIRECT_ENCROACHMENT`` case (the evidence, an SLA), the CRM deal shows its
  owner "partner-protected until <date>", and the holder is told in words that name no one.
- **Rule 4 at submission**: a registration on an account with an open direct opportunity, in
  its line or in none named, goes to review ``DIRECT_OPPORTUNITY_CONFLICT``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from conflict_resolver.domain.matching import NormalisedCustomer, score
from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.rules import DirectOpportunity, Match, classify_match
from conflict_resolver.domain.rules.facts import unexpired

ANY_LINE: Final = "*"
REASON_CODE: Final = "DIRECT_ENCROACHMENT"
RULE: Final = "direct_encroachment"
Resolution = Literal["acknowledged", "partner_keeps", "direct_proceeds"]
RESOLUTIONS: tuple[Resolution, ...] = ("acknowledged", "partner_keeps", "direct_proceeds")
# One case per direct deal and protected registration, whoever delivers the deal again.
_CASE_NAMESPACE: Final = uuid.UUID("5d7c8f0e-1530-4d1e-9a1e-d1eec7e0c0de")


def covers(direct_line: str, product_line: str) -> bool:
    """A direct deal naming no product line (``*``) counts for every line."""
    return direct_line in (ANY_LINE, product_line)


@dataclass(frozen=True)
class DirectDeal:
    """An open direct opportunity, as crm_sync reported it."""

    crm_system: str
    opportunity_id: str
    account_key: str
    product_line: str
    customer: NormalisedCustomer
    opened_at: datetime


@dataclass(frozen=True)
class HolderCandidate:
    """A claim blocking found for a direct deal, scored against its customer, and its line."""

    match: Match
    product_line: str


def encroached_holders(
    deal: DirectDeal, candidates: Iterable[HolderCandidate], policy: Policy, *, now: datetime
) -> list[HolderCandidate]:
    """The live protections of the same account, in a line the deal covers."""
    return [
        candidate
        for candidate in candidates
        if candidate.match.state == "protected"
        and unexpired(candidate.match, now)
        and covers(deal.product_line, candidate.product_line)
        and classify_match(candidate.match, policy) == "same"
    ]


def encroachment_evidence(
    deal: DirectDeal, holder: HolderCandidate, direct_customer: dict[str, Any]
) -> dict[str, Any]:
    """What sales ops see: the direct deal, and the protected claim with the matcher's scores."""
    match = holder.match
    return {
        "matches": [
            {
                "registration_id": match.registration_id,
                "partner_id": match.partner_id,
                "submission_seq": match.submission_seq,
                "protection_key": match.protection_key,
                "customer": match.customer,
                "similarity": match.evidence.similarity,
                "name_score": match.evidence.name_score,
                "same_domain": match.evidence.same_domain,
                "matched_fields": list(match.evidence.matched_fields),
                "classification": "same",
                "linked": match.linked,
                "state": "protected",
                "protection_expires_at": None
                if match.expires_at is None
                else match.expires_at.isoformat(),
            }
        ],
        "direct_opportunity": {
            "crm_system": deal.crm_system,
            "opportunity_id": deal.opportunity_id,
            "account_key": deal.account_key,
            "product_line": deal.product_line,
            "customer": direct_customer,
            "opened_at": deal.opened_at.isoformat(),
        },
        "protection_key": match.protection_key,
    }


def encroachment_case_id(crm_system: str, opportunity_id: str, registration_id: str) -> str:
    """The case of one direct deal against one protection: redelivery opens it once."""
    return str(uuid.uuid5(_CASE_NAMESPACE, f"{crm_system}|{opportunity_id}|{registration_id}"))


@dataclass(frozen=True)
class DirectCandidate:
    """An open direct opportunity blocking (or the account key) found for a registration."""

    opportunity: DirectOpportunity
    customer: NormalisedCustomer
    product_line: str
    linked: bool = False  # filed under one of the registration's account keys


def matching_direct_opportunity(
    customer: NormalisedCustomer,
    product_line: str,
    candidates: Iterable[DirectCandidate],
    policy: Policy,
) -> DirectOpportunity | None:
    """Rule 4's direct opportunity: the earliest open one on the same account (by the
    matcher's "same account", or the same account key) in this line or in none named."""
    same = [
        candidate.opportunity
        for candidate in candidates
        if covers(candidate.product_line, product_line)
        and (candidate.linked or _same_account(customer, candidate.customer, policy))
    ]
    return min(same, key=lambda o: o.opened_at) if same else None


def _same_account(ours: NormalisedCustomer, theirs: NormalisedCustomer, policy: Policy) -> bool:
    evidence = score(ours, theirs)
    return evidence.same_domain or evidence.similarity >= policy.matching.same_account


def crm_protected_until(protected_until: datetime) -> str:
    """What the direct deal's owner reads in the CRM (no partner named there either)."""
    return f"partner-protected until {protected_until.date().isoformat()}"


def partner_notice(protected_until: datetime) -> str:
    """What the holder reads: the fact, its protection, and no one's name."""
    return (
        "The vendor's sales team opened an opportunity on this account; your protection "
        f"until {protected_until.date().isoformat()} stands and sales operations will review it."
    )


_RESOLUTION_NOTICES: dict[Resolution, str] = {
    "acknowledged": "Sales operations reviewed the vendor's opportunity on this account.",
    "partner_keeps": (
        "Sales operations reviewed the vendor's opportunity on this account: your protection "
        "stands and the vendor's sales team steps back."
    ),
    "direct_proceeds": (
        "Sales operations reviewed the vendor's opportunity on this account: the vendor's sales "
        "team will proceed alongside your registration."
    ),
}


def resolution_notice(resolution: Resolution) -> str:
    """What the holder reads when ops resolve the case."""
    return _RESOLUTION_NOTICES[resolution]
