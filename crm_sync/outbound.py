"""Us -> CRM: push pending deals in batches; outages wait (capped backoff, ``Retry-After``)
for as long as they last, only records whose data the CRM refuses are dead-lettered.

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

from crm_sync.adapters import dead_letters, mirror
from crm_sync.adapters.connector_state import record_failure, record_success
from crm_sync.adapters.mirror import MirroredDeal
from crm_sync.adapters.tables import outbox
from crm_sync.domain.amendments import pending_amendment
from crm_sync.domain.handover import known_by_another_key
from crm_sync.domain.model import DealSeed, DealWrite, SalesState, WriteResult
from crm_sync.domain.rules import outbound_changes
from crm_sync.handlers import EMITTER, Context, hand_over_late
from crm_sync.ports import CrmConnector, CrmRejectedError, CrmUnavailableError
from schemas.crm import CrmOpportunityMirrored, CrmSystem
from schemas.envelope import EventEnvelope
from services.events import Cause
from services.outbox import stage_events
from services.tracing import span_continuing

log = structlog.get_logger(__name__)


def seed_of(row: MirroredDeal) -> DealSeed:
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


def write_for(row: MirroredDeal) -> DealWrite:
    desired: dict[str, str] = row.desired or {}
    changes = outbound_changes(desired, row.last_written)
    seed = seed_of(row) if row.crm_opportunity_id is None else None
    # A new opportunity's seed already carries the amended values (see Mirror.record_amendment).
    amendment = pending_amendment(desired, row.last_written) if seed is None else None
    handed_over = known_by_another_key(
        row.registration_id, row.crm_opportunity_id, row.last_written
    )
    return DealWrite(
        registration_id=row.registration_id,
        changes=changes,
        seed=seed,
        amendment=amendment,
        crm_id=row.crm_opportunity_id if handed_over else None,
    )


async def push_pending(ctx: Context, connector: CrmConnector) -> int:
    """Push one batch of due deals; returns how many were attempted."""
    now = ctx.clock.now()
    batch = min(ctx.settings.push_batch_size, connector.batch_size)
    async with ctx.transactions.transaction() as session:
        rows = await mirror.due_deals(session, now=now, limit=batch)
    if not rows:
        return 0
    # One push serves several deals: it continues the trace of the first (the longest waiting)
    # and links the others' (services.tracing).
    first = rows[0]
    with (
        span_continuing(
            "crm push",
            [row.traceparent for row in rows],
            attributes={
                "crm.system": connector.system,
                "crm.deals": len(rows),
                "dealreg.registration_id": first.registration_id,
            },
        ),
        structlog.contextvars.bound_contextvars(
            correlation_id=first.correlation_id or first.registration_id
        ),
    ):
        return await _push(ctx, connector, rows)


async def _push(ctx: Context, connector: CrmConnector, rows: list[MirroredDeal]) -> int:
    writes = [write_for(row) for row in rows]
    needed = [w for w in writes if w.changes or w.seed is not None or w.amendment is not None]
    try:
        results = await _upsert(connector, needed) if needed else []
    except Exception as error:  # an outage (or a bug of ours): the whole batch waits
        reason = f"{type(error).__name__}: {error}"
        log.warning("CRM push failed", crm_system=connector.system, count=len(rows), error=reason)
        hint = error.retry_after if isinstance(error, CrmUnavailableError) else None
        await _wait(ctx, connector, rows, {row.registration_id: reason for row in rows}, hint)
        return len(rows)
    by_id = {result.registration_id: result for result in results}
    refused = {rid: r.error or "refused" for rid, r in by_id.items() if r.error and not r.retryable}
    retry = {rid: r.error or "failed" for rid, r in by_id.items() if r.error and r.retryable}
    await _succeeded(ctx, connector, rows, writes, by_id)
    if refused:
        await _dead(ctx, connector, [r for r in rows if r.registration_id in refused], refused)
    if retry:
        await _wait(ctx, connector, [r for r in rows if r.registration_id in retry], retry, None)
    return len(rows)


async def _upsert(connector: CrmConnector, writes: list[DealWrite]) -> list[WriteResult]:
    """Upsert a batch; when the CRM refuses the batch as a whole, find the bad records alone.

    Only a refusal of one record on its own (a 400 naming a bad field) is about that record's
    data; a batch refused because one of its records is bad must not take the others with it.
    """
    try:
        return await connector.upsert(writes)
    except CrmRejectedError as error:
        if len(writes) == 1:
            return [
                WriteResult(
                    registration_id=writes[0].registration_id,
                    crm_id=None,
                    error=f"{type(error).__name__}: {error}",
                    retryable=False,
                )
            ]
    results: list[WriteResult] = []
    for write in writes:
        results.extend(await _upsert(connector, [write]))
    return results


async def _succeeded(
    ctx: Context,
    connector: CrmConnector,
    rows: Sequence[MirroredDeal],
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
            await mirror.update_deal(session, row.registration_id, **values)
            # Synced only if nothing changed the desired fields while we were writing.
            await mirror.mark_synced_unless_changed(session, row)
            if write.seed is not None and crm_id:
                await hand_over_late(session, row.registration_id)
        await stage_events(session, outbox, events, now=now)
        await record_success(session, connector.system, now)


def _mirrored(
    row: MirroredDeal, system: CrmSystem, crm_id: str, stage: str | None, now: datetime
) -> EventEnvelope[Any]:
    payload = CrmOpportunityMirrored(
        registration_id=row.registration_id,
        account_key=row.account_key,
        crm_system=system,
        opportunity_id=crm_id,
        stage=stage,
        mirrored_at=now,
    )
    return EMITTER.envelope(
        payload,
        subject=row.registration_id,
        partition_key=row.account_key,
        cause=Cause(None, row.correlation_id or row.registration_id),
        time=now,
    )


def backoff(ctx: Context, attempts: int, retry_after: float | None = None) -> timedelta:
    """Exponential with full jitter, capped; never sooner than the CRM's ``Retry-After``."""
    settings = ctx.settings
    ceiling = min(
        settings.push_backoff_max_seconds,
        settings.push_backoff_initial_seconds * 2 ** min(attempts, 32),
    )
    delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311
    return timedelta(seconds=max(delay, retry_after or 0.0))


async def _wait(
    ctx: Context,
    connector: CrmConnector,
    rows: Sequence[MirroredDeal],
    reasons: dict[str, str],
    retry_after: float | None,
) -> None:
    """The CRM is down, slow or busy: try these again later, for as long as it takes."""
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        for row in rows:
            attempts = row.attempts + 1
            await mirror.update_deal(
                session,
                row.registration_id,
                attempts=attempts,
                last_error=reasons[row.registration_id][:2000],
                next_attempt_at=now + backoff(ctx, attempts, retry_after),
            )
        await record_failure(session, connector.system, now, next(iter(reasons.values())))


async def _dead(
    ctx: Context, connector: CrmConnector, rows: Sequence[MirroredDeal], reasons: dict[str, str]
) -> None:
    """The CRM refused these records' data: retrying cannot help, an operator must look."""
    now = ctx.clock.now()
    dead: list[tuple[dict[str, Any], str]] = []
    async with ctx.transactions.transaction() as session:
        for row in rows:
            reason = reasons[row.registration_id][:2000]
            payload = {
                "registration_id": row.registration_id,
                "account_key": row.account_key,
                "desired": row.desired,
                "last_written": row.last_written,
            }
            await dead_letters.insert_letter(
                session,
                crm_system=connector.system,
                payload=payload,
                reason=reason,
                attempts=row.attempts + 1,
                now=now,
            )
            await mirror.update_deal(
                session,
                row.registration_id,
                attempts=row.attempts + 1,
                last_error=reason,
                sync_state="dead",
                next_attempt_at=None,
            )
            dead.append((payload, reason))
        await record_failure(session, connector.system, now, next(iter(reasons.values())))
    for payload, reason in dead:
        try:
            await ctx.dead_letters(connector.system, payload, reason)
        except Exception:  # the database row is the record; the topic copy is for operators
            log.exception("could not copy a dead letter to Kafka")


async def count_pending(ctx: Context) -> int:
    async with ctx.transactions.transaction() as session:
        return await mirror.count_pending(session)
