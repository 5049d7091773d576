"""Direct sales on an account a partner protects, as the partner sees it (pure).

The resolver's ``DIRECT_ENCROACHMENT`` case and its resolution become steps of the protected
registration's history (and so webhooks), in the resolver's partner-safe words: no one named.
The registration's status and protection do not change.
"""

from __future__ import annotations

from datetime import datetime

from deal_registration.domain.lifecycle import Change, Current, Entry, Status
from schemas.encroachment import DirectEncroachmentRaised, DirectEncroachmentResolved

RAISED_CODE = "DIRECT_ENCROACHMENT"
RESOLVED_CODE = "DIRECT_ENCROACHMENT_RESOLVED"


def change_for_encroachment(
    event: DirectEncroachmentRaised | DirectEncroachmentResolved, current: Current, *, now: datetime
) -> Change | None:
    """A history step of an approved registration; nothing once it is no longer approved."""
    if current.status is not Status.APPROVED:
        return None
    if isinstance(event, DirectEncroachmentRaised):
        entry = Entry(
            Status.APPROVED,
            RAISED_CODE,
            event.partner_reason,
            event.raised_at,
            "direct_encroachment",
        )
    else:
        entry = Entry(
            Status.APPROVED,
            RESOLVED_CODE,
            event.partner_reason,
            event.resolved_at,
            "direct_encroachment_resolved",
        )
    return Change(updates={"updated_at": now}, entry=entry)
