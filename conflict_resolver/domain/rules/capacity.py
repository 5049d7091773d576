"""Capacity caps by tier: how many live protections a partner may hold, and the rule that
refuses (or sends to review) a registration that would take it over its cap."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.situation import Decision
from schemas.capacity import CapacityCapsPublished, TierCaps


@dataclass(frozen=True)
class Capacity:
    """A partner's live protections against its tier's caps (None: no cap)."""

    tier: str
    held: int
    overall_limit: int | None
    per_line: dict[str, tuple[int, int | None]] = field(default_factory=dict)  # held, limit

    @property
    def remaining(self) -> int | None:
        """How many more protections the overall cap allows (None: no overall cap)."""
        return None if self.overall_limit is None else max(self.overall_limit - self.held, 0)


def capacity_caps_of(policy: Policy, *, now: datetime) -> CapacityCapsPublished:
    """The event telling deal_registration a policy version's caps."""
    caps = policy.capacity
    return CapacityCapsPublished(
        policy_version=policy.version,
        published_at=now,
        tiers={str(tier): TierCaps(**cap.model_dump()) for tier, cap in caps.tiers.items()},
        action=caps.action,
    )


def capacity_of(policy: Policy, *, tier: str, product_lines: tuple[str, ...]) -> Capacity:
    """The partner's capacity: ``product_lines`` names the line of each live protection."""
    caps = policy.capacity.for_tier(tier)
    counts = Counter(product_lines)
    return Capacity(
        tier=tier,
        held=len(product_lines),
        overall_limit=caps.overall,
        per_line={line: (held, caps.line_limit(line)) for line, held in sorted(counts.items())},
    )


def over_capacity(
    policy: Policy, *, tier: str, product_line: str, held: tuple[str, ...]
) -> Decision | None:
    """A partner over its tier's cap of live protections, overall or for the product line,
    gets ``CAPACITY_LIMIT``: rejected, or sent to review when the policy says so. It is read
    only when the registration would otherwise be approved."""
    caps = policy.capacity.for_tier(tier)
    line_limit = caps.line_limit(product_line)
    line_held = sum(1 for line in held if line == product_line)
    if caps.overall is not None and len(held) >= caps.overall:
        scope, limit, count = "overall", caps.overall, len(held)
        words = f"your partnership already holds {count} protected registrations, its limit"
    elif line_limit is not None and line_held >= line_limit:
        scope, limit, count = product_line, line_limit, line_held
        words = (
            f"your partnership already holds {count} protected registrations for "
            f"{product_line}, its limit"
        )
    else:
        return None
    action = policy.capacity.action
    after = " Sales operations will review it." if action == "review" else ""
    return Decision(
        outcome="pending_review" if action == "review" else "rejected",
        rule="capacity",
        reason_code="CAPACITY_LIMIT",
        reason=f"This registration is over capacity: {words} ({limit}).{after}",
        evidence={"capacity": {"scope": scope, "limit": limit, "held": count, "tier": tier}},
    )
