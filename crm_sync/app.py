"""crm_sync's composition root: ``uvicorn crm_sync.app:create_app --factory``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import structlog
from fastapi import FastAPI

from crm_sync import companies, dead_letters, handlers, outbound, reconcile
from crm_sync.adapters.connectors import build_connector
from crm_sync.adapters.tables import inbox, ops_keys, outbox
from crm_sync.adapters.webhook_inbox import CRM_WEBHOOK_DEDUP_CONSUMER
from crm_sync.handlers import Context, Mirror
from crm_sync.lease import LeaseTerms, leased
from crm_sync.ports import CrmConnector
from crm_sync.protection_notes import ProtectionNotes
from crm_sync.routes import router
from crm_sync.settings import CrmSyncSettings
from crm_sync.state import CrmSyncState
from schemas.cosell import CoSellAccepted, CoSellDeclined, InfluenceAccepted
from schemas.encroachment import DirectEncroachmentRaised
from schemas.principals import ApiKeyRevoked, OpsKeyIssued
from schemas.registration import (
    ProtectionExpired,
    ProtectionExtended,
    ProtectionTransferred,
    RegistrationApproved,
    RegistrationWithdrawn,
)
from schemas.review import RegistrationAmended
from schemas.topics import DEAD_LETTERS
from services.clock import Clock, SystemClock
from services.events import Subscriptions, UnitOfWork
from services.http.app import build_api
from services.http.state import install_state
from services.polling import poll
from services.principals import OpsAuthenticator, OpsKeyEvents
from services.retention import PruneRule, bookkeeping_rules
from services.runtime import ServiceRuntime
from services.settings import RetentionSettings

log = structlog.get_logger(__name__)


PRINCIPALS_CONSUMER = "crm_sync.principals"  # the inbox name of the ops-key handlers
PUSHER_LEASE = "crm-pusher"
RECONCILER_LEASE = "crm-reconciler"


def create_app(settings: CrmSyncSettings | None = None, clock: Clock | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resolved = settings or CrmSyncSettings()
        runtime = ServiceRuntime(settings=resolved, outbox=outbox, clock=clock or SystemClock())
        connector = build_connector(resolved.crm)

        async def dead_letter(system: str, payload: dict[str, Any], reason: str) -> None:
            await runtime.publisher.send_raw(
                DEAD_LETTERS.name,
                key=str(payload.get("account_key", "")).encode(),
                value=json.dumps(payload).encode(),
                headers=[
                    ("dlq_reason", reason.encode()),
                    ("dlq_consumer", f"crm_sync.push.{system}".encode()),
                    ("dlq_registration_id", str(payload.get("registration_id")).encode()),
                ],
            )

        ctx = Context(
            transactions=runtime.transactions,
            clock=runtime.clock,
            connector=connector,
            settings=resolved.crm,
            dead_letters=dead_letter,
        )
        unit = UnitOfWork(
            transactions=runtime.transactions,
            clock=runtime.clock,
            inbox=inbox,
            emitter=handlers.EMITTER,
        )
        runtime.subscribe(subscriptions(unit, Mirror(ctx.wake_pusher), ProtectionNotes(connector)))
        state = CrmSyncState(
            context=ctx,
            ops_auth=OpsAuthenticator(
                transactions=runtime.transactions,
                ops_keys=ops_keys,
                admin_token=resolved.security.admin_token.get_secret_value(),
                previous_admin_token=resolved.security.previous_admin_token,
                clock=runtime.clock,
            ),
            reconcile_now=asyncio.Event(),
        )
        install_state(app, runtime, state)
        await runtime.start()
        runtime.add_retention(retention_rules(resolved.retention))
        if connector is not None:
            crm = resolved.crm
            terms = LeaseTerms(
                owner=crm.instance_id,
                ttl_seconds=crm.lease_ttl_seconds,
                heartbeat_seconds=crm.lease_heartbeat_seconds,
            )
            jobs = {
                PUSHER_LEASE: _pusher(ctx, connector),
                RECONCILER_LEASE: _reconciler(ctx, connector, state.reconcile_now),
            }
            for name, job in jobs.items():
                runtime.add_background(
                    name,
                    leased(
                        name,
                        job,
                        transactions=runtime.transactions,
                        clock=runtime.clock,
                        terms=terms,
                    ),
                )
        try:
            yield
        finally:
            await runtime.stop()
            if connector is not None:
                await connector.aclose()

    return build_api(
        title="dealreg: CRM sync",
        description="Mirrors approved deals into the CRM and takes CRM webhooks back (see API.md).",
        lifespan=lifespan,
        routers=[router],
    )


def subscriptions(
    unit: UnitOfWork, mirror: Mirror, notes: ProtectionNotes | None = None
) -> Subscriptions:
    """One consumer group for everything crm_sync reads.

    The mirror's handlers are robust to the order across decisions and registrations (see
    ``crm_sync.domain.lifecycle``); the inbox keeps each handler's historical consumer name, so
    redelivery stays a no-op. A partition's run of events is applied in one transaction
    (``batched``): each handler reads what the one before wrote, so a run holding an approval,
    its transfer and an amendment ends where one transaction per event would
    (tests/integration/test_crm_lifecycle_order.py). Only deal_registration may speak on
    ``dealreg.principals``: a principal event from any other source is dead-lettered and mints
    nothing.
    """
    approvals, lifecycle = handlers.APPROVALS_CONSUMER, handlers.LIFECYCLE_CONSUMER
    keys = OpsKeyEvents(ops_keys)
    notes = notes or ProtectionNotes()
    return (
        Subscriptions(consumer=handlers.MIRROR_GROUP, unit=unit, batched=True)
        .on(RegistrationApproved, mirror.record_approval, inbox_consumer=approvals)
        .on(ProtectionExtended, mirror.record_lifecycle, inbox_consumer=lifecycle)
        .on(ProtectionExpired, mirror.record_lifecycle, inbox_consumer=lifecycle)
        .on(ProtectionTransferred, mirror.record_transfer, inbox_consumer=lifecycle)
        .on(RegistrationWithdrawn, mirror.record_lifecycle, inbox_consumer=lifecycle)
        .on(DirectEncroachmentRaised, notes.write_note, inbox_consumer=handlers.NOTES_CONSUMER)
        .on(RegistrationAmended, mirror.record_amendment, inbox_consumer=lifecycle)
        .on(InfluenceAccepted, mirror.record_influence, inbox_consumer=handlers.PARTNERS_CONSUMER)
        .on(CoSellAccepted, mirror.record_co_sell, inbox_consumer=handlers.PARTNERS_CONSUMER)
        .on(CoSellDeclined, mirror.record_co_sell, inbox_consumer=handlers.PARTNERS_CONSUMER)
        .on(
            OpsKeyIssued,
            keys.issued,
            inbox_consumer=PRINCIPALS_CONSUMER,
            trusted_senders_only=True,
        )
        .on(
            ApiKeyRevoked,
            keys.revoked,
            inbox_consumer=PRINCIPALS_CONSUMER,
            trusted_senders_only=True,
        )
    )


def retention_rules(retention: RetentionSettings) -> list[PruneRule]:
    """Inbox and outbox, with the CRM webhook de-duplication rows on a window of their own."""
    return [
        *bookkeeping_rules(
            retention,
            inbox=inbox,
            outbox=outbox,
            inbox_only=inbox.c.consumer != CRM_WEBHOOK_DEDUP_CONSUMER,
        ),
        PruneRule(
            name="crm_webhook_dedup",
            table=inbox,
            timestamp=inbox.c.processed_at,
            keep_for=timedelta(days=retention.crm_webhook_dedup_days),
            only=inbox.c.consumer == CRM_WEBHOOK_DEDUP_CONSUMER,
        ),
    ]


def _pusher(ctx: Context, connector: CrmConnector) -> Callable[[], Awaitable[None]]:
    """Push due deals, ``push_pipeline_depth`` pushes in flight at most
    (``outbound.PushPipeline``)."""
    revived_at = -math.inf
    pipeline = outbound.PushPipeline(ctx, connector)

    async def step() -> bool:
        nonlocal revived_at
        if time.monotonic() - revived_at >= ctx.settings.revive_interval_seconds:
            revived_at = time.monotonic()
            if revived := await dead_letters.revive_transient(ctx):
                log.info("revived outage dead letters", count=revived)
        return await pipeline.step()

    async def run() -> None:
        nonlocal pipeline
        pipeline = outbound.PushPipeline(ctx, connector)
        try:
            await poll(step, idle_seconds=0.25, wake=ctx.wake_pusher)
        finally:
            await pipeline.aclose()

    return run


async def _sweep_companies(ctx: Context, connector: CrmConnector) -> None:
    """The companies' sweep (families and aliases for the resolver), beside the deals'."""
    source = companies.company_source(connector)
    if source is None:
        return
    try:
        read = await companies.sweep_companies(ctx, source)
        log.info("company sweep", crm_system=connector.system, read=read)
    except Exception:
        log.exception("company sweep failed", crm_system=connector.system)


def _reconciler(
    ctx: Context, connector: CrmConnector, now: asyncio.Event
) -> Callable[[], Awaitable[None]]:
    """Sweep every interval, or sooner when asked here or on another instance (the request is
    a database row, polled every lease heartbeat)."""
    settings = ctx.settings
    poll = min(settings.reconcile_interval_seconds, settings.lease_heartbeat_seconds)

    async def run() -> None:
        swept_at = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll):  # not wait_for: see services.polling.idle
                    await now.wait()
            due = now.is_set() or (
                time.monotonic() - swept_at >= settings.reconcile_interval_seconds
            )
            now.clear()
            try:
                if not due and not await reconcile.sweep_requested(ctx, connector.system):
                    continue
                swept_at = time.monotonic()
                examined = await reconcile.reconcile(ctx, connector)
                log.info("reconciliation sweep", crm_system=connector.system, examined=examined)
            except Exception:
                log.exception("reconciliation sweep failed", crm_system=connector.system)
            await _sweep_companies(ctx, connector)

    return run
