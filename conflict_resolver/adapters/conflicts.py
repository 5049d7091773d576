"""The conflict queue's store: one case per registration the rules sent to review.

The rules (``handlers.decide_submission``) open a case with :func:`open_case` in the same
transaction as the ``pending_review`` claim and its ``sent_to_review`` event; the queue API
and the console read, assign and decide cases.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from conflict_resolver.adapters.tables import conflicts
from services.clock import new_id


async def open_case(
    session: AsyncSession,
    *,
    registration_id: str,
    account_key: str,
    product_line: str,
    rule: str,
    reason_code: str,
    evidence: dict[str, Any],
    competing_registration_ids: list[str],
    opened_at: datetime,
    due_at: datetime,
    case_id: str | None = None,
) -> str:
    """Open a case for a registration awaiting a human decision; returns the case id."""
    case_id = case_id or new_id()
    await session.execute(
        insert(conflicts).values(
            id=case_id,
            registration_id=registration_id,
            account_key=account_key,
            product_line=product_line,
            rule=rule,
            reason_code=reason_code,
            evidence=evidence,
            competing_registration_ids=competing_registration_ids,
            state="open",
            opened_at=opened_at,
            due_at=due_at,
        )
    )
    return case_id


async def close_case_withdrawn(
    session: AsyncSession, registration_id: str, *, now: datetime
) -> None:
    """The partner withdrew a registration under review: its case leaves the queue."""
    await session.execute(
        update(conflicts)
        .where(conflicts.c.registration_id == registration_id, conflicts.c.state == "open")
        .values(
            state="decided",
            decided_at=now,
            decided_by="partner",
            decision_reason="The partner withdrew the registration.",
        )
    )
