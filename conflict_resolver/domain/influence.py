"""Influence claims: a partner declares it helped on a customer (DOMAIN.md, "Roles").

Pure. An influence claim is not exclusive, never blocks anyone, never waits in review and never
reveals other partners: it is decided here, apart from the rules of engagement, and never
enters the claims, protections, waitlists or first-to-register of :mod:`.rules`. It needs:

1. **Eligibility**: the partner is active and authorised for the product line; otherwise
   ``rejected`` ``PARTNER_INELIGIBLE`` or ``PRODUCT_NOT_AUTHORIZED``. (No minimum amount: the
   amount is the partner's view of the deal, not a claim on it.)
2. **House account**: when the policy rejects registrations on house accounts
   (``house_account_action: reject``), an influence claim on one is ``rejected``
   ``HOUSE_ACCOUNT`` too; when the policy sends them to review, it is accepted (a claim that
   protects nothing has nothing for a reviewer to decide).
3. Otherwise **accepted** (``INFLUENCE_ACCEPTED``), whether or not the account has an
   opportunity yet: the claim is recorded on the account and product line, and whichever
   sourced opportunity the account has, or gets later, carries it.

A second influence claim by the same partner on the same account and product line is refused
at intake (it reads only the partner's own registrations).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from conflict_resolver.domain.situation import HouseAccountHit, Submission

INFLUENCE_ACCEPTED = "INFLUENCE_ACCEPTED"


@dataclass(frozen=True)
class InfluenceVerdict:
    outcome: Literal["accepted", "rejected"]
    rule: str
    reason_code: str
    reason: str


def judge_influence(
    submission: Submission,
    *,
    house_account: HouseAccountHit | None,
    house_account_action: str,
) -> InfluenceVerdict:
    """Accept or reject an influence claim (the rules in this module's docstring, in order)."""
    if submission.partner_status != "active":
        return InfluenceVerdict(
            "rejected",
            "eligibility",
            "PARTNER_INELIGIBLE",
            "Your partner account is not active, so this influence cannot be recorded.",
        )
    lines = submission.partner_product_lines
    if lines is not None and submission.product_line not in lines:
        return InfluenceVerdict(
            "rejected",
            "eligibility",
            "PRODUCT_NOT_AUTHORIZED",
            f"Your partnership is not authorised for the product line {submission.product_line}.",
        )
    if house_account is not None and house_account_action == "reject":
        return InfluenceVerdict(
            "rejected",
            "house_account",
            "HOUSE_ACCOUNT",
            "This customer is reserved for the vendor's direct sales team.",
        )
    return InfluenceVerdict(
        "accepted",
        "influence",
        INFLUENCE_ACCEPTED,
        "Your influence on this opportunity is recorded. It gives no exclusivity and blocks "
        "no one.",
    )
