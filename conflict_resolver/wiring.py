"""The rules' consumers and background jobs, added to the runtime by ``app.create_app``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from conflict_resolver import handlers
from conflict_resolver.settings import ResolverSettings
from schemas.crm import CrmDealClosed, DirectOpportunityClosed, DirectOpportunityOpened
from schemas.registration import ExtensionRequested, RegistrationWithdrawn
from schemas.topics import CRM
from services.kafka.consumer import EventHandler
from services.kafka.sources import only_from_senders
from services.runtime import ServiceRuntime


def _bound(
    use_case: Callable[[handlers.Context, Any], Awaitable[None]], ctx: handlers.Context
) -> EventHandler:
    async def handle(envelope: Any) -> None:
        await use_case(ctx, envelope)

    return handle


def registration_handlers(ctx: handlers.Context) -> dict[str, EventHandler]:
    """Withdrawals and extension requests, on the registrations topic (same consumer group
    as submissions, so one registration's events are applied in order)."""
    return {
        RegistrationWithdrawn.event_type: _bound(handlers.withdraw, ctx),
        ExtensionRequested.event_type: _bound(handlers.request_extension, ctx),
    }


def crm_handlers(ctx: handlers.Context) -> dict[str, EventHandler]:
    return {
        CrmDealClosed.event_type: _bound(handlers.close_deal, ctx),
        DirectOpportunityOpened.event_type: _bound(handlers.open_direct_opportunity, ctx),
        DirectOpportunityClosed.event_type: _bound(handlers.close_direct_opportunity, ctx),
    }


def add_consumers(runtime: ServiceRuntime, ctx: handlers.Context) -> None:
    runtime.add_consumer(
        group_id=handlers.CRM_CONSUMER,
        topics=[CRM.name],
        handlers=only_from_senders(crm_handlers(ctx)),  # only crm_sync may speak on dealreg.crm
    )


def expiry_job(ctx: handlers.Context, interval_seconds: float) -> Callable[[], Awaitable[None]]:
    """End protections past their expiry, one per transaction, without anyone asking."""

    async def job() -> None:
        while True:
            if not await handlers.expire_one(ctx):
                await asyncio.sleep(interval_seconds)

    return job


def add_background_jobs(
    runtime: ServiceRuntime, ctx: handlers.Context, settings: ResolverSettings
) -> None:
    runtime.add_background("protection-expiry", expiry_job(ctx, settings.expiry_interval_seconds))
