"""Us -> CRM: push pending deals in batches; outages wait (capped backoff, ``Retry-After``)
for as long as they last, only records whose data the CRM refuses are dead-lettered.

The upsert is keyed by the registration id, so a retry after a lost answer updates the
opportunity it already created instead of creating a second one. Only owned fields that changed
since our last write are sent; the sales seed (amount, close date, first stage) only while the
opportunity may not exist yet.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Collection, Sequence
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
from crm_sync.domain.model import DealSeed, DealWrite, WriteResult
from crm_sync.domain.rules import created_sales, outbound_changes
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
    rows = await due_batch(ctx, connector)
    return await push_rows(ctx, connector, rows) if rows else 0


async def due_batch(
    ctx: Context, connector: CrmConnector, *, excluding: Collection[str] = ()
) -> list[MirroredDeal]:
    """The next batch of due deals, none of ``excluding`` (held by a push in flight)."""
    batch = min(ctx.settings.push_batch_size, connector.batch_size)
    async with ctx.transactions.transaction() as session:
        return await mirror.due_deals(
            session, now=ctx.clock.now(), limit=batch, excluding=excluding
        )


async def push_rows(ctx: Context, connector: CrmConnector, rows: list[MirroredDeal]) -> int:
    """Push these deals (read by :func:`due_batch`); returns how many were attempted."""
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


class PushPipeline:
    """Pushes with up to ``depth`` in flight (``push_pipeline_depth``): the next batches are
    read and sent while the previous ones are in the CRM or being recorded, so neither the
    database's work nor the time the CRM takes to answer leaves its request budget idle. A push
    is several requests in a row (HubSpot: the upsert, then the new deals' companies, then
    their association); with several pushes in flight, one push's company step goes while the
    next one's upsert does, and the connector's rate limiter is what paces them.

    Never two pushes for one deal: a push's deals are held from its read until its outcome is
    committed, and every read leaves the held deals out, so a deal read after that sees what
    the push recorded (synced, or pending again because it changed meanwhile). A second push
    starts only with a full batch: a partial one would spend a CRM request budget that a
    later, fuller push uses better.
    """

    def __init__(self, ctx: Context, connector: CrmConnector, *, depth: int | None = None) -> None:
        self._ctx = ctx
        self._connector = connector
        self._depth = max(1, depth or ctx.settings.push_pipeline_depth)
        self._held: set[str] = set()
        self._running: set[asyncio.Task[int]] = set()

    @property
    def held(self) -> frozenset[str]:
        """The deals of the pushes in flight."""
        return frozenset(self._held)

    async def step(self) -> bool:
        """Start a push if a slot is free and deals are due; False when nothing is due and
        nothing is in flight (idle)."""
        if len(self._running) >= self._depth:
            await self._reap(wait=True)
        await self._reap(wait=False)
        rows = await due_batch(self._ctx, self._connector, excluding=self._held)
        full = min(self._ctx.settings.push_batch_size, self._connector.batch_size)
        if not rows or (self._running and len(rows) < full):
            if not self._running:
                return False
            await self._reap(wait=True)
            return True
        held = {row.registration_id for row in rows}
        self._held |= held
        self._running.add(asyncio.create_task(self._push(rows, held)))
        return True

    async def drain(self) -> None:
        """Wait for the pushes in flight."""
        while self._running:
            await self._reap(wait=True)

    async def aclose(self) -> None:
        """Cancel the pushes in flight (the lease was lost or the service stops); a cancelled
        push is pushed again later, idempotently (the upsert is keyed by the registration)."""
        for task in self._running:
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        self._running.clear()
        self._held.clear()

    async def _push(self, rows: list[MirroredDeal], held: set[str]) -> int:
        try:
            return await push_rows(self._ctx, self._connector, rows)
        finally:
            self._held -= held

    async def _reap(self, *, wait: bool) -> None:
        if not self._running:
            return
        if wait:
            await asyncio.wait(self._running, return_when=asyncio.FIRST_COMPLETED)
        for task in [t for t in self._running if t.done()]:
            self._running.discard(task)
            task.result()  # a push's own failures are recorded by it; anything else is a bug


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
    """Record what the CRM took, for the whole push in one statement (``mirror.mark_pushed``),
    then give a just-created opportunity to the new holder of a deal handed over meanwhile."""
    now = ctx.clock.now()
    events = []
    pushed: list[mirror.Pushed] = []
    created: list[str] = []
    for row, write in zip(rows, writes, strict=True):
        result = results.get(row.registration_id)
        if result is not None and result.error is not None:
            continue
        crm_id = (result.crm_id if result else None) or row.crm_opportunity_id
        applied = None
        if row.crm_opportunity_id is None and write.seed is not None:
            initial = created_sales(connector.stages, write.seed)
            applied = initial.as_json()
            events.append(_mirrored(row, connector.system, crm_id or "", initial.stage, now))
        pushed.append(
            mirror.Pushed(
                row=row,
                crm_system=connector.system,
                crm_opportunity_id=crm_id,
                written_modified_at=result.modified_at if result else None,
                applied=applied,
            )
        )
        if write.seed is not None and crm_id:
            created.append(row.registration_id)
    async with ctx.transactions.transaction() as session:
        await mirror.mark_pushed(session, pushed)
        for registration_id in await mirror.handed_over_among(session, created):
            await hand_over_late(session, registration_id)
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
