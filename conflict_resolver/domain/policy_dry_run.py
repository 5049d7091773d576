"""A policy is tried before it is stored: the rules decide a sample of situations under it,
and a policy under which one of them cannot be decided is refused, naming the field.

The field bounds of :class:`~conflict_resolver.domain.policy.Policy` refuse the values known
to break (a window of ``P3000000D`` overflowed every approval); this dry run is the net under
them. Every tier and every product line the policy names is approved once with nothing in
its way, then the other rules are each made to fire (a live holder, a possible duplicate, a
claim in review, a house account, a direct opportunity, an incumbent, each priced currency)
and every extension the policy allows is applied. A case that raises, approves without a
future expiry, or answers without a reason the partner can read, names the field that
governs it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from conflict_resolver.domain.matching import MatchEvidence
from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.rules import decide as decide_by_rules
from conflict_resolver.domain.situation import (
    ClaimState,
    Decision,
    DirectOpportunity,
    HouseAccountHit,
    Incumbent,
    Match,
    Situation,
    Submission,
)

Decide = Callable[..., Decision]
TIERS = ("registered", "silver", "gold", "platinum")
UNLISTED_LINE = "dry-run-unlisted-line"
_OUTCOMES = frozenset({"approved", "rejected", "pending_review"})


@dataclass(frozen=True)
class PolicyProblem:
    field: str
    message: str


@dataclass(frozen=True)
class _Case:
    label: str
    governing: str  # the field whose value decides this case
    submission: Submission
    situation: Situation = field(default_factory=Situation)
    must_approve: bool = False


def dry_run(policy: Policy, *, now: datetime, decide: Decide | None = None) -> list[PolicyProblem]:
    """Each field under which some sample situation cannot be decided (empty: the policy
    decides them all), with the first reason found for it. ``decide`` is the rules'."""
    decide = decide or decide_by_rules
    found: dict[str, str] = {}
    for case in _cases(policy, now):
        try:
            decision = decide(case.submission, case.situation, policy, now=now)
            problem = _undecided(decision, now, must_approve=case.must_approve)
            if problem is None and decision.protection_expires_at is not None:
                problem = _extensions_fail(policy, decision.protection_expires_at)
                if problem is not None:
                    found.setdefault("extension.duration", f"{case.label}: {problem}")
                    continue
        except Exception as error:  # any failure is the finding; it is reported, not raised
            problem = f"deciding raises {type(error).__name__}"
        if problem is not None:
            found.setdefault(case.governing, f"{case.label}: {problem}")
    try:
        now + policy.review_sla
    except OverflowError:
        found.setdefault("review_sla", "a review deadline cannot be computed")
    return [PolicyProblem(field, message) for field, message in found.items()]


def _undecided(decision: Decision, now: datetime, *, must_approve: bool) -> str | None:
    if decision.outcome not in _OUTCOMES:
        return f"no decision ({decision.outcome!r})"
    if not decision.reason.strip():
        return "a decision without a reason the partner can read"
    if decision.outcome == "approved":
        expires = decision.protection_expires_at
        if expires is None or expires <= now:
            return "approved without a protection window that ends after the decision"
    elif must_approve:
        return f"nothing can be approved ({decision.reason_code or decision.outcome})"
    return None


def _extensions_fail(policy: Policy, expires_at: datetime) -> str | None:
    try:
        for _ in range(policy.extension.max_extensions):
            expires_at = expires_at + policy.extension.duration
    except OverflowError:
        return "an extension's new expiry cannot be computed"
    return None


def _window_field(policy: Policy, tier: str, line: str) -> str:
    own = policy.product_lines.get(line)
    if own is not None and own.protection_window is not None:
        return f"product_lines.{line}.protection_window"
    if any(str(named) == tier for named in policy.tier_protection_windows):
        return f"tier_protection_windows.{tier}"
    return "protection_window"


def _submission(
    policy: Policy,
    *,
    tier: str,
    line: str,
    currency: str | None = None,
    amount: Decimal | None = None,
    deal_type: str = "new",
) -> Submission:
    return Submission(
        registration_id="dry-run-registration",
        submission_seq=2,
        partner_id="dry-run-partner",
        partner_tier=tier,
        account_key="dry-run-account",
        product_line=line,
        deal_type=deal_type,
        amount=policy.minimum_for(line) if amount is None else amount,
        currency=currency or policy.base_currency,
    )


def _cases(policy: Policy, now: datetime) -> Iterator[_Case]:
    for tier in TIERS:
        for line in [*policy.product_lines, UNLISTED_LINE]:
            yield _Case(
                label=f"a {tier} partner's {line} registration with nothing in its way",
                governing=_window_field(policy, tier, line),
                submission=_submission(policy, tier=tier, line=line),
                must_approve=True,
            )
    tier, line = "gold", UNLISTED_LINE
    for currency in policy.exchange_rates:
        yield _Case(
            label=f"a registration in {currency}",
            governing=f"exchange_rates.{currency}",
            submission=_submission(
                policy, tier=tier, line=line, currency=currency, amount=policy.minimum_amount
            ),
        )
    plain = _submission(policy, tier=tier, line=line)
    for label, governing, situation in _situations(policy, now):
        yield _Case(f"a registration against {label}", governing, plain, situation)
    yield _Case(
        "a renewal against an incumbent",
        "incumbency_period",
        _submission(policy, tier=tier, line=line, deal_type="renewal"),
        Situation(incumbent=Incumbent("dry-run-other", "dry-run-won", now - timedelta(days=1))),
    )


def _claim(state: ClaimState, evidence: MatchEvidence, expires_at: datetime | None = None) -> Match:
    return Match(
        registration_id="dry-run-other-registration",
        partner_id="dry-run-other",
        submission_seq=1,
        protection_key="dry-run-account",
        state=state,
        evidence=evidence,
        expires_at=expires_at,
    )


def _situations(policy: Policy, now: datetime) -> list[tuple[str, str, Situation]]:
    """Each rule but eligibility made to fire: (what, the field that governs it, situation).
    Only the rules compute with the policy's values, so what fails is theirs to report."""
    same = MatchEvidence(1.0, True, 1.0, True, ("domain",))
    between = (policy.matching.review + policy.matching.same_account) / 2
    possible = MatchEvidence(between, False, between, None, ("name",))
    return [
        (
            "a live holder",
            "protection_window",
            Situation(matches=(_claim("protected", same, now + timedelta(days=1)),)),
        ),
        (
            "a possible duplicate",
            "matching.review",
            Situation(matches=(_claim("protected", possible, now + timedelta(days=1)),)),
        ),
        ("a claim in review", "review_sla", Situation(matches=(_claim("in_review", same),))),
        (
            "a house account",
            "house_account_action",
            Situation(house_account=HouseAccountHit("Dry Run Inc", "dry-run-account", 1.0)),
        ),
        (
            "a direct opportunity",
            "protection_window",
            Situation(
                direct_opportunity=DirectOpportunity(
                    "006DRYRUN", "hubspot", "dry-run-account", now - timedelta(days=1)
                )
            ),
        ),
    ]
