"""The analytics projection's SQL: one row per registration, credits, exchange rates; and the
partner export's reads (rows changed after a cursor)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import RowMapping, Table, and_, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from deal_registration.adapters.tables import (
    analytics_credits,
    analytics_registrations,
    co_sell_invitations,
    exchange_rates,
    partners,
    registration_history,
    registrations,
)
from schemas.attribution import DealAttributed, ExchangeRatesPublished
from services.db import dialect_name

FACTS = analytics_registrations
# How a column merges with what an earlier (or later) event set: the first time something
# happened, the latest expiry, a flag once set; plain values once known. Any order of
# arrival gives the same row.
_EARLIEST = frozenset(
    {
        "submitted_at",
        "approved_at",
        "rejected_at",
        "review_at",
        "won_at",
        "lost_at",
        "expired_at",
        "withdrawn_at",
        "left_waitlist_at",
        "transferred_at",
    }
)
_LATEST = frozenset({"protection_expires_at"})


def _insert(session: AsyncSession, table: Table) -> Any:
    dialect = postgresql if dialect_name(session) == "postgresql" else sqlite
    return dialect.insert(table)


def _merged(row: Mapping[Any, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for column, value in values.items():
        known = row[column]
        if value is None:
            continue
        if column in _EARLIEST:
            merged[column] = value if known is None else min(known, value)
        elif column in _LATEST:
            merged[column] = value if known is None else max(known, value)
        elif column == "waitlisted":
            merged[column] = bool(known) or bool(value)
        elif known is None:
            merged[column] = value
    return {c: v for c, v in merged.items() if v != row[c]}


async def project(
    session: AsyncSession, registration_id: str, values: Mapping[str, Any], *, now: datetime
) -> None:
    """Fold what one event says into the registration's row (created if new)."""
    await session.execute(
        _insert(session, FACTS)
        .values(registration_id=registration_id, waitlisted=False, updated_at=now)
        .on_conflict_do_nothing(index_elements=["registration_id"])
    )
    query = select(FACTS).where(FACTS.c.registration_id == registration_id).with_for_update()
    row = (await session.execute(query)).mappings().one()
    changes = _merged(row, values)
    if changes:
        await session.execute(
            update(FACTS)
            .where(FACTS.c.registration_id == registration_id)
            .values(**changes, updated_at=now)
        )


async def save_credits(session: AsyncSession, attributed: DealAttributed, *, now: datetime) -> None:
    for line in attributed.lines:
        await session.execute(
            _insert(session, analytics_credits)
            .values(
                registration_id=attributed.registration_id,
                partner_id=line.partner_id,
                role=line.role,
                amount_value=line.amount.value,
                amount_currency=line.amount.currency,
                share=line.share,
                model=attributed.model,
                attributed_at=attributed.attributed_at,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["registration_id", "partner_id", "role"])
        )


async def save_rates(session: AsyncSession, published: ExchangeRatesPublished) -> None:
    await session.execute(
        _insert(session, exchange_rates)
        .values(
            policy_version=published.policy_version,
            base_currency=published.base_currency,
            rates={code: str(rate) for code, rate in published.exchange_rates.items()},
            published_at=published.published_at,
        )
        .on_conflict_do_nothing(index_elements=["policy_version"])
    )


async def latest_rates(session: AsyncSession) -> tuple[str, dict[str, Decimal]] | None:
    query = select(exchange_rates).order_by(exchange_rates.c.policy_version.desc()).limit(1)
    row = (await session.execute(query)).mappings().first()
    if row is None:
        return None
    return str(row["base_currency"]), {k: Decimal(v) for k, v in dict(row["rates"]).items()}


async def partner_rows(session: AsyncSession, partner_id: str | None) -> list[RowMapping]:
    query = select(partners.c.id, partners.c.name, partners.c.tier, partners.c.created_at)
    if partner_id is not None:
        query = query.where(partners.c.id == partner_id)
    return list((await session.execute(query.order_by(partners.c.name))).mappings())


async def fact_rows(session: AsyncSession, partner_id: str | None) -> list[RowMapping]:
    query = select(FACTS).where(FACTS.c.partner_id.is_not(None), FACTS.c.submitted_at.is_not(None))
    if partner_id is not None:
        query = query.where(FACTS.c.partner_id == partner_id)
    return list((await session.execute(query)).mappings())


async def credit_rows(session: AsyncSession, partner_id: str | None) -> list[RowMapping]:
    query = select(analytics_credits)
    if partner_id is not None:
        query = query.where(analytics_credits.c.partner_id == partner_id)
    return list((await session.execute(query)).mappings())


async def account_rows(session: AsyncSession, account_key: str) -> list[RowMapping]:
    query = (
        select(FACTS, partners.c.name.label("partner_name"))
        .join(partners, partners.c.id == FACTS.c.partner_id)
        .where(FACTS.c.account_key == account_key)
        .order_by(FACTS.c.submitted_at)
    )
    return list((await session.execute(query)).mappings())


async def influence_rows(session: AsyncSession, account_key: str) -> list[RowMapping]:
    """The accepted (not withdrawn) influence registrations on the account, oldest first."""
    query = (
        select(
            registrations.c.id.label("registration_id"),
            registrations.c.partner_id,
            partners.c.name.label("partner_name"),
            registrations.c.product_line,
            registrations.c.decided_at.label("since"),
        )
        .join(partners, partners.c.id == registrations.c.partner_id)
        .where(
            registrations.c.account_key == account_key,
            registrations.c.role == "influence",
            registrations.c.status == "accepted",
        )
        .order_by(registrations.c.submission_seq)
    )
    return list((await session.execute(query)).mappings())


async def co_sell_rows(session: AsyncSession, registration_ids: list[str]) -> list[RowMapping]:
    """The accepted co-sell invitations on these sourced registrations, first accepted first."""
    if not registration_ids:
        return []
    query = (
        select(
            co_sell_invitations.c.registration_id,
            co_sell_invitations.c.partner_id,
            co_sell_invitations.c.role,
            co_sell_invitations.c.responded_at.label("since"),
            partners.c.name.label("partner_name"),
            registrations.c.product_line,
        )
        .join(partners, partners.c.id == co_sell_invitations.c.partner_id)
        .join(registrations, registrations.c.id == co_sell_invitations.c.registration_id)
        .where(
            co_sell_invitations.c.registration_id.in_(registration_ids),
            co_sell_invitations.c.status == "accepted",
        )
        .order_by(co_sell_invitations.c.responded_at, co_sell_invitations.c.id)
    )
    return list((await session.execute(query)).mappings())


# --- The partner export: rows changed after the cursor, oldest change first -----------------

_EXPORTED: dict[str, tuple[Table, Any]] = {
    "registrations": (registrations, registrations.c.updated_at),
    "outcomes": (FACTS, FACTS.c.updated_at),
    "attributions": (analytics_credits, analytics_credits.c.updated_at),
}


async def changed_rows(
    session: AsyncSession, dataset: str, *, partner_id: str, since: datetime | None, limit: int
) -> list[RowMapping]:
    """A partner's own rows of ``dataset`` changed after ``since``, oldest change first."""
    if dataset == "history":
        return await _history_rows(session, partner_id=partner_id, since=since, limit=limit)
    table, changed = _EXPORTED[dataset]
    query = select(table).where(table.c.partner_id == partner_id)
    if since is not None:
        query = query.where(changed > since)
    return list((await session.execute(query.order_by(changed).limit(limit))).mappings())


async def _history_rows(
    session: AsyncSession, *, partner_id: str, since: datetime | None, limit: int
) -> list[RowMapping]:
    history = registration_history
    recorded = func.coalesce(history.c.recorded_at, history.c.at)
    query = select(history, recorded.label("changed_at")).join(
        registrations,
        and_(
            registrations.c.id == history.c.registration_id,
            registrations.c.partner_id == partner_id,
        ),
    )
    if since is not None:
        query = query.where(recorded > since)
    return list(
        (await session.execute(query.order_by(recorded, history.c.id).limit(limit))).mappings()
    )
