"""What the other services tell us: decisions and CRM events applied to the partner's view.

Each is a typed handler for :class:`services.events.Subscriptions`: the runtime has already
checked the payload's type, opened the transaction and claimed the inbox row.
"""

from __future__ import annotations

from deal_registration.adapters import repository as repo
from deal_registration.domain import lifecycle
from deal_registration.handlers.changes import apply_change, current_of
from schemas.cosell import InfluenceAccepted, InfluenceRejected
from schemas.crm import CrmDealClosed, CrmOpportunityChanged, CrmOpportunityMirrored
from schemas.registration import (
    ExtensionDenied,
    ProtectionExpired,
    ProtectionExpiring,
    ProtectionExtended,
    ProtectionTransferred,
    RegistrationApproved,
    RegistrationRejected,
    RegistrationSentToReview,
    WaitlistLeft,
)
from schemas.review import RegistrationReturnedForEdit
from services.events import EventContext
from services.kafka.consumer import PoisonEventError

Decision = (
    RegistrationApproved
    | RegistrationRejected
    | RegistrationSentToReview
    | ProtectionExtended
    | ExtensionDenied
    | ProtectionExpired
    | WaitlistLeft
    | RegistrationReturnedForEdit
    | ProtectionTransferred
    | ProtectionExpiring
    | InfluenceAccepted
    | InfluenceRejected
)
CrmChange = CrmOpportunityMirrored | CrmOpportunityChanged | CrmDealClosed


async def apply_decision(decision: Decision, event: EventContext) -> None:
    """What the resolver decided becomes the partner's status, history and webhook."""
    await _apply(decision, event)


async def apply_crm_change(change: CrmChange, event: EventContext) -> None:
    """What sales did in the CRM (mirrored, stage and sales fields, won or lost)."""
    await _apply(change, event)


async def _apply(data: Decision | CrmChange, event: EventContext) -> None:
    row = await repo.lock_registration(event.session, data.registration_id)
    if row is None:
        raise PoisonEventError(f"unknown registration {data.registration_id}")
    change = lifecycle.change_for(data, current_of(row), now=event.now)
    if change is None:
        return  # a late or repeated event: the partner's view already moved on
    actor = lifecycle.actor_of(data)
    await apply_change(
        event.session, row, change, actor=actor, event_id=event.cause.event_id, now=event.now
    )
