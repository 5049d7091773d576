"""The rules of engagement, one function each, in DOMAIN.md's order (:data:`RULES`).

Each rule's docstring says the rule in the words of DOMAIN.md. A rule returns a decision when
it fires, else None; :func:`approve` is what is left when none fires.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from conflict_resolver.domain.rules.capacity import over_capacity
from conflict_resolver.domain.rules.facts import Facts, is_live, rejected, review
from conflict_resolver.domain.situation import Decision

_RENEWALS = frozenset({"renewal", "upsell"})


# --- 1. Eligibility ---------------------------------------------------------------------------


def eligibility(facts: Facts) -> Decision | None:
    """The partner is active, authorised for the product line, and the amount is at or above
    the minimum (other currencies convert with the policy's rates). Otherwise rejected with
    ``PARTNER_INELIGIBLE``, ``PRODUCT_NOT_AUTHORIZED`` or ``BELOW_MINIMUM``."""
    sub, policy = facts.submission, facts.policy
    if sub.partner_status != "active":
        return rejected(
            "eligibility",
            "PARTNER_INELIGIBLE",
            "Your partner account is not active, so this registration cannot be protected.",
        )
    if sub.partner_product_lines is not None and sub.product_line not in sub.partner_product_lines:
        return rejected(
            "eligibility",
            "PRODUCT_NOT_AUTHORIZED",
            f"Your partnership is not authorised to register the product line {sub.product_line}.",
        )
    in_base = policy.to_base_currency(sub.amount, sub.currency)
    minimum = policy.minimum_for(sub.product_line)
    if in_base is None:
        return review(
            "eligibility",
            "UNKNOWN_CURRENCY",
            f"We have no exchange rate for {sub.currency}; sales operations will review the "
            "amount.",
        )
    if in_base < minimum:
        return rejected(
            "eligibility",
            "BELOW_MINIMUM",
            f"The amount is below the minimum of {minimum:,.2f} {policy.base_currency} "
            f"for {sub.product_line}.",
            evidence={"eligibility": {"amount_in_base": str(in_base), "minimum": str(minimum)}},
        )
    return None


# --- 2. Same partner again -----------------------------------------------------------------------


def same_partner_again(facts: Facts) -> Decision | None:
    """A second registration by the same partner for the same account and product line while
    the first is live is a duplicate: rejected ``DUPLICATE``, pointing at the first."""
    own = [
        m
        for m in facts.same
        if m.partner_id == facts.submission.partner_id and is_live(m, facts.now)
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


def house_account(facts: Facts) -> Decision | None:
    """A house (named) account is reserved for direct sales: rejected ``HOUSE_ACCOUNT``
    (the policy may route these to review instead)."""
    if facts.situation.house_account is None:
        return None
    reason = "This customer is reserved for the vendor's direct sales team."
    if facts.policy.house_account_action == "review":
        return review("house_account", "HOUSE_ACCOUNT", reason + " Sales operations will review.")
    return rejected("house_account", "HOUSE_ACCOUNT", reason)


# --- 4. Direct opportunity -----------------------------------------------------------------------


def direct_opportunity(facts: Facts) -> Decision | None:
    """An open opportunity of the vendor's own sales team for the same account and product
    line is channel conflict: ``pending_review`` ``DIRECT_OPPORTUNITY_CONFLICT``, never
    silently approved or rejected."""
    if facts.situation.direct_opportunity is None:
        return None
    return review(
        "direct_opportunity",
        "DIRECT_OPPORTUNITY_CONFLICT",
        "The vendor's sales team is already working this opportunity; sales operations will "
        "review your registration.",
    )


# --- 5. Another partner holds protection ---------------------------------------------------------


def already_registered(facts: Facts) -> Decision | None:
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
        return review(
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


def claim_in_review(facts: Facts) -> Decision | None:
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
    return review(
        "claim_in_review",
        "CLAIM_IN_REVIEW",
        "Another registration for this opportunity is under review; sales operations will "
        "decide yours with it.",
        competing=tuple(m.registration_id for m in pending),
    )


# --- 6. Incumbent --------------------------------------------------------------------------------


def incumbent_protection(facts: Facts) -> Decision | None:
    """A renewal or upsell by a non-incumbent while an incumbent exists: ``pending_review``
    ``INCUMBENT_CONFLICT``. By the incumbent: approved."""
    incumbent = facts.situation.incumbent
    sub = facts.submission
    if incumbent is None or sub.deal_type not in _RENEWALS:
        return None
    if facts.now - incumbent.won_at > facts.policy.incumbency_period:
        return None
    if incumbent.partner_id == sub.partner_id:
        over = capacity(facts)
        if over is not None:
            return over
        return replace(approve(facts), rule="incumbent_protection")
    return review(
        "incumbent_protection",
        "INCUMBENT_CONFLICT",
        "This customer has a partner of record for this product line; sales operations will "
        f"review this {sub.deal_type}.",
        competing=(incumbent.registration_id,),
    )


# --- 7. Uncertain match --------------------------------------------------------------------------


def uncertain_match(facts: Facts) -> Decision | None:
    """The customer resembles an existing live claim but not beyond doubt (similarity in the
    review band): ``pending_review`` ``POSSIBLE_DUPLICATE``."""
    doubtful = [m for m in facts.possible if is_live(m, facts.now) and m.state != "waitlisted"]
    if not doubtful:
        return None
    return review(
        "uncertain_match",
        "POSSIBLE_DUPLICATE",
        "This customer resembles an existing registration; sales operations will confirm "
        "whether it is the same account.",
        competing=tuple(m.registration_id for m in doubtful),
    )


# --- Capacity -----------------------------------------------------------------------------------


def capacity(facts: Facts) -> Decision | None:
    """A registration that would be approved while its partner already holds as many live
    protections as its tier's cap allows (overall, or for the product line) is over capacity:
    ``CAPACITY_LIMIT``, rejected or sent to review by the policy."""
    sub = facts.submission
    return over_capacity(
        facts.policy,
        tier=sub.partner_tier,
        product_line=sub.product_line,
        held=facts.situation.holdings.product_lines,
    )


# --- 8. Approved ---------------------------------------------------------------------------------


def approve(facts: Facts) -> Decision:
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


RULES: tuple[Callable[[Facts], Decision | None], ...] = (
    eligibility,
    same_partner_again,
    house_account,
    direct_opportunity,
    already_registered,
    incumbent_protection,
    claim_in_review,
    uncertain_match,
    capacity,
)
