"""Capacity: the policy's caps as the resolver publishes them, and a partner's capacity read
against them (its own approved, unexpired registrations)."""

from __future__ import annotations

from typing import Any

from deal_registration.adapters import capacity as store
from deal_registration.domain.capacity import capacity_view
from deal_registration.domain.errors import NotFoundError
from deal_registration.handlers.context import Context, Principal
from schemas.capacity import CapacityCapsPublished
from services.events import EventContext


async def record_caps(caps: CapacityCapsPublished, event: EventContext) -> None:
    """Keep a published policy version's caps (once: the inbox, and the version's key)."""
    await store.save_caps(event.session, caps)


async def partner_capacity(ctx: Context, principal: Principal) -> dict[str, Any]:
    """The calling partner's capacity under the caps in force."""
    if principal.partner_id is None:
        raise NotFoundError
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        tier = await store.partner_tier(session, principal.partner_id)
        if tier is None:
            raise NotFoundError
        caps = await store.latest_caps(session)
        lines = await store.live_lines(session, principal.partner_id, now=now)
    return capacity_view(caps, tier=tier, live_lines=lines)
