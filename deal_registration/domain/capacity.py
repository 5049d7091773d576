"""A partner's capacity as it reads it: its live protections against its tier's caps. Pure."""

from __future__ import annotations

from collections import Counter
from typing import Any

from schemas.capacity import CapacityCapsPublished


def capacity_view(
    caps: CapacityCapsPublished | None, *, tier: str, live_lines: list[str]
) -> dict[str, Any]:
    """``live_lines``: the product line of each of the partner's approved registrations whose
    protection has not expired. No caps published, or none for the tier: nothing is capped."""
    tier_caps = None if caps is None else caps.tiers.get(tier)
    overall = None if tier_caps is None else tier_caps.overall
    counts = Counter(live_lines)
    lines = []
    for line, held in sorted(counts.items()):
        limit = None
        if tier_caps is not None:
            limit = tier_caps.product_lines.get(line, tier_caps.per_product_line)
        lines.append({"product_line": line, "held": held, "limit": limit})
    return {
        "tier": tier,
        "held": len(live_lines),
        "limit": overall,
        "remaining": None if overall is None else max(overall - len(live_lines), 0),
        "per_product_line_limit": None if tier_caps is None else tier_caps.per_product_line,
        "product_lines": lines,
        "over_capacity": "reject" if caps is None else caps.action,
        "policy_version": None if caps is None else caps.policy_version,
    }
