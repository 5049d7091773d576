"""crm_sync's composition root: ``uvicorn crm_sync.app:create_app --factory``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from crm_sync import handlers
from crm_sync.adapters.tables import outbox
from crm_sync.settings import CrmSyncSettings
from schemas.registration import RegistrationApproved
from schemas.topics import DECISIONS
from services.clock import Clock, SystemClock
from services.http.app import build_api
from services.runtime import ServiceRuntime


def create_app(settings: CrmSyncSettings | None = None, clock: Clock | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resolved = settings or CrmSyncSettings()
        runtime = ServiceRuntime(settings=resolved, outbox=outbox, clock=clock or SystemClock())
        ctx = handlers.Context(transactions=runtime.transactions, clock=runtime.clock)

        async def on_approved(envelope: Any) -> None:
            await handlers.record_approval(ctx, envelope)

        runtime.add_consumer(
            group_id=handlers.APPROVALS_CONSUMER,
            topics=[DECISIONS.name],
            handlers={RegistrationApproved.event_type: on_approved},
        )
        app.state.context = ctx
        app.state.runtime = runtime
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    return build_api(
        title="dealreg: CRM sync",
        description="Mirrors approved deals into the CRM and takes CRM webhooks back (see API.md).",
        lifespan=lifespan,
        routers=[],
    )
