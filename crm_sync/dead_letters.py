"""CRM dead letters: deals the CRM refused because of their data, for operators to work.

Only a permanent refusal about the data (a 400 naming a bad field, a per-record validation
error) is dead-lettered: an outage, a 429 or a timeout waits in the queue instead, however long
it lasts. Dead letters written before that rule (``permanent`` false: they were outages) are
revived automatically and reach the CRM when it answers again. Operators list, show and replay
them (``GET/POST /v1/sync/dead-letters``, ``python -m crm_sync.cli dead-letters``).
"""

from __future__ import annotations

from typing import Any

from crm_sync.adapters import dead_letters as store
from crm_sync.adapters.dead_letters import DeadLetter
from crm_sync.handlers import Context


async def replay_dead_letters(ctx: Context, dead_letter_ids: list[int] | None) -> int:
    """Put dead-lettered deals back in the queue (all unreplayed ones when ids is None)."""
    return await _replay(ctx, ids=dead_letter_ids, only_transient=False)


async def revive_transient(ctx: Context) -> int:
    """Requeue the dead letters that were outages, not bad data (written by older versions)."""
    return await _replay(ctx, ids=None, only_transient=True)


async def _replay(ctx: Context, *, ids: list[int] | None, only_transient: bool) -> int:
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        letters = await store.unreplayed(session, ids=ids, only_transient=only_transient)
        if not letters:
            return 0
        await store.requeue(session, letters, now=now)
    ctx.wake_pusher.set()
    return len(letters)


async def list_dead_letters(
    ctx: Context, *, include_replayed: bool = False
) -> list[dict[str, Any]]:
    async with ctx.transactions.transaction() as session:
        rows = await store.letters(session, include_replayed=include_replayed)
    return [_view(row) for row in rows]


async def show_dead_letter(ctx: Context, dead_letter_id: int) -> dict[str, Any] | None:
    """One dead letter with the deal's current sync state (what a replay would send)."""
    async with ctx.transactions.transaction() as session:
        row = await store.letter(session, dead_letter_id)
        if row is None:
            return None
        deal = await store.deal_state(session, row.registration_id)
    view = _view(row)
    view["deal"] = deal
    return view


def _view(row: DeadLetter) -> dict[str, Any]:
    return {
        "id": row.id,
        "crm_system": row.crm_system,
        "registration_id": row.registration_id,
        "reason": row.reason,
        "permanent": bool(row.permanent),
        "attempts": row.attempts,
        "payload": row.payload,
        "created_at": row.created_at.isoformat(),
        "replayed_at": row.replayed_at.isoformat() if row.replayed_at else None,
    }
