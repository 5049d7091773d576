"""deal_registration's composition root: ``uvicorn deal_registration.app:create_app --factory``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from deal_registration import handlers
from deal_registration.adapters.tables import outbox
from deal_registration.api.routes import router
from deal_registration.settings import RegistrationSettings
from schemas.registration import RegistrationApproved, RegistrationRejected
from schemas.topics import DECISIONS
from services.clock import Clock, SystemClock
from services.http.app import build_api
from services.runtime import ServiceRuntime


def create_app(settings: RegistrationSettings | None = None, clock: Clock | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resolved = settings or RegistrationSettings()
        runtime = ServiceRuntime(settings=resolved, outbox=outbox, clock=clock or SystemClock())
        ctx = handlers.Context(
            transactions=runtime.transactions,
            clock=runtime.clock,
            admin_token=resolved.security.admin_token.get_secret_value(),
        )

        async def on_decision(envelope: Any) -> None:
            await handlers.apply_decision(ctx, envelope)

        runtime.add_consumer(
            group_id=handlers.DECISIONS_CONSUMER,
            topics=[DECISIONS.name],
            handlers={
                RegistrationApproved.event_type: on_decision,
                RegistrationRejected.event_type: on_decision,
            },
        )
        app.state.context = ctx
        app.state.runtime = runtime
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    return build_api(
        title="dealreg: deal registration",
        description="Partner-facing registration intake (see API.md).",
        lifespan=lifespan,
        routers=[router],
    )
