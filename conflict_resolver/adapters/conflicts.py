"""The conflict queue's store: one case per registration the rules sent to review.

The rules (``handlers.decide_submission``) open a case with :func:`open_case` in the same
transaction as the ``pending_review`` claim and its ``sent_to_review`` event; the queue API
and the console read, assign and decide cases.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from conflict_resolver.adapters.emitter import EMITTER
from conflict_resolver.adapters.tables import conflicts
from conflict_resolver.domain.encroachment import REASON_CODE as ENCROACHMENT
from conflict_resolver.domain.protection import CaseToClose
from conflict_resolver.queue.tables import conflict_history
from schemas.registration import ConflictCaseRecorded
from services.clock import new_id
from services.events import Cause

# Per transaction (``session.info``): registrations decided for the first time in it (their
# claim is new), whose review case, if the decision opens one, is their first: ``open_case``
# need not look for an earlier one.
_FIRST_DECIDED = "conflict_resolver.first_decided"


def first_decision(session: AsyncSession, registration_id: str) -> None:
    """The registration is being decided for the first time (it had no claim): it has no
    earlier review case for ``open_case`` to open again."""
    session.info.setdefault(_FIRST_DECIDED, set()).add(registration_id)


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
    """Open a case for a registration awaiting a human decision; returns the case id.

    A registration has one review case: one sent to review again after its partner's edit
    opens its earlier case again, with the new evidence. Encroachment cases (a direct deal on
    the account a registration protects) are each their own, beside it."""
    case_id = case_id or new_id()
    existing = None
    if reason_code != ENCROACHMENT:
        first: set[str] = session.info.get(_FIRST_DECIDED, set())
        if registration_id in first:
            first.discard(registration_id)  # its case is this one: a second open reads it
        else:
            existing = await case_of(session, registration_id)
    values: dict[str, Any] = {
        "owner": None,
        "escalated_at": None,
        "decided_at": None,
        "decided_by": None,
        "decision_reason": None,
        "approved_registration_id": None,
        "account_key": account_key,
        "product_line": product_line,
        "rule": rule,
        "reason_code": reason_code,
        "evidence": evidence,
        "competing_registration_ids": competing_registration_ids,
        "state": "open",
        "opened_at": opened_at,
        "due_at": due_at,
    }
    if existing is None:
        row = {"id": case_id, "registration_id": registration_id, **values}
        await session.execute(_INSERT_CASE, row)
        return case_id
    await session.execute(update(conflicts).where(conflicts.c.id == existing["id"]).values(values))
    return str(existing["id"])


_INSERT_CASE = insert(conflicts)  # built once, its values as parameters (as a claim's insert)


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


async def case_of(session: AsyncSession, registration_id: str) -> RowMapping | None:
    """The registration's review case, if it ever had one (not its encroachment cases)."""
    query = select(conflicts).where(
        conflicts.c.registration_id == registration_id, conflicts.c.reason_code != ENCROACHMENT
    )
    return (await session.execute(query)).mappings().first()


async def reopen_case(
    session: AsyncSession,
    case_id: str,
    *,
    reopened_at: datetime,
    due_at: datetime,
    actor: str,
    note: str,
) -> bool:
    """A decided case opens again (an appeal) with its original evidence and a new due
    time; its history says who reopened it and why. False when it was not decided."""
    result = await session.execute(
        update(conflicts)
        .where(conflicts.c.id == case_id, conflicts.c.state == "decided")
        .values(
            state="open",
            owner=None,
            due_at=due_at,
            escalated_at=None,
            decided_at=None,
            decided_by=None,
            decision_reason=None,
            approved_registration_id=None,
        )
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    await add_history(session, case_id, at=reopened_at, action="appealed", actor=actor, reason=note)
    return True


async def add_history(
    session: AsyncSession,
    case_id: str,
    *,
    at: datetime,
    action: str,
    actor: str,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append a line to the case's history, once the case itself is changed, and tell it with
    the case as it now stands (``ConflictCaseRecorded``: the queue's record on the topics)."""
    await record_history_line(
        session, case_id, at=at, action=action, actor=actor, reason=reason, detail=detail
    )
    await _tell(session, case_id, at=at, action=action, actor=actor, reason=reason, detail=detail)


async def _tell(
    session: AsyncSession,
    case_id: str,
    *,
    at: datetime,
    action: str,
    actor: str,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
    opening: bool = False,
) -> None:
    """``ConflictCaseRecorded``: a line and the case as it now stands; ``opening``: with what
    the case opened with too."""
    case = (await session.execute(select(conflicts).where(conflicts.c.id == case_id))).mappings()
    row = case.one()
    opened = {field: row[field] for field in CASE_OPENING} if opening else {}
    recorded = ConflictCaseRecorded(
        conflict_id=case_id,
        registration_id=row["registration_id"],
        account_key=row["account_key"],
        product_line=row["product_line"],
        at=at,
        action=action,
        actor=actor,
        reason=reason,
        detail=detail,
        **{field: row[field] for field in CASE_STANDING},
        **opened,
    )
    await EMITTER.emit(
        session,
        recorded,
        subject=row["registration_id"],
        partition_key=row["account_key"],
        cause=Cause(None, new_id()),
        time=at,
    )


# What a case's history changes (the rest is fixed when the case opens).
CASE_STANDING = (
    "state",
    "owner",
    "due_at",
    "escalated_at",
    "decided_at",
    "decided_by",
    "decision_reason",
    "approved_registration_id",
    "resolution",
)

# What a case opens with (told on the ``opened`` line of a case no other event tells).
CASE_OPENING = ("rule", "reason_code", "evidence", "competing_registration_ids", "opened_at")


async def tell_opened(session: AsyncSession, registration_id: str, *, at: datetime) -> None:
    """Tell the registration's review case just opened (or opened again) by a path no other
    event tells it on (an extension request sent to review), with what it opened with, so it
    can be rebuilt from the topics. Its ``opened`` line is the one every case's history shows
    from ``opened_at`` (``queue.handlers.reading``): none is stored."""
    case = await case_of(session, registration_id)
    if case is not None:
        await _tell(session, case["id"], at=at, action="opened", actor="rules", opening=True)


async def record_history_line(
    session: AsyncSession,
    case_id: str,
    *,
    at: datetime,
    action: str,
    actor: str,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """The one write of a history line (told by :func:`add_history`; replayed as told)."""
    await session.execute(
        insert(conflict_history).values(
            conflict_id=case_id, at=at, action=action, actor=actor, reason=reason, detail=detail
        )
    )


async def replay_history_line(
    session: AsyncSession,
    case_id: str,
    *,
    standing: dict[str, Any],
    at: datetime,
    action: str,
    actor: str,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """A line :func:`add_history` told (``ConflictCaseRecorded``), replayed: the case as it
    stood after it (``CASE_STANDING``), and the line itself, telling nothing again."""
    await session.execute(update(conflicts).where(conflicts.c.id == case_id).values(**standing))
    await record_history_line(
        session, case_id, at=at, action=action, actor=actor, reason=reason, detail=detail
    )
