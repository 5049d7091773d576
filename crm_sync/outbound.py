"""Us -> CRM: push pending deals in batches, retry with backoff, dead-letter after N attempts.

The upsert is keyed by the registration id, so a retry after a lost answer updates the
opportunity it already created instead of creating a second one. Only owned fields that changed
since our last write are sent; the sales seed (amount, close date, first stage) only while the
opportunity may not exist yet.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import Row, and_, func, insert, or_, select, update

from crm_sync.adapters.tables import crm_dead_letters, mirrored_deals, outbox
from crm_sync.domain.model import DealSeed, DealWrite, SalesState, WriteResult
from crm_sync.domain.rules import outbound_changes
from crm_sync.handlers import SOURCE, Context
from crm_sync.ports import CrmConnector
from crm_sync.status import record_failure, record_success
from schemas.crm import CrmOpportunityMirrored, CrmSystem
from schemas.envelope import new_envelope
from services.clock import new_id
from services.outbox import stage_events

log = structlog.get_logger(__name__)


def seed_of(row: Row[Any]) -> DealSeed:
    summary = row.registration
    customer = summary["customer"]
    return DealSeed(
        deal_name=f"{customer['name']} - {row.product_line} ({summary['partner_name']})",
        amount=Decimal(str(row.amount_value)),
        currency=row.amount_currency,
        close_date=date.fromisoformat(summary["expected_close_date"]),
        customer_name=customer["name"],
        customer_domain=customer.get("domain"),
        customer_country=customer.get("country", ""),
    )


def write_for(row: Row[Any]) -> DealWrite:
    desired: dict[str, str] = row.desired or {}
    changes = outbound_changes(desired, row.last_written)
    seed = seed_of(row) if row.crm_opportunity_id is None else None
    return DealWrite(registration_id=row.registration_id, changes=changes, seed=seed)


async def push_pending(ctx: Context, connector: CrmConnector) -> int:
    """Push one batch of due deals; returns how many were attempted."""
    now = ctx.clock.now()
    batch = min(ctx.settings.push_batch_size, connector.batch_size)
    async with ctx.transactions.transaction() as session:
        rows = (
            await session.execute(
                select(mirrored_deals)
                .where(
                    mirrored_deals.c.sync_state == "pending",
                    mirrored_deals.c.crm_archived.is_(False),
                    or_(
                        mirrored_deals.c.next_attempt_at.is_(None),
                        mirrored_deals.c.next_attempt_at <= now,
                    ),
                )
                .order_by(mirrored_deals.c.pending_since)
                .limit(batch)
            )
        ).all()
    if not rows:
        return 0
    writes = [write_for(row) for row in rows]
    needed = [w for w in writes if w.changes or w.seed is not None]
    try:
        results = await connector.upsert(needed) if needed else []
    except Exception as error:  # every failure counts as one attempt for the whole batch
        reason = f"{type(error).__name__}: {error}"
        log.warning("CRM push failed", crm_system=connector.system, count=len(rows), error=reason)
        await _failed(ctx, connector, rows, {row.registration_id: reason for row in rows})
        return len(rows)
    by_id = {result.registration_id: result for result in results}
    failures = {
        rid: result.error or "failed" for rid, result in by_id.items() if result.error is not None
    }
    await _succeeded(ctx, connector, rows, writes, by_id)
    if failures:
        await _failed(ctx, connector, [r for r in rows if r.registration_id in failures], failures)
    return len(rows)


async def _succeeded(
    ctx: Context,
    connector: CrmConnector,
    rows: Sequence[Row[Any]],
    writes: list[DealWrite],
    results: dict[str, WriteResult],
) -> None:
    now = ctx.clock.now()
    initial = SalesState()
    events = []
    async with ctx.transactions.transaction() as session:
        for row, write in zip(rows, writes, strict=True):
            result = results.get(row.registration_id)
            if result is not None and result.error is not None:
                continue
            crm_id = (result.crm_id if result else None) or row.crm_opportunity_id
            values: dict[str, Any] = {
                "last_written": row.desired,
                "crm_system": connector.system,
                "crm_opportunity_id": crm_id,
                "attempts": 0,
                "last_error": None,
                "written_modified_at": result.modified_at if result else None,
            }
            if row.crm_opportunity_id is None and write.seed is not None:
                seed = write.seed
                initial = SalesState(
                    stage=connector.stages.name_of(connector.stages.initial),
                    amount=seed.amount,
                    currency=seed.currency,
                    close_date=seed.close_date,
                )
                values["applied"] = initial.as_json()
                events.append(_mirrored(row, connector.system, crm_id or "", initial.stage, now))
            await session.execute(
                update(mirrored_deals)
                .where(mirrored_deals.c.registration_id == row.registration_id)
                .values(**values)
            )
            # Synced only if nothing changed the desired fields while we were writing.
            await session.execute(
                update(mirrored_deals)
                .where(
                    mirrored_deals.c.registration_id == row.registration_id,
                    mirrored_deals.c.updated_at == row.updated_at,
                )
                .values(sync_state="synced", pending_since=None, next_attempt_at=None)
            )
        await stage_events(session, outbox, events, now=now)
        await record_success(session, connector.system, now)


def _mirrored(
    row: Row[Any], system: CrmSystem, crm_id: str, stage: str | None, now: datetime
) -> Any:
    payload = CrmOpportunityMirrored(
        registration_id=row.registration_id,
        account_key=row.account_key,
        crm_system=system,
        opportunity_id=crm_id,
        stage=stage,
        mirrored_at=now,
    )
    return new_envelope(
        payload,
        event_id=new_id(),
        source=SOURCE,
        subject=row.registration_id,
        time=now,
        correlation_id=row.correlation_id or row.registration_id,
        causation_id=None,
        partition_key=row.account_key,
    )


def backoff(ctx: Context, attempts: int) -> timedelta:
    """Exponential with full jitter, capped."""
    settings = ctx.settings
    ceiling = min(
        settings.push_backoff_max_seconds, settings.push_backoff_initial_seconds * 2**attempts
    )
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # noqa: S311


async def _failed(
    ctx: Context, connector: CrmConnector, rows: Sequence[Row[Any]], reasons: dict[str, str]
) -> None:
    now = ctx.clock.now()
    dead: list[tuple[dict[str, Any], str]] = []
    async with ctx.transactions.transaction() as session:
        for row in rows:
            attempts = row.attempts + 1
            reason = reasons[row.registration_id][:2000]
            if attempts >= ctx.settings.push_max_attempts:
                payload = {
                    "registration_id": row.registration_id,
                    "account_key": row.account_key,
                    "desired": row.desired,
                    "last_written": row.last_written,
                }
                await session.execute(
                    insert(crm_dead_letters).values(
                        crm_system=connector.system,
                        registration_id=row.registration_id,
                        reason=reason,
                        attempts=attempts,
                        payload=payload,
                        created_at=now,
                    )
                )
                values: dict[str, Any] = {"sync_state": "dead", "next_attempt_at": None}
                dead.append((payload, reason))
            else:
                values = {"next_attempt_at": now + backoff(ctx, attempts)}
            await session.execute(
                update(mirrored_deals)
                .where(mirrored_deals.c.registration_id == row.registration_id)
                .values(attempts=attempts, last_error=reason, **values)
            )
        await record_failure(session, connector.system, now, next(iter(reasons.values())))
    for payload, reason in dead:
        try:
            await ctx.dead_letters(connector.system, payload, reason)
        except Exception:  # the database row is the record; the topic copy is for operators
            log.exception("could not copy a dead letter to Kafka")


async def replay_dead_letters(ctx: Context, dead_letter_ids: list[int] | None) -> int:
    """Put dead-lettered deals back in the queue (all unreplayed ones when ids is None)."""
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        query = select(crm_dead_letters.c.id, crm_dead_letters.c.registration_id).where(
            crm_dead_letters.c.replayed_at.is_(None)
        )
        if dead_letter_ids is not None:
            query = query.where(crm_dead_letters.c.id.in_(dead_letter_ids))
        letters = (await session.execute(query)).all()
        if not letters:
            return 0
        await session.execute(
            update(crm_dead_letters)
            .where(crm_dead_letters.c.id.in_([letter.id for letter in letters]))
            .values(replayed_at=now)
        )
        await session.execute(
            update(mirrored_deals)
            .where(
                and_(
                    mirrored_deals.c.registration_id.in_(
                        [letter.registration_id for letter in letters]
                    ),
                    mirrored_deals.c.sync_state == "dead",
                )
            )
            .values(sync_state="pending", attempts=0, next_attempt_at=now, pending_since=now)
        )
    ctx.wake_pusher.set()
    return len(letters)


async def list_dead_letters(
    ctx: Context, *, include_replayed: bool = False
) -> list[dict[str, Any]]:
    async with ctx.transactions.transaction() as session:
        query = select(crm_dead_letters).order_by(crm_dead_letters.c.id)
        if not include_replayed:
            query = query.where(crm_dead_letters.c.replayed_at.is_(None))
        rows = (await session.execute(query)).all()
    return [
        {
            "id": row.id,
            "crm_system": row.crm_system,
            "registration_id": row.registration_id,
            "reason": row.reason,
            "attempts": row.attempts,
            "payload": row.payload,
            "created_at": row.created_at.isoformat(),
            "replayed_at": row.replayed_at.isoformat() if row.replayed_at else None,
        }
        for row in rows
    ]


async def count_pending(ctx: Context) -> int:
    async with ctx.transactions.transaction() as session:
        return int(
            (
                await session.execute(
                    select(func.count()).where(mirrored_deals.c.sync_state == "pending")
                )
            ).scalar_one()
        )
