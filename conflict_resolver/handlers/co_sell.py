"""A co-sell invitation answered (``CoSellAccepted`` / ``CoSellDeclined`` from
deal_registration): remembered in ``co_sell_partners`` so that attribution at closed-won
credits the accepted partners in their role. It changes no claim, protection or waitlist; a
redelivered or second answer to one invitation changes nothing."""

from __future__ import annotations

from conflict_resolver.adapters import co_sell
from schemas.cosell import CoSellAccepted, CoSellDeclined
from services.events import EventContext


async def co_sell_answered(answered: CoSellAccepted | CoSellDeclined, event: EventContext) -> None:
    """Record the invitee's answer once."""
    if isinstance(answered, CoSellAccepted):
        status, answered_at = "accepted", answered.accepted_at
    else:
        status, answered_at = "declined", answered.declined_at
    await co_sell.record_answer(
        event.session,
        invitation_id=answered.invitation_id,
        registration_id=answered.registration_id,
        partner_id=answered.partner_id,
        role=answered.role,
        status=status,
        answered_at=answered_at,
    )
