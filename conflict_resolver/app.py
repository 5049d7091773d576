"""conflict_resolver's composition root: ``uvicorn conflict_resolver.app:create_app --factory``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from conflict_resolver import handlers
from conflict_resolver.adapters import matching_metrics  # noqa: F401  (registers the caches' metrics)
from conflict_resolver.adapters.outcomes import EMITTER
from conflict_resolver.adapters.tables import expiry_notices, inbox, outbox
from conflict_resolver.api import overlap as overlap_api
from conflict_resolver.api import policy as policy_api
from conflict_resolver.api.transfers import router as transfers_router
from conflict_resolver.console.routes import router as console_router
from conflict_resolver.domain.policy import DEFAULT_POLICY
from conflict_resolver.handlers import overlap
from conflict_resolver.jobs import run_expiry_loop
from conflict_resolver.queue import handlers as queue_handlers
from conflict_resolver.queue.api import router as queue_router
from conflict_resolver.queue.jobs import run_sla_loop
from conflict_resolver.queue.live import LiveFeed
from conflict_resolver.queue.tables import match_decisions, ops_keys
from conflict_resolver.settings import ResolverSettings
from conflict_resolver.state import ResolverState
from schemas.companies import CrmCompanyRemoved, CrmCompanyUpserted
from schemas.cosell import CoSellAccepted, CoSellDeclined
from schemas.crm import CrmDealClosed, DirectOpportunityClosed, DirectOpportunityOpened
from schemas.principals import (
    ApiKeyRevoked,
    OpsKeyIssued,
    PartnerKeyIssued,
    PartnerStatusChanged,
)
from schemas.registration import ExtensionRequested, RegistrationSubmitted, RegistrationWithdrawn
from schemas.review import RegistrationAppealed, RegistrationEdited
from services.clock import Clock, SystemClock
from services.events import EventContext, Subscriptions, UnitOfWork
from services.http.app import build_api
from services.http.state import install_state
from services.principals import OpsAuthenticator, OpsKeyEvents
from services.retention import PruneRule, bookkeeping_rules
from services.runtime import ServiceRuntime
from services.settings import RetentionSettings


def create_app(settings: ResolverSettings | None = None, clock: Clock | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resolved = settings or ResolverSettings()
        runtime = ServiceRuntime(settings=resolved, outbox=outbox, clock=clock or SystemClock())
        ctx = handlers.Context(
            transactions=runtime.transactions, clock=runtime.clock, policy=DEFAULT_POLICY
        )
        for subscription in subscriptions(unit_of_work(ctx)):
            runtime.subscribe(subscription)
        admin_token = resolved.security.admin_token.get_secret_value()
        sla_interval = resolved.queue.sla_check_interval_seconds
        queue_ctx = queue_handlers.QueueContext(
            transactions=runtime.transactions,
            clock=runtime.clock,
            policy=DEFAULT_POLICY,
            admin_token=admin_token,
        )
        queue_feed = LiveFeed(runtime.transactions)
        install_state(
            app,
            runtime,
            ResolverState(
                context=ctx,
                queue=queue_ctx,
                feed=queue_feed,
                ops_auth=OpsAuthenticator(
                    transactions=runtime.transactions,
                    ops_keys=ops_keys,
                    admin_token=admin_token,
                    previous_admin_token=resolved.security.previous_admin_token,
                    clock=runtime.clock,
                ),
                overlap=overlap.OverlapContext(
                    transactions=runtime.transactions,
                    clock=runtime.clock,
                    key_secret=resolved.overlap.secret(admin_token),
                    max_accounts=resolved.overlap.max_accounts,
                    min_upload_interval=timedelta(
                        seconds=resolved.overlap.min_upload_interval_seconds
                    ),
                ),
                intake_url=resolved.intake_url,
            ),
        )
        await runtime.start()
        runtime.add_background(
            "protection-expiry",
            lambda: run_expiry_loop(ctx, interval_seconds=resolved.expiry_interval_seconds),
        )
        runtime.add_retention(retention_rules(resolved.retention))
        runtime.add_background("conflict-live-feed", queue_feed.run)
        runtime.add_background(
            "conflict-sla", lambda: run_sla_loop(queue_ctx, interval_seconds=sla_interval)
        )
        try:
            yield
        finally:
            await runtime.stop()

    return build_api(
        title="dealreg: conflict resolver",
        description="Rules of engagement, exclusivity and the conflict queue (see API.md).",
        lifespan=lifespan,
        routers=[
            policy_api.router,
            queue_router,
            transfers_router,
            overlap_api.router,
            console_router,
        ],
    )


def unit_of_work(ctx: handlers.Context) -> UnitOfWork:
    """What every subscription shares: one transaction per event, the inbox, the resolver's
    emitter (its one source)."""
    return UnitOfWork(transactions=ctx.transactions, clock=ctx.clock, inbox=inbox, emitter=EMITTER)


def subscriptions(unit: UnitOfWork) -> list[Subscriptions]:
    """Everything the resolver consumes: topic (from the payload type) -> handler."""
    registrations = (
        # One consumer group, so that one registration's events are applied in order; a
        # partition's run of events is decided in one transaction (``batched``).
        Subscriptions(consumer=handlers.SUBMISSIONS_CONSUMER, unit=unit, batched=True)
        .on(RegistrationSubmitted, handlers.decide_submission)
        .on(RegistrationWithdrawn, handlers.withdraw)
        .on(ExtensionRequested, handlers.request_extension)
        .on(RegistrationAppealed, handlers.appeal)
        .on(RegistrationEdited, handlers.edited)
        .on(CoSellAccepted, handlers.co_sell_answered)
        .on(CoSellDeclined, handlers.co_sell_answered)
    )
    crm = (
        # Only crm_sync may speak on dealreg.crm: a forged source is dead-lettered.
        Subscriptions(consumer=handlers.CRM_CONSUMER, unit=unit, trusted_senders_only=True)
        .on(CrmDealClosed, handlers.close_deal)
        .on(DirectOpportunityOpened, handlers.open_direct_opportunity)
        .on(DirectOpportunityClosed, handlers.close_direct_opportunity)
        .on(CrmCompanyUpserted, handlers.upsert_company)
        .on(CrmCompanyRemoved, handlers.remove_company)
    )
    keys = OpsKeyEvents(ops_keys)

    async def key_revoked(event: ApiKeyRevoked, context: EventContext) -> None:
        # One revocation names one key, an ops key or a partner key (account overlap).
        await keys.revoked(event, context)
        await overlap.revoke_partner_key(context.session, event)

    principals = (
        # Only deal_registration may speak on dealreg.principals (it issues every key).
        Subscriptions(
            consumer=queue_handlers.PRINCIPALS_CONSUMER, unit=unit, trusted_senders_only=True
        )
        .on(OpsKeyIssued, keys.issued)
        .on(PartnerKeyIssued, overlap.partner_key_issued)
        .on(ApiKeyRevoked, key_revoked)
        .on(PartnerStatusChanged, overlap.partner_status_changed)
    )
    return [registrations, crm, principals]


def retention_rules(retention: RetentionSettings) -> list[PruneRule]:
    """What the resolver prunes: its inbox and published outbox, notices of expiries that have
    passed, and ops' decisions on possible duplicates older than the calibration keeps."""
    return [
        *bookkeeping_rules(retention, inbox=inbox, outbox=outbox),
        # A notice is about an expiry: once that has passed, its record serves no one.
        PruneRule(
            name="expiry_notices",
            table=expiry_notices,
            timestamp=expiry_notices.c.expires_at,
            keep_for=timedelta(days=retention.inbox_days),
        ),
        # Labelled pairs (both customers' names among their features) the review band is
        # calibrated from: the recent ones say how matching does now.
        PruneRule(
            name="match_decisions",
            table=match_decisions,
            timestamp=match_decisions.c.decided_at,
            keep_for=timedelta(days=retention.match_decisions_days),
        ),
    ]
