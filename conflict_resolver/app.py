"""conflict_resolver's composition root: ``uvicorn conflict_resolver.app:create_app --factory``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from conflict_resolver import handlers
from conflict_resolver import wiring as resolver_wiring
from conflict_resolver.adapters.tables import outbox
from conflict_resolver.api import policy as policy_api
from conflict_resolver.domain.policy import DEFAULT_POLICY
from conflict_resolver.settings import ResolverSettings
from schemas.registration import RegistrationSubmitted
from schemas.topics import REGISTRATIONS
from services.clock import Clock, SystemClock
from services.http.app import build_api
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
        app.state.runtime = runtime
        await runtime.start()
        resolver_wiring.add_background_jobs(runtime, ctx, resolved)  # issue 5: expiry
        try:
            yield
        finally:
            await runtime.stop()

    return build_api(
        title="dealreg: conflict resolver",
        description="Rules of engagement, exclusivity and the conflict queue (see API.md).",
        lifespan=lifespan,
        routers=[policy_api.router],
    )
