"""Background work of the rules: protections end at their expiry without anyone asking."""

from __future__ import annotations

from conflict_resolver import handlers
from services.polling import poll


async def run_expiry_loop(ctx: handlers.Context, *, interval_seconds: float) -> None:
    """Until cancelled: end protections past their expiry, one per transaction; sleep when
    none is due. Several instances may run it (``handlers.expire_one`` locks)."""
    await poll(lambda: handlers.expire_one(ctx), idle_seconds=interval_seconds)
