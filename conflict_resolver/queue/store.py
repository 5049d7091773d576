"""SQL for the queue (SQLAlchemy Core): cases, their claims, history, ops keys. Protections
change only through ``adapters.outcomes`` (the one path every change takes)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from conflict_resolver.adapters.tables import claims, conflicts
from conflict_resolver.queue.domain import CaseFilters, Cursor, QueueError, SortKey
from conflict_resolver.queue.tables import conflict_history, match_decisions, ops_keys
from services.db import dialect_name


@contextmanager
def exclusivity_guarded() -> Iterator[None]:
    """Around a decision's transaction: a write the database refused (the primary key of
    ``protections``: another writer, the rules or another instance, took the protection after
    our read) becomes a ``conflict``."""
    try:
        yield
    except IntegrityError as error:
        raise QueueError(
            "conflict", "Approving would break exclusivity: another claim now holds protection."
        ) from error


def _amount() -> ColumnElement[float]:
    """The case registration's amount, read from the claim's submitted event."""
    return func.coalesce(claims.c.submitted[("amount", "value")].as_float(), 0.0)


def _base_query() -> Select[Any]:
    return select(conflicts, _amount().label("amount")).select_from(
        conflicts.outerjoin(claims, claims.c.registration_id == conflicts.c.registration_id)
    )


def _filtered(query: Select[Any], filters: CaseFilters, *, now: datetime) -> Select[Any]:
    if filters.state is not None:
        query = query.where(conflicts.c.state == filters.state)
    if filters.reason_code is not None:
        query = query.where(conflicts.c.reason_code == filters.reason_code)
    if filters.product_line is not None:
        query = query.where(conflicts.c.product_line == filters.product_line)
    if filters.owner == "none":
        query = query.where(conflicts.c.owner.is_(None))
    elif filters.owner is not None:
        query = query.where(conflicts.c.owner == filters.owner)
    if filters.overdue is True:
        query = query.where(conflicts.c.state == "open", conflicts.c.due_at <= now)
    elif filters.overdue is False:
        query = query.where(or_(conflicts.c.state != "open", conflicts.c.due_at > now))
    return query


def _sorted(query: Select[Any], sort: SortKey, after: Cursor | None) -> Select[Any]:
    case_id = conflicts.c.id
    if sort == "amount":
        amount = _amount()
        if after is not None:
            value = float(after.value)
            query = query.where(or_(amount < value, and_(amount == value, case_id > after.case_id)))
        return query.order_by(amount.desc(), case_id)
    column = conflicts.c.due_at if sort == "due" else conflicts.c.opened_at
    if after is not None:
        moment = datetime.fromisoformat(after.value)
        query = query.where(or_(column > moment, and_(column == moment, case_id > after.case_id)))
    return query.order_by(column, case_id)


async def list_cases(
    session: AsyncSession,
    filters: CaseFilters,
    *,
    sort: SortKey,
    after: Cursor | None,
    limit: int,
    now: datetime,
) -> list[RowMapping]:
    query = _sorted(_filtered(_base_query(), filters, now=now), sort, after).limit(limit)
    return list((await session.execute(query)).mappings().all())


async def get_case(session: AsyncSession, case_id: str, *, lock: bool = False) -> RowMapping | None:
    query = _base_query().where(conflicts.c.id == case_id)
    if lock and dialect_name(session) == "postgresql":
        query = query.with_for_update(of=conflicts)
    row: RowMapping | None = (await session.execute(query)).mappings().first()
    return row


async def claims_by_id(session: AsyncSession, ids: Iterable[str]) -> dict[str, RowMapping]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await session.execute(select(claims).where(claims.c.registration_id.in_(wanted)))
    return {row["registration_id"]: row for row in rows.mappings()}


async def history_of(session: AsyncSession, case_id: str) -> list[RowMapping]:
    query = (
        select(conflict_history)
        .where(conflict_history.c.conflict_id == case_id)
        .order_by(conflict_history.c.id)
    )
    return list((await session.execute(query)).mappings().all())


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
    await session.execute(
        insert(conflict_history).values(
            conflict_id=case_id, at=at, action=action, actor=actor, reason=reason, detail=detail
        )
    )


async def add_match_decisions(
    session: AsyncSession,
    case_id: str,
    pairs: Iterable[Mapping[str, Any]],
    *,
    decided_by: str,
    decided_at: datetime,
) -> None:
    """Record ops' decision on a possible duplicate as labelled pairs (the case's transaction)."""
    rows = [
        {**pair, "conflict_id": case_id, "decided_by": decided_by, "decided_at": decided_at}
        for pair in pairs
    ]
    if rows:
        await session.execute(insert(match_decisions), rows)


async def match_decision_rows(session: AsyncSession, *, limit: int) -> list[RowMapping]:
    """The most recent labelled pairs, newest first."""
    query = select(match_decisions).order_by(match_decisions.c.id.desc()).limit(limit)
    return list((await session.execute(query)).mappings().all())


async def operator_names(session: AsyncSession, principal_ids: Iterable[str]) -> dict[str, str]:
    wanted = sorted({pid for pid in principal_ids if pid})
    if not wanted:
        return {}
    query = select(ops_keys.c.principal_id, ops_keys.c.name).where(
        ops_keys.c.principal_id.in_(wanted)
    )
    return {row.principal_id: row.name for row in await session.execute(query)}


async def set_owner(session: AsyncSession, case_id: str, owner: str | None) -> bool:
    result = await session.execute(
        update(conflicts)
        .where(conflicts.c.id == case_id, conflicts.c.state == "open")
        .values(owner=owner)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def close_case(
    session: AsyncSession,
    case_id: str,
    *,
    decided_at: datetime,
    decided_by: str,
    reason: str,
    approved_registration_id: str | None,
) -> bool:
    """Mark an open case decided; False when it no longer was open (someone decided first)."""
    result = await session.execute(
        update(conflicts)
        .where(conflicts.c.id == case_id, conflicts.c.state == "open")
        .values(
            state="decided",
            decided_at=decided_at,
            decided_by=decided_by,
            decision_reason=reason,
            approved_registration_id=approved_registration_id,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def mark_escalated(session: AsyncSession, case_id: str, *, at: datetime) -> bool:
    result = await session.execute(
        update(conflicts)
        .where(
            conflicts.c.id == case_id,
            conflicts.c.state == "open",
            conflicts.c.escalated_at.is_(None),
        )
        .values(escalated_at=at)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def due_case_ids(session: AsyncSession, *, now: datetime, limit: int) -> list[str]:
    query = (
        select(conflicts.c.id)
        .where(
            conflicts.c.state == "open",
            conflicts.c.escalated_at.is_(None),
            conflicts.c.due_at <= now,
        )
        .order_by(conflicts.c.due_at)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars().all())


async def open_snapshot(session: AsyncSession) -> dict[str, tuple[str, ...]]:
    """The open queue as the list shows it: case id -> (owner, escalated, due)."""
    query = select(
        conflicts.c.id, conflicts.c.owner, conflicts.c.escalated_at, conflicts.c.due_at
    ).where(conflicts.c.state == "open")
    return {
        row.id: (row.owner or "", str(row.escalated_at or ""), str(row.due_at))
        for row in await session.execute(query)
    }


async def all_claims(session: AsyncSession, *, since: datetime | None) -> list[RowMapping]:
    query = select(claims)
    if since is not None:
        query = query.where(or_(claims.c.decided_at.is_(None), claims.c.decided_at >= since))
    return list((await session.execute(query)).mappings().all())


async def all_cases(session: AsyncSession, *, since: datetime | None) -> list[RowMapping]:
    query = select(conflicts)
    if since is not None:
        query = query.where(or_(conflicts.c.state == "open", conflicts.c.opened_at >= since))
    return list((await session.execute(query)).mappings().all())


async def set_resolution(session: AsyncSession, case_id: str, resolution: str) -> None:
    """How ops resolved a ``DIRECT_ENCROACHMENT`` case (its state changes in ``close_case``)."""
    await session.execute(
        update(conflicts).where(conflicts.c.id == case_id).values(resolution=resolution)
    )
