"""deal_registration's composition root: ``uvicorn deal_registration.app:create_app --factory``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from fastapi import FastAPI

from deal_registration import handlers, openapi
from deal_registration.adapters.rate_limit import RateLimiter
from deal_registration.adapters.tables import idempotency_keys, inbox, outbox, webhook_deliveries
from deal_registration.api import errors
from deal_registration.api.routes import router
from deal_registration.handlers import analytics, capacity
from deal_registration.settings import RegistrationSettings
from deal_registration.webhooks import SecretBox, WebhookDispatcher, WebhookSetup
from deal_registration.webhooks.addresses import Resolver, system_resolver
from schemas.attribution import DealAttributed, ExchangeRatesPublished
from schemas.capacity import CapacityCapsPublished
from schemas.cosell import InfluenceAccepted, InfluenceRejected
from schemas.crm import CrmDealClosed, CrmOpportunityChanged, CrmOpportunityMirrored
from schemas.encroachment import DirectEncroachmentRaised, DirectEncroachmentResolved
from schemas.registration import (
    ExtensionDenied,
    ProtectionExpired,
    ProtectionExpiring,
    ProtectionExtended,
    ProtectionTransferred,
    RegistrationApproved,
    RegistrationRejected,
    RegistrationSentToReview,
    RegistrationSubmitted,
    RegistrationWithdrawn,
    WaitlistLeft,
)
from schemas.review import RegistrationReturnedForEdit
from services.clock import Clock, SystemClock
from services.events import Subscriptions, UnitOfWork
from services.http.app import build_api
from services.http.state import install_state
from services.retention import PruneRule, bookkeeping_rules
from services.runtime import ServiceRuntime
from services.settings import RetentionSettings

DESCRIPTION = """Partner-facing registration intake for PRM frontends (partner portals).

Every call needs `Authorization: Bearer <key>`: a partner key acts for exactly one partner, an
ops key reads everything and writes nothing, the admin token manages partners and keys.
Every error is `application/problem+json` (RFC 9457); validation errors name each bad field
in `errors: [{field, message}]`. Each API key may send 20 requests a second on average, with
bursts of 40 (per process); past that, 429 with `Retry-After`. See docs/partner-api.md.
"""


def create_app(
    settings: RegistrationSettings | None = None,
    clock: Clock | None = None,
    resolver: Resolver = system_resolver,
) -> FastAPI:
    """The app; ``resolver`` (how webhook hosts resolve) is replaceable for tests."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resolved = settings or RegistrationSettings()
        runtime = ServiceRuntime(settings=resolved, outbox=outbox, clock=clock or SystemClock())
        hooks = webhook_setup(resolved, resolver)
        ctx = handlers.Context(
            transactions=runtime.transactions,
            clock=runtime.clock,
            admin_token=resolved.security.admin_token.get_secret_value(),
            previous_admin_token=resolved.security.previous_admin_token,
            webhooks=hooks,
            rate_limiter=RateLimiter(
                rate=resolved.rate_limit.per_second, burst=resolved.rate_limit.burst
            ),
        )
        add_consumers(runtime, ctx)
        # The dispatcher bounds each attempt's total time itself; this bounds each phase.
        http = httpx.AsyncClient(timeout=resolved.webhook.timeout_seconds, follow_redirects=False)
        dispatcher = WebhookDispatcher(
            engine=runtime.engine,
            transactions=runtime.transactions,
            clock=runtime.clock,
            client=http,
            secrets=hooks.secrets,
            retry_schedule=resolved.webhook.retry_schedule_seconds,
            poll_interval_seconds=resolved.webhook.poll_interval_seconds,
            total_timeout_seconds=resolved.webhook.timeout_seconds,
            workers=resolved.webhook.workers,
            allow_private_addresses=resolved.webhook.allow_private_addresses,
            resolver=resolver,
        )
        install_state(app, runtime, ctx)
        await runtime.start()
        runtime.add_background("webhook-dispatcher", dispatcher.run)
        runtime.add_retention(retention_rules(resolved.retention))
        try:
            yield
        finally:
            await runtime.stop()
            await http.aclose()

    app = build_api(
        title="dealreg: deal registration",
        description=DESCRIPTION,
        lifespan=lifespan,
        routers=[router],
    )
    errors.install(app)
    openapi.install(app)
    return app


def webhook_setup(settings: RegistrationSettings, resolver: Resolver) -> WebhookSetup:
    key = settings.webhook.secret_key
    secrets = (
        SecretBox(key.get_secret_value())
        if key is not None
        else SecretBox.derived_from(settings.security.admin_token.get_secret_value())
    )
    return WebhookSetup(
        secrets=secrets,
        allow_private_addresses=settings.webhook.allow_private_addresses,
        resolver=resolver,
        rotation_overlap=timedelta(seconds=settings.webhook.rotation_overlap_seconds),
    )


def add_consumers(runtime: ServiceRuntime, ctx: handlers.Context) -> None:
    unit = UnitOfWork(
        transactions=ctx.transactions, clock=ctx.clock, inbox=inbox, emitter=handlers.EMITTER
    )
    for subscription in subscriptions(unit):
        runtime.subscribe(subscription)


def subscriptions(unit: UnitOfWork) -> list[Subscriptions]:
    """Decisions and CRM changes: everything that changes what a partner sees."""
    decisions = (
        # A partition's run of decisions is applied in one transaction (``batched``).
        Subscriptions(consumer=handlers.DECISIONS_CONSUMER, unit=unit, batched=True)
        .on(RegistrationApproved, handlers.apply_decision)
        .on(RegistrationRejected, handlers.apply_decision)
        .on(RegistrationSentToReview, handlers.apply_decision)
        .on(RegistrationReturnedForEdit, handlers.apply_decision)
        .on(ProtectionExtended, handlers.apply_decision)
        .on(ExtensionDenied, handlers.apply_decision)
        .on(ProtectionExpired, handlers.apply_decision)
        .on(WaitlistLeft, handlers.apply_decision)
        .on(DirectEncroachmentRaised, handlers.tell_encroachment)
        .on(DirectEncroachmentResolved, handlers.tell_encroachment)
        .on(ProtectionTransferred, handlers.apply_decision)
        .on(ProtectionExpiring, handlers.apply_decision)
        .on(InfluenceAccepted, handlers.apply_decision)
        .on(InfluenceRejected, handlers.apply_decision)
        .on(CapacityCapsPublished, capacity.record_caps)
    )
    crm_changes = (
        # Only crm_sync may speak on dealreg.crm: a forged source is dead-lettered.
        Subscriptions(consumer=handlers.CRM_CONSUMER, unit=unit, trusted_senders_only=True)
        .on(CrmOpportunityMirrored, handlers.apply_crm_change)
        .on(CrmOpportunityChanged, handlers.apply_crm_change)
        .on(CrmDealClosed, handlers.apply_crm_change)
    )
    # Partners' outcome figures: a projection of the events in a group of its own, so that
    # replaying it from the start of the topics rebuilds the same figures. Every sender is
    # checked (a forged close or attribution is dead-lettered).
    figures = (
        Subscriptions(consumer=analytics.ANALYTICS_CONSUMER, unit=unit, trusted_senders_only=True)
        .on(RegistrationSubmitted, analytics.project)
        .on(RegistrationWithdrawn, analytics.project)
        .on(RegistrationApproved, analytics.project)
        .on(RegistrationRejected, analytics.project)
        .on(RegistrationSentToReview, analytics.project)
        .on(ProtectionExtended, analytics.project)
        .on(ProtectionExpired, analytics.project)
        .on(ProtectionTransferred, analytics.project)
        .on(WaitlistLeft, analytics.project)
        .on(CrmDealClosed, analytics.project)
        .on(DealAttributed, analytics.project_attribution)
        .on(ExchangeRatesPublished, analytics.project_rates)
    )
    return [decisions, crm_changes, figures]


def retention_rules(retention: RetentionSettings) -> list[PruneRule]:
    """Inbox, outbox, idempotency records (API.md: honoured 24 hours at least) and finished
    webhook deliveries (a pending one is never pruned)."""
    return [
        *bookkeeping_rules(retention, inbox=inbox, outbox=outbox),
        PruneRule(
            name="idempotency_keys",
            table=idempotency_keys,
            timestamp=idempotency_keys.c.created_at,
            keep_for=timedelta(hours=retention.idempotency_hours),
        ),
        PruneRule(
            name="webhook_deliveries",
            table=webhook_deliveries,
            timestamp=webhook_deliveries.c.created_at,
            keep_for=timedelta(days=retention.webhook_deliveries_days),
            only=webhook_deliveries.c.state != "pending",
        ),
    ]
