"""The direct-sales guard's word to the CRM: a direct deal on an account a partner protects
carries "partner-protected until <date>" for its owner.

crm_sync writes the resolver's note (``DirectEncroachmentRaised.crm_note``) into one field of
the direct deal it reported (``dealreg_partner_protected_until`` in HubSpot,
``Dealreg_Partner_Protected_Until__c`` in Salesforce). The write is ours, so its webhook comes
back marked as our own change (an echo, dropped), and a direct deal already reported open is
not reported again: nothing loops. A CRM that refuses the write for good (the deal is gone)
dead-letters the event; an unavailable one is waited out by the consumer's retries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from crm_sync.ports import CrmConnector, CrmRejectedError
from schemas.encroachment import DirectEncroachmentRaised
from services.events import EventContext
from services.kafka.consumer import PoisonEventError


class ProtectionNoteWriter(Protocol):
    """A connector that can write the protection note onto one of its deals."""

    async def note_protection(self, crm_id: str, note: str) -> None: ...


@dataclass
class ProtectionNotes:
    """The consumer handler; ``connector`` is None when no CRM is configured."""

    connector: CrmConnector | None = None

    async def write_note(self, raised: DirectEncroachmentRaised, event: EventContext) -> None:
        connector = self.connector
        if connector is None or connector.system != raised.crm_system:
            return
        writer: ProtectionNoteWriter = connector  # type: ignore[assignment]
        try:
            await writer.note_protection(raised.opportunity_id, raised.crm_note)
        except CrmRejectedError as refused:
            raise PoisonEventError(f"the CRM refused the note: {refused}") from refused
