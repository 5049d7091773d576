"""Events of the direct-sales guard: direct sales opened a CRM opportunity on an account a
partner protects (``DIRECT_ENCROACHMENT``), and sales ops resolved the case.

The resolver emits them on the decisions topic, keyed by the protected claim's account key:
deal_registration tells the holder (history and webhook, naming no one), crm_sync writes
``crm_note`` onto the direct deal for its owner.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, Field

from schemas.crm import CrmSystem
from schemas.envelope import EventPayload, register

EncroachmentResolution = Literal["acknowledged", "partner_keeps", "direct_proceeds"]


@register
class DirectEncroachmentRaised(EventPayload):
    """Direct sales opened an opportunity on an account this registration protects: a
    ``DIRECT_ENCROACHMENT`` case is open in the conflict queue."""

    event_type = "dealreg.conflict.direct_encroachment_raised"

    conflict_id: str
    registration_id: str = Field(description="The protected registration.")
    account_key: str
    product_line: str
    crm_system: CrmSystem
    opportunity_id: str = Field(description="The direct opportunity in the CRM.")
    protection_expires_at: AwareDatetime
    crm_note: str = Field(
        description='What the direct deal carries for its owner: "partner-protected until '
        '<date>" (no partner named).'
    )
    partner_reason: str = Field(description="What the holder reads: it names no one.")
    raised_at: AwareDatetime
    evidence: dict[str, Any] | None = Field(
        default=None,
        description="Internal: the case's evidence as the resolver records it (the direct "
        "deal, the holder, the match). Never shown to partners.",
    )
    due_at: AwareDatetime | None = Field(default=None, description="When the case's SLA runs out.")


@register
class DirectEncroachmentResolved(EventPayload):
    """Sales ops resolved a ``DIRECT_ENCROACHMENT`` case: acknowledged, the partner keeps the
    account, or direct sales proceeds alongside."""

    event_type = "dealreg.conflict.direct_encroachment_resolved"

    conflict_id: str
    registration_id: str
    account_key: str
    product_line: str
    crm_system: CrmSystem
    opportunity_id: str
    resolution: EncroachmentResolution
    partner_reason: str = Field(description="What the holder reads: it names no one.")
    decided_by: str
    resolved_at: AwareDatetime
