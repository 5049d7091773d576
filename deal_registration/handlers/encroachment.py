"""The resolver's direct-sales guard, told to the protected registration's partner."""

from __future__ import annotations

from deal_registration.adapters import repository as repo
from deal_registration.domain import lifecycle
from deal_registration.domain.encroachment import change_for_encroachment
from deal_registration.handlers.changes import apply_change, current_of
from schemas.encroachment import DirectEncroachmentRaised, DirectEncroachmentResolved
from services.events import EventContext
from services.kafka.consumer import PoisonEventError


async def tell_encroachment(
    data: DirectEncroachmentRaised | DirectEncroachmentResolved, event: EventContext
) -> None:
    """A history step and a webhook for the holder, in words that name no one."""
    row = await repo.lock_registration(event.session, data.registration_id)
    if row is None:
        raise PoisonEventError(f"unknown registration {data.registration_id}")
    change = change_for_encroachment(data, current_of(row), now=event.now)
    if change is None:
        return
    actor = data.decided_by if isinstance(data, DirectEncroachmentResolved) else lifecycle.RULES
    await apply_change(
        event.session, row, change, actor=actor, event_id=event.cause.event_id, now=event.now
    )
