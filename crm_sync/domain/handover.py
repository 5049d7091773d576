"""A protection transfer hands the old holder's CRM opportunity to the new holder.

DOMAIN.md: a transfer "updates the CRM's partner fields". The customer's opportunity (its
stage, amount, owner: sales' fields) stays where it is, one deal for the account; only the
fields dealreg owns change hands: the registration id, the partner id and name, the protection
window and the status. So the new holder's mirrored deal adopts the old one's opportunity and
what we last wrote to it, and the next push sends only the owned fields that differ. The old
holder's deal is ``handed_over``: it is never pushed again (a push keyed by its registration id
would find no opportunity and create a second one).

The CRM knows an opportunity by the registration id we last wrote to it; until the push that
relabels it, that is the old holder's, so that one push is addressed by the CRM's own id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

HANDED_OVER = "handed_over"


@dataclass(frozen=True)
class Opportunity:
    """What the old holder's mirrored deal knows of its CRM opportunity."""

    crm_system: str | None
    crm_opportunity_id: str | None
    last_written: dict[str, str] | None
    applied: dict[str, Any] | None
    applied_modified_at: datetime | None
    written_modified_at: datetime | None


def adopted(opportunity: Opportunity) -> dict[str, Any]:
    """The new holder's deal values that make it the opportunity's mirror (nothing when the
    old holder's opportunity was never created: the new holder's push creates one)."""
    if opportunity.crm_opportunity_id is None:
        return {}
    return {
        "crm_system": opportunity.crm_system,
        "crm_opportunity_id": opportunity.crm_opportunity_id,
        "last_written": opportunity.last_written,
        "applied": opportunity.applied,
        "applied_modified_at": opportunity.applied_modified_at,
        "written_modified_at": opportunity.written_modified_at,
    }


def known_by_another_key(
    registration_id: str, crm_opportunity_id: str | None, last_written: dict[str, str] | None
) -> bool:
    """Whether the CRM still knows this deal's opportunity by another registration's id (it was
    handed over and not pushed since): the write must go by the CRM's id, not the external key."""
    written_key = (last_written or {}).get("registration_id")
    return crm_opportunity_id is not None and written_key not in (None, registration_id)
