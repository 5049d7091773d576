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
from conflict_resolver.domain.protection import CaseToClose
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


async def close_open_case(session: AsyncSession, closing: CaseToClose) -> None:
    """A registration under review leaves the queue without a decision on its case: the
    partner withdrew it, or sales ops transferred a protection to it."""
    await session.execute(
        update(conflicts)
        .where(conflicts.c.registration_id == closing.registration_id, conflicts.c.state == "open")
        .values(
            state="decided",
            decided_at=closing.closed_at,
            decided_by=closing.decided_by,
            decision_reason=closing.reason,
            approved_registration_id=closing.approved_registration_id,
        )
    )
