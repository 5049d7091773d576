"""SQL for the queue (SQLAlchemy Core): cases, their claims, history, ops keys. Protections
change only through ``adapters.outcomes`` (the one path every change takes)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Numeric,
    Select,
    and_,
    case,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from conflict_resolver.adapters import conflicts as conflicts_store
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
    """A line of the case's history, told on the topics (``adapters.conflicts.add_history``)."""
    await conflicts_store.add_history(
        session, case_id, at=at, action=action, actor=actor, reason=reason, detail=detail
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
    """What the numbers need of each claim (``stats``, refreshed every few seconds for the
    gauges): its standing and, of its submitted event, the partner, time and amount. Not the
    whole row: a claim's evidence, decision and submission are JSON of several KB each, and
    decoding them for every claim of the window made each refresh allocate about 20 KB a
    registration, which the process kept as resident memory (issue 12, goal 5)."""
    submitted = claims.c.submitted
    query = select(
        claims.c.registration_id,
        claims.c.partner_id,
        claims.c.status,
        claims.c.reason_code,
        claims.c.decided_at,
        submitted["partner"].label("partner"),
        submitted["submitted_at"].label("submitted_at"),
        submitted["amount"].label("amount"),
    )
    return list((await session.execute(query.where(_claims_in_window(since)))).mappings().all())


def _claims_in_window(since: datetime | None) -> ColumnElement[bool]:
    """The claims the numbers count: undecided, or decided since ``since``."""
    if since is None:
        return true()
    return or_(claims.c.decided_at.is_(None), claims.c.decided_at >= since)


def _cases_in_window(since: datetime | None) -> ColumnElement[bool]:
    """The cases the numbers count: open, or opened since ``since``."""
    if since is None:
        return true()
    return or_(conflicts.c.state == "open", conflicts.c.opened_at >= since)


async def claims_by_status(session: AsyncSession, *, since: datetime | None) -> dict[str, int]:
    """How many claims of the window stand at each status (one row a status)."""
    query = select(claims.c.status, func.count()).group_by(claims.c.status)
    rows = await session.execute(query.where(_claims_in_window(since)))
    return {status: int(count) for status, count in rows}


async def pipeline_sums(
    session: AsyncSession, *, since: datetime | None, statuses: Iterable[str]
) -> dict[str, Decimal]:
    """The exact sum of the submitted amounts of the window's claims at ``statuses``, per
    currency, added up in the database (one row a currency; on SQLite one a currency and
    number of decimals). A claim whose amount is missing counts for 0 in the currency ``""``,
    as ``domain.amount_of`` has it."""
    value = claims.c.submitted[("amount", "value")].as_string()
    currency = func.coalesce(claims.c.submitted[("amount", "currency")].as_string(), "")
    wanted = claims.c.status.in_(sorted(statuses))
    if dialect_name(session) == "postgresql":
        query = select(currency, func.sum(cast(value, Numeric))).where(wanted).group_by(currency)
        rows = await session.execute(query.where(_claims_in_window(since)))
        return {str(cur): Decimal(total or 0) for cur, total in rows}
    return await _pipeline_sums_sqlite(session, since=since, wanted=wanted)


async def _pipeline_sums_sqlite(
    session: AsyncSession, *, since: datetime | None, wanted: ColumnElement[bool]
) -> dict[str, Decimal]:
    # SQLite has no decimal type: its SUM of "0.10" and "0.20" is a float. The amount is a
    # decimal string, so the sum is taken in integers of its last decimal ("125000.50" is
    # 12500050 at 2 decimals) per number of decimals, exact, and scaled back here. A value
    # in exponent notation ("1E+3", which no client sends but Decimal allows) is grouped by
    # itself and multiplied out here.
    value = claims.c.submitted[("amount", "value")].as_string()
    currency = func.coalesce(claims.c.submitted[("amount", "currency")].as_string(), "")
    point = func.instr(value, ".")
    exponent = func.instr(func.lower(value), "e") > 0
    decimals = case((exponent, literal(0)), (point > 0, func.length(value) - point), else_=0)
    odd = case((exponent, value), else_=None)
    digits = case((exponent, None), else_=cast(func.replace(value, ".", ""), BigInteger))
    query = (
        select(currency, decimals, odd, func.sum(digits), func.count())
        .where(wanted)
        .group_by(currency, decimals, odd)
    )
    sums: dict[str, Decimal] = {}
    for cur, places, odd_value, total, count in await session.execute(
        query.where(_claims_in_window(since))
    ):
        if odd_value is not None:
            part = _decimal_or_zero(str(odd_value)) * count
        else:
            part = Decimal(int(total or 0)).scaleb(-int(places))
        sums[str(cur)] = sums.get(str(cur), Decimal(0)) + part
    return sums


def _decimal_or_zero(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        return Decimal(0)


async def case_counts(
    session: AsyncSession, *, since: datetime | None, now: datetime
) -> RowMapping:
    """Of the window's cases: open, overdue, the oldest open one's opening, and the SLA breaches
    (escalated, decided after the due time, or open past it). One row."""
    open_ = conflicts.c.state == "open"
    overdue = and_(open_, conflicts.c.due_at <= now)
    breach = or_(
        conflicts.c.escalated_at.is_not(None),
        and_(conflicts.c.decided_at.is_not(None), conflicts.c.decided_at > conflicts.c.due_at),
        overdue,
    )
    query = select(
        func.count().filter(open_).label("open"),
        func.count().filter(overdue).label("overdue"),
        func.min(conflicts.c.opened_at).filter(open_).label("oldest_opened_at"),
        func.count().filter(breach).label("sla_breaches"),
    )
    row: RowMapping = (await session.execute(query.where(_cases_in_window(since)))).mappings().one()
    return row


async def cases_by_reason(session: AsyncSession, *, since: datetime | None) -> dict[str, int]:
    query = select(conflicts.c.reason_code, func.count()).group_by(conflicts.c.reason_code)
    rows = await session.execute(query.where(_cases_in_window(since)))
    return {reason: int(count) for reason, count in rows}


async def all_cases(session: AsyncSession, *, since: datetime | None) -> list[RowMapping]:
    query = select(conflicts).where(_cases_in_window(since))
    return list((await session.execute(query)).mappings().all())


async def set_resolution(session: AsyncSession, case_id: str, resolution: str) -> None:
    """How ops resolved a ``DIRECT_ENCROACHMENT`` case (its state changes in ``close_case``)."""
    await session.execute(
        update(conflicts).where(conflicts.c.id == case_id).values(resolution=resolution)
    )
