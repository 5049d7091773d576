"""Read-only use cases: the policy and house accounts as stored, and the policy what-if.

The what-if reads past claims and replays them in memory (``domain.replay``): no row is
written and no event is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from conflict_resolver.adapters import claims_store, history, policy_store
from conflict_resolver.adapters.policy_store import StoredVersion
from conflict_resolver.domain import protection
from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.replay import replay
from conflict_resolver.handlers.context import Context


async def policy_record(ctx: Context) -> dict[str, Any]:
    """The policy in force (version 1, the YAML file, is stored on first use)."""
    async with ctx.transactions.transaction() as session:
        record = await policy_store.latest_policy_record(session, now=ctx.clock.now())
    return _policy_view(record)


async def policy_version_record(ctx: Context, version: int) -> dict[str, Any] | None:
    async with ctx.transactions.transaction() as session:
        record = await policy_store.policy_record_of(session, version)
    return None if record is None else _policy_view(record)


def _policy_view(record: StoredVersion) -> dict[str, Any]:
    return {
        "version": record.version,
        "created_at": record.created_at,
        "created_by": record.created_by,
        "policy": record.document,
    }


async def house_accounts_record(ctx: Context) -> dict[str, Any]:
    async with ctx.transactions.transaction() as session:
        record = await policy_store.latest_house_accounts_record(session)
    if record is None:
        return {"version": 0, "created_at": None, "created_by": None, "accounts": []}
    return {
        "version": record.version,
        "created_at": record.created_at,
        "created_by": record.created_by,
        "accounts": record.document.get("accounts", []),
    }


async def what_if(
    ctx: Context,
    draft: Policy,
    *,
    since: datetime | None,
    until: datetime | None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Which past decisions the draft policy would change, from what to what, and why."""
    async with ctx.transactions.transaction() as session:
        now = ctx.clock.now()
        current = await policy_store.current_policy(session, now=now, store_default=False)
        past = await history.past_registrations(session, since=since, until=until)
        won = await history.past_attributions(session, since=since, until=until)
    result = replay(past, draft, until=now, progress=progress)
    return {
        "current_policy_version": current.version,
        "replayed": result.replayed,
        "changed": len(result.changed),
        "transitions": result.transitions,
        "changes": [change.__dict__ for change in result.changed],
        "attribution": protection.attribution_what_if(won, draft),
    }


async def decision_record(ctx: Context, registration_id: str) -> dict[str, Any] | None:
    """A registration's decision with its evidence, for sales ops; None if unknown."""
    async with ctx.transactions.transaction() as session:
        row = await claims_store.claim_row(session, registration_id)
    if row is None:
        return None
    fields = (
        "registration_id", "submission_seq", "partner_id", "account_key", "product_line",
        "status", "decision", "rule", "reason_code", "reason", "policy_version", "decided_at",
        "protection_key", "protection_expires_at", "waitlisted", "extension_count", "evidence",
    )  # fmt: skip
    return {field: row[field] for field in fields}
