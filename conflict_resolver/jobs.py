"""Background work of the rules: protections end at their expiry, and waitlisted
registrations leave the waitlist at their expected close date, and holders are told ahead of
their expiry ("protection expires in N days"), without anyone asking."""

from __future__ import annotations

from conflict_resolver import handlers
from conflict_resolver.handlers import notices
from services.polling import poll


async def run_expiry_loop(ctx: handlers.Context, *, interval_seconds: float) -> None:
    """Until cancelled: end protections past their expiry, then take registrations past
    their close date off the waitlists, one per transaction; sleep when none is due. Several
    instances may run it (``handlers.expire_one`` and ``close_one_waitlisted`` lock)."""

    async def step() -> bool:
        return (
            await handlers.expire_one(ctx)
            or await handlers.close_one_waitlisted(ctx)
            or await notices.notify_one(ctx)
        )

    await poll(step, idle_seconds=interval_seconds)
