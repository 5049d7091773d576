"""conflict_resolver's composition root: ``uvicorn conflict_resolver.app:create_app --factory``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from conflict_resolver import handlers
from conflict_resolver import wiring as resolver_wiring
from conflict_resolver.adapters.tables import inbox, outbox
from conflict_resolver.api import policy as policy_api
from conflict_resolver.console.routes import router as console_router
from conflict_resolver.domain.policy import DEFAULT_POLICY
from conflict_resolver.queue import handlers as queue_handlers
from conflict_resolver.queue.api import router as queue_router
from conflict_resolver.queue.jobs import run_sla_loop
from conflict_resolver.queue.live import LiveFeed
from conflict_resolver.queue.settings import QueueSettings
from conflict_resolver.queue.tables import ops_keys
from conflict_resolver.settings import ResolverSettings
from schemas.registration import RegistrationSubmitted
from schemas.topics import PRINCIPALS, REGISTRATIONS
from services.clock import Clock, SystemClock
from services.http.app import build_api
from services.principals import principal_handlers
from services.retention import bookkeeping_rules
from services.runtime import ServiceRuntime


def create_app(settings: ResolverSettings | None = None, clock: Clock | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resolved = settings or ResolverSettings()
        runtime = ServiceRuntime(settings=resolved, outbox=outbox, clock=clock or SystemClock())
        ctx = handlers.Context(
            transactions=runtime.transactions, clock=runtime.clock, policy=DEFAULT_POLICY
        )

        async def on_submitted(envelope: Any) -> None:
            await handlers.decide_submission(ctx, envelope)

        runtime.add_consumer(
            group_id=handlers.SUBMISSIONS_CONSUMER,
            topics=[REGISTRATIONS.name],
            handlers={
                RegistrationSubmitted.event_type: on_submitted,
                **resolver_wiring.registration_handlers(ctx),
            },
        )
        resolver_wiring.add_consumers(runtime, ctx)  # issue 5: crm events
        app.state.context = ctx

        # --- conflict queue and console (issue 6) ---
        queue_settings = QueueSettings()
        queue_ctx = queue_handlers.QueueContext(
            transactions=runtime.transactions,
            clock=runtime.clock,
            policy=DEFAULT_POLICY,
            admin_token=resolved.security.admin_token.get_secret_value(),
        )

        runtime.add_consumer(
            group_id=queue_handlers.PRINCIPALS_CONSUMER,
            topics=[PRINCIPALS.name],
            handlers=principal_handlers(
                transactions=runtime.transactions,
                ops_keys=ops_keys,
                inbox=inbox,
                consumer=queue_handlers.PRINCIPALS_CONSUMER,
                clock=runtime.clock,
            ),
        )
        queue_feed = LiveFeed(runtime.transactions)
        app.state.queue = queue_ctx
        app.state.queue_feed = queue_feed
        # --- end conflict queue and console ---
        app.state.runtime = runtime
        await runtime.start()
        resolver_wiring.add_background_jobs(runtime, ctx, resolved)
        runtime.add_retention(bookkeeping_rules(resolved.retention, inbox=inbox, outbox=outbox))
        runtime.add_background("conflict-live-feed", queue_feed.run)
        runtime.add_background(
            "conflict-sla",
            lambda: run_sla_loop(
                queue_ctx, interval_seconds=queue_settings.sla_check_interval_seconds
            ),
        )
        try:
            yield
        finally:
            await runtime.stop()

    return build_api(
        title="dealreg: conflict resolver",
        description="Rules of engagement, exclusivity and the conflict queue (see API.md).",
        lifespan=lifespan,
        routers=[policy_api.router, queue_router, console_router],
    )
