"""Refuse a replayed webhook: each signature is taken once.

A signature is fresh for five minutes (its timestamp); within them, a captured delivery sent
again would verify. The first delivery claims its signature (a row in the inbox, under a
consumer of its own, so every instance sees it and retention prunes it); the same signature
again is refused as a replay (401). HubSpot and the sandbox sign each attempt anew (a new
timestamp), so a genuine retry is never refused; a delivery that failed here (503) gives its
claim back, so even a resend of the very same request is taken.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import delete

from crm_sync.adapters.tables import inbox
from crm_sync.handlers import Context
from services.inbox import claim_event

SIGNATURES_CONSUMER = "crm_sync.webhook-signatures"


def _key(system: str, signature: str) -> str:
    return hashlib.sha256(f"{system}\x00{signature}".encode()).hexdigest()


async def claim_signature(ctx: Context, system: str, signature: str) -> bool:
    """True the first time this signature is seen; False for a replay."""
    async with ctx.transactions.transaction() as session:
        return await claim_event(
            session,
            inbox,
            consumer=SIGNATURES_CONSUMER,
            event_id=_key(system, signature),
            event_type=f"{system}.webhook",
            now=ctx.clock.now(),
        )


async def release_signature(ctx: Context, system: str, signature: str) -> None:
    """Forget a claimed signature (its delivery was not taken)."""
    async with ctx.transactions.transaction() as session:
        await session.execute(
            delete(inbox).where(
                inbox.c.consumer == SIGNATURES_CONSUMER,
                inbox.c.event_id == _key(system, signature),
            )
        )
