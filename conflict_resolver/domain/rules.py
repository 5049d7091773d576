"""The rules of engagement as a pure function of (registration, what it may collide with,
policy, now) to a decision with its evidence.

Each rule's docstring says the rule in the words of DOMAIN.md; they run in its order and the
first that fires decides. Decisions carry the rule that fired, a reason code, the evidence
(matched registrations, fields, scores) for sales ops, and a sentence the partner may read,
which never names another partner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from conflict_resolver.domain.matching import MatchClass, classify
from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.situation import (
    ClaimState,
    Decision,
    DirectOpportunity,
    HouseAccountHit,
    Incumbent,
    Match,
    Outcome,
    Situation,
    Submission,
)

__all__ = [
    "RULES",
    "ClaimState",
    "Decision",
    "DirectOpportunity",
    "HouseAccountHit",
    "Incumbent",
    "Match",
    "Outcome",
    "Situation",
    "Submission",
    "classify_match",
    "decide",
]
_RENEWALS = frozenset({"renewal", "upsell"})


@dataclass(frozen=True)
class _Facts:
    """The situation as the rules read it: matches classified with the policy's thresholds."""

    submission: Submission
    situation: Situation
    policy: Policy
    now: datetime
    same: tuple[Match, ...]
    possible: tuple[Match, ...]
    protection_key: str

    def live_holder(self) -> Match | None:
        """The same-account claim holding unexpired protection, if any."""
        holders = [m for m in self.same if m.state == "protected" and _unexpired(m, self.now)]
        return min(holders, key=lambda m: m.submission_seq, default=None)


def _unexpired(match: Match, now: datetime) -> bool:
    return match.expires_at is not None and match.expires_at > now


def _is_live(match: Match, now: datetime) -> bool:
    if match.state == "protected":
        return _unexpired(match, now)
    return match.state in ("in_review", "waitlisted")


def classify_match(match: Match, policy: Policy) -> MatchClass:
    """Same, possible or different account, with the policy's thresholds. A claim linked
    through the canonical account key is the same account whatever its spelling."""
    if match.linked:
        return "same"
    return classify(
        match.evidence,
        same_account_threshold=policy.matching.same_account,
        review_threshold=policy.matching.review,
    )


def canonical_protection_key(submission: Submission, same: tuple[Match, ...], now: datetime) -> str:
    """The one account key under which this customer's protection is held.

    A fuzzy match may carry another account key (and sit on another partition); adopting the
    holder's key, else the earliest same-account claim's, makes every claim on one company
    compete for one ``protections`` row, whose primary key then refuses a second.
    """
    holders = [m for m in same if m.state == "protected" and _unexpired(m, now)]
    pool = holders or list(same)
    if not pool:
        return submission.account_key
    return min(pool, key=lambda m: m.submission_seq).protection_key


def decide(
    submission: Submission, situation: Situation, policy: Policy, *, now: datetime
) -> Decision:
    """Apply the rules in DOMAIN.md's order; the first that fires decides."""
    others = tuple(m for m in situation.matches if m.registration_id != submission.registration_id)
    classified = [(m, classify_match(m, policy)) for m in others]
    same = tuple(m for m, kind in classified if kind == "same")
    facts = _Facts(
        submission=submission,
        situation=situation,
        policy=policy,
        now=now,
        same=same,
        possible=tuple(m for m, kind in classified if kind == "possible"),
        protection_key=canonical_protection_key(submission, same, now),
    )
    evidence = build_evidence(facts)
    for rule in RULES:
        decision = rule(facts)
        if decision is not None:
            return _with(decision, facts, evidence)
    return _with(approve(facts), facts, evidence)


def _with(decision: Decision, facts: _Facts, evidence: dict[str, Any]) -> Decision:
    return replace(
        decision,
        protection_key=facts.protection_key,
        evidence={**evidence, **decision.evidence},
    )


def build_evidence(facts: _Facts) -> dict[str, Any]:
    """What sales ops see: each same or possible match with its scores and matched fields."""
    direct = facts.situation.direct_opportunity
    incumbent = facts.situation.incumbent
    house = facts.situation.house_account
    return {
        "matches": [_match_evidence(m, "same", facts.now) for m in facts.same]
        + [_match_evidence(m, "possible", facts.now) for m in facts.possible],
        "direct_opportunity": None
        if direct is None
        else {
            "opportunity_id": direct.opportunity_id,
            "crm_system": direct.crm_system,
            "account_key": direct.account_key,
            "opened_at": direct.opened_at.isoformat(),
        },
        "incumbent": None
        if incumbent is None
        else {
            "partner_id": incumbent.partner_id,
            "registration_id": incumbent.registration_id,
            "won_at": incumbent.won_at.isoformat(),
        },
        "house_account": None
        if house is None
        else {"name": house.name, "account_key": house.account_key, "similarity": house.similarity},
        "protection_key": facts.protection_key,
    }


def _match_evidence(match: Match, classification: str, now: datetime) -> dict[str, Any]:
    return {
        "registration_id": match.registration_id,
        "partner_id": match.partner_id,
        "submission_seq": match.submission_seq,
        "protection_key": match.protection_key,
        "customer": match.customer,
        "similarity": match.evidence.similarity,
        "name_score": match.evidence.name_score,
        "same_domain": match.evidence.same_domain,
        "matched_fields": list(match.evidence.matched_fields),
        "classification": classification,
        "state": match.state if _is_live(match, now) or match.state == "won" else "ended",
        "protection_expires_at": None if match.expires_at is None else match.expires_at.isoformat(),
    }


# --- 1. Eligibility ---------------------------------------------------------------------------


def eligibility(facts: _Facts) -> Decision | None:
    """The partner is active, authorised for the product line, and the amount is at or above
    the minimum (other currencies convert with the policy's rates). Otherwise rejected with
    ``PARTNER_INELIGIBLE``, ``PRODUCT_NOT_AUTHORIZED`` or ``BELOW_MINIMUM``."""
    sub, policy = facts.submission, facts.policy
    if sub.partner_status != "active":
        return _rejected(
            "eligibility",
            "PARTNER_INELIGIBLE",
            "Your partner account is not active, so this registration cannot be protected.",
        )
    if sub.partner_product_lines is not None and sub.product_line not in sub.partner_product_lines:
        return _rejected(
            "eligibility",
            "PRODUCT_NOT_AUTHORIZED",
            f"Your partnership is not authorised to register the product line {sub.product_line}.",
        )
    in_base = policy.to_base_currency(sub.amount, sub.currency)
    minimum = policy.minimum_for(sub.product_line)
    if in_base is None:
        return _review(
            "eligibility",
            "UNKNOWN_CURRENCY",
            f"We have no exchange rate for {sub.currency}; sales operations will review the "
            "amount.",
        )
    if in_base < minimum:
        return _rejected(
            "eligibility",
            "BELOW_MINIMUM",
            f"The amount is below the minimum of {minimum:,.2f} {policy.base_currency} "
            f"for {sub.product_line}.",
            evidence={"eligibility": {"amount_in_base": str(in_base), "minimum": str(minimum)}},
        )
    return None


# --- 2. Same partner again -----------------------------------------------------------------------


def same_partner_again(facts: _Facts) -> Decision | None:
    """A second registration by the same partner for the same account and product line while
    the first is live is a duplicate: rejected ``DUPLICATE``, pointing at the first."""
    own = [
        m
        for m in facts.same
        if m.partner_id == facts.submission.partner_id and _is_live(m, facts.now)
    ]
    first = min(own, key=lambda m: m.submission_seq, default=None)
    if first is None:
        return None
    return Decision(
        outcome="rejected",
        rule="same_partner_again",
        reason_code="DUPLICATE",
        reason=f"You already registered this opportunity as {first.registration_id}.",
        blocking_registration_id=first.registration_id,
        competing_registration_ids=(first.registration_id,),
    )


# --- 3. House account ----------------------------------------------------------------------------


def house_account(facts: _Facts) -> Decision | None:
    """A house (named) account is reserved for direct sales: rejected ``HOUSE_ACCOUNT``
    (the policy may route these to review instead)."""
    if facts.situation.house_account is None:
        return None
    reason = "This customer is reserved for the vendor's direct sales team."
    if facts.policy.house_account_action == "review":
        return _review("house_account", "HOUSE_ACCOUNT", reason + " Sales operations will review.")
    return _rejected("house_account", "HOUSE_ACCOUNT", reason)


# --- 4. Direct opportunity -----------------------------------------------------------------------


def direct_opportunity(facts: _Facts) -> Decision | None:
    """An open opportunity of the vendor's own sales team for the same account and product
    line is channel conflict: ``pending_review`` ``DIRECT_OPPORTUNITY_CONFLICT``, never
    silently approved or rejected."""
    if facts.situation.direct_opportunity is None:
        return None
    return _review(
        "direct_opportunity",
        "DIRECT_OPPORTUNITY_CONFLICT",
        "The vendor's sales team is already working this opportunity; sales operations will "
        "review your registration.",
    )


# --- 5. Another partner holds protection ---------------------------------------------------------


def already_registered(facts: _Facts) -> Decision | None:
    """Another partner holds protection on the same account and product line: rejected
    ``ALREADY_REGISTERED``, and the registration joins the waitlist behind the holder.

    First-to-register is by acceptance order. If the holder was accepted *after* this
    registration (possible only when a fuzzy match put them on different partitions and the
    later one was decided first), the approval cannot be silently revoked and a second one
    would break exclusivity, so this one goes to review: ``FIRST_TO_REGISTER_CONFLICT``.
    """
    holder = facts.live_holder()
    if holder is None or holder.partner_id == facts.submission.partner_id:
        return None
    assert holder.expires_at is not None  # noqa: S101 - live_holder checks it
    if holder.submission_seq > facts.submission.submission_seq:
        return _review(
            "already_registered",
            "FIRST_TO_REGISTER_CONFLICT",
            "Another registration for this opportunity was decided before yours although "
            "yours was accepted first; sales operations will review it.",
            competing=(holder.registration_id,),
        )
    return Decision(
        outcome="rejected",
        rule="already_registered",
        reason_code="ALREADY_REGISTERED",
        reason=(
            "This opportunity is already registered by another partner until "
            f"{holder.expires_at.date().isoformat()}. You are on the waitlist."
        ),
        blocking_registration_id=holder.registration_id,
        blocked_until=holder.expires_at,
        waitlisted=True,
        competing_registration_ids=(holder.registration_id,),
    )


def claim_in_review(facts: _Facts) -> Decision | None:
    """Another partner's claim on the same account and product line awaits a human decision:
    approving this one now could take exclusivity from it, so it joins the review
    (``CLAIM_IN_REVIEW``)."""
    pending = [
        m
        for m in facts.same
        if m.state == "in_review" and m.partner_id != facts.submission.partner_id
    ]
    if not pending:
        return None
    return _review(
        "claim_in_review",
        "CLAIM_IN_REVIEW",
        "Another registration for this opportunity is under review; sales operations will "
        "decide yours with it.",
        competing=tuple(m.registration_id for m in pending),
    )


# --- 6. Incumbent --------------------------------------------------------------------------------


def incumbent_protection(facts: _Facts) -> Decision | None:
    """A renewal or upsell by a non-incumbent while an incumbent exists: ``pending_review``
    ``INCUMBENT_CONFLICT``. By the incumbent: approved."""
    incumbent = facts.situation.incumbent
    sub = facts.submission
    if incumbent is None or sub.deal_type not in _RENEWALS:
        return None
    if facts.now - incumbent.won_at > facts.policy.incumbency_period:
        return None
    if incumbent.partner_id == sub.partner_id:
        decision = approve(facts)
        return replace(decision, rule="incumbent_protection")
    return _review(
        "incumbent_protection",
        "INCUMBENT_CONFLICT",
        "This customer has a partner of record for this product line; sales operations will "
        f"review this {sub.deal_type}.",
        competing=(incumbent.registration_id,),
    )


# --- 7. Uncertain match --------------------------------------------------------------------------


def uncertain_match(facts: _Facts) -> Decision | None:
    """The customer resembles an existing live claim but not beyond doubt (similarity in the
    review band): ``pending_review`` ``POSSIBLE_DUPLICATE``."""
    doubtful = [m for m in facts.possible if _is_live(m, facts.now) and m.state != "waitlisted"]
    if not doubtful:
        return None
    return _review(
        "uncertain_match",
        "POSSIBLE_DUPLICATE",
        "This customer resembles an existing registration; sales operations will confirm "
        "whether it is the same account.",
        competing=tuple(m.registration_id for m in doubtful),
    )


# --- 8. Approved ---------------------------------------------------------------------------------


def approve(facts: _Facts) -> Decision:
    """Otherwise approved, with protection until ``approved_at + window`` (per tier and
    product line)."""
    sub = facts.submission
    expires_at = facts.now + facts.policy.window_for(sub.partner_tier, sub.product_line)
    return Decision(
        outcome="approved",
        rule="approved",
        reason=f"Approved: you hold protection until {expires_at.date().isoformat()}.",
        protection_expires_at=expires_at,
    )


RULES: tuple[Callable[[_Facts], Decision | None], ...] = (
    eligibility,
    same_partner_again,
    house_account,
    direct_opportunity,
    already_registered,
    incumbent_protection,
    claim_in_review,
    uncertain_match,
)


def _rejected(
    rule: str, code: str, reason: str, *, evidence: dict[str, Any] | None = None
) -> Decision:
    return Decision(
        outcome="rejected", rule=rule, reason_code=code, reason=reason, evidence=evidence or {}
    )


def _review(rule: str, code: str, reason: str, *, competing: tuple[str, ...] = ()) -> Decision:
    return Decision(
        outcome="pending_review",
        rule=rule,
        reason_code=code,
        reason=reason,
        competing_registration_ids=competing,
    )
