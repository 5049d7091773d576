"""The rules of engagement as a pure function of (registration, live claims, policy, now).

Each rule's docstring says the rule in the words of DOMAIN.md. The decision carries the rule
that fired and the partner-safe sentence; it never names another partner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from conflict_resolver.domain.policy import Policy


@dataclass(frozen=True)
class Submission:
    """The registration to decide, as the resolver knows it from ``registration.submitted``."""

    registration_id: str
    submission_seq: int
    partner_id: str
    partner_tier: str
    account_key: str
    product_line: str


@dataclass(frozen=True)
class LiveProtection:
    """Another registration holding approved protection for an account and product line."""

    registration_id: str
    partner_id: str
    expires_at: datetime


@dataclass(frozen=True)
class Decision:
    outcome: Literal["approved", "rejected"]
    rule: str
    reason: str
    reason_code: str | None = None
    protection_expires_at: datetime | None = None
    blocking_registration_id: str | None = None
    blocked_until: datetime | None = None


def decide(
    submission: Submission, holder: LiveProtection | None, policy: Policy, *, now: datetime
) -> Decision:
    """Apply the rules in order; the first that fires decides."""
    if holder is not None and holder.expires_at > now:
        return already_registered(holder)
    return approve(submission, policy, now=now)


def already_registered(holder: LiveProtection) -> Decision:
    """Another partner holds protection on the same account and product line: rejected
    ``ALREADY_REGISTERED``. The sentence says until when, never by whom."""
    return Decision(
        outcome="rejected",
        rule="already_registered",
        reason_code="ALREADY_REGISTERED",
        reason=(
            "This opportunity is already registered by another partner until "
            f"{holder.expires_at.date().isoformat()}."
        ),
        blocking_registration_id=holder.registration_id,
        blocked_until=holder.expires_at,
    )


def approve(submission: Submission, policy: Policy, *, now: datetime) -> Decision:
    """Otherwise approved, with protection until ``approved_at + window`` (per tier)."""
    expires_at = now + policy.window_for(submission.partner_tier)
    return Decision(
        outcome="approved",
        rule="approved",
        reason=f"Approved: you hold protection until {expires_at.date().isoformat()}.",
        protection_expires_at=expires_at,
    )
