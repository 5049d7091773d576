"""Per-connector health: last success, failures, lag, dead letters (``GET /v1/sync/status``).

The bookkeeping itself (``record_success``, ``record_failure``, ``count_echo``) is written by
the pusher and the inbound side through ``crm_sync.adapters.connector_state``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from crm_sync.adapters import connector_state as states
from services.uow import TransactionRunner


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


async def sync_status(
    transactions: TransactionRunner, system: str, now: datetime
) -> dict[str, Any]:
    async with transactions.transaction() as session:
        state = await states.state_of(session, system)
        counts = await states.sync_counts(session, system)
    oldest_pending = counts.oldest_pending
    if oldest_pending is not None and oldest_pending.tzinfo is None:
        oldest_pending = oldest_pending.replace(tzinfo=UTC)
    lag = (now - oldest_pending).total_seconds() if oldest_pending else 0.0
    return {
        "crm_system": system,
        "lag_seconds": round(max(lag, 0.0), 3),
        "pending": counts.pending,
        "synced": counts.synced,
        "dead_letters": int(counts.dead_letters),
        "last_success_at": _iso(state.last_success_at) if state else None,
        "last_failure_at": _iso(state.last_failure_at) if state else None,
        "last_error": state.last_error if state else None,
        "failures": int(state.failures) if state else 0,
        "watermark": _iso(state.watermark) if state else None,
        "last_reconciled_at": _iso(state.last_reconciled_at) if state else None,
        "echoes_dropped": int(state.echoes_dropped) if state else 0,
    }
