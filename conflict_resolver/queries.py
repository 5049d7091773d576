"""Read-only use cases: the policy and house accounts as stored, and the policy what-if.

The what-if reads past claims and replays them in memory (``domain.replay``): no row is
written and no event is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from conflict_resolver.adapters import policy_store
from conflict_resolver.adapters.tables import claims
from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.protection import submission_of
from conflict_resolver.domain.replay import PastRegistration, replay
from schemas.registration import RegistrationSubmitted

# Statuses that end a protection at a known time (expiry is simulated instead).
_ENDED_BY_SOMEONE = ("withdrawn", "won", "lost")


async def policy_record(ctx: Any) -> dict[str, Any]:
    async with ctx.transactions.transaction() as session:
        record = await policy_store.latest_policy_record(session, now=ctx.clock.now())
    return {
        "version": record.version,
        "created_at": record.created_at,
        "created_by": record.created_by,
        "policy": record.document,
    }


async def policy_version_record(ctx: Any, version: int) -> dict[str, Any] | None:
    async with ctx.transactions.transaction() as session:
        record = await policy_store.policy_record_of(session, version)
    if record is None:
        return None
    return {
        "version": record.version,
        "created_at": record.created_at,
        "created_by": record.created_by,
        "policy": record.document,
    }


async def house_accounts_record(ctx: Any) -> dict[str, Any]:
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


async def past_registrations(
    session: AsyncSession, *, since: datetime | None, until: datetime | None
) -> list[PastRegistration]:
    """Every decided claim accepted before ``until``; those from ``since`` on are reported."""
    query = select(claims).where(claims.c.decision.is_not(None)).order_by(claims.c.submission_seq)
    found = []
    for row in (await session.execute(query)).mappings():
        submitted = RegistrationSubmitted.model_validate(row["submitted"])
        if until is not None and submitted.submitted_at > until:
            continue
        found.append(
            PastRegistration(
                submission=submission_of(submitted),
                customer=submitted.customer.model_dump(mode="json"),
                submitted_at=submitted.submitted_at,
                decided_at=row["decided_at"],
                outcome=row["decision"],
                rule=row["rule"],
                reason_code=row["reason_code"],
                evidence=row["evidence"] or {},
                ended_at=row["ended_at"] if row["status"] in _ENDED_BY_SOMEONE else None,
                ended_as=row["status"] if row["status"] in _ENDED_BY_SOMEONE else None,
                reportable=since is None or submitted.submitted_at >= since,
            )
        )
    return found


async def what_if(
    ctx: Any,
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
        past = await past_registrations(session, since=since, until=until)
    result = replay(past, draft, until=now, progress=progress)
    return {
        "current_policy_version": current.version,
        "replayed": result.replayed,
        "changed": len(result.changed),
        "transitions": result.transitions,
        "changes": [change.__dict__ for change in result.changed],
    }


async def decision_record(ctx: Any, registration_id: str) -> dict[str, Any] | None:
    """A registration's decision with its evidence, for sales ops; None if unknown."""
    async with ctx.transactions.transaction() as session:
        row = (
            (
                await session.execute(
                    select(claims).where(claims.c.registration_id == registration_id)
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        return None
    fields = (
        "registration_id", "submission_seq", "partner_id", "account_key", "product_line",
        "status", "decision", "rule", "reason_code", "reason", "policy_version", "decided_at",
        "protection_key", "protection_expires_at", "waitlisted", "extension_count", "evidence",
    )  # fmt: skip
    return {field: row[field] for field in fields}
