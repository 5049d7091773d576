"""The sandbox process: ``uvicorn crm_sync.sandbox.app:create_app --factory --port 8090``.

HubSpot's dialect, the control API and the page on this port (HTTP); Salesforce's dialect on
``DEALREG_SANDBOX_SALESFORCE_PORT`` over HTTPS with a certificate generated at start (written
to ``DEALREG_SANDBOX_TLS_DIR/cert.pem`` so clients can trust it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from crm_sync.sandbox import control, hubspot, page, salesforce, tls
from crm_sync.sandbox.settings import SandboxSettings
from crm_sync.sandbox.store import Sandbox
from crm_sync.sandbox.webhooks import WebhookSender


def _salesforce_app(sandbox: Sandbox, settings: SandboxSettings) -> FastAPI:
    app = FastAPI(title="CRM sandbox: Salesforce", openapi_url=None)
    base = f"https://127.0.0.1:{settings.salesforce_port}"
    app.include_router(salesforce.build_router(sandbox, settings, base))

    @app.exception_handler(salesforce.SalesforceError)
    async def sf_error(_request: Request, error: salesforce.SalesforceError) -> JSONResponse:
        return JSONResponse(error.body, status_code=error.status, headers=error.headers)

    @app.middleware("http")
    async def limit_info(request: Request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        used = sandbox.counters.calls["salesforce"]
        response.headers["Sforce-Limit-Info"] = f"api-usage={used}/{settings.salesforce_per_day}"
        return response

    return app


def create_app(settings: SandboxSettings | None = None) -> FastAPI:
    resolved = settings or SandboxSettings()
    sandbox = Sandbox()
    sender = WebhookSender(sandbox, resolved)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        cert, key = tls.generate(Path(resolved.tls_dir))
        server = uvicorn.Server(
            uvicorn.Config(
                _salesforce_app(sandbox, resolved),
                host="127.0.0.1",
                port=resolved.salesforce_port,
                ssl_certfile=str(cert),
                ssl_keyfile=str(key),
                log_level="warning",
                lifespan="off",
            )
        )
        # The outer server owns the process's signals; this one stops when the lifespan ends.
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        tasks = [asyncio.create_task(server.serve()), asyncio.create_task(sender.run())]
        try:
            yield
        finally:
            server.should_exit = True
            for task in tasks[1:]:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    app = FastAPI(title="dealreg CRM sandbox", lifespan=lifespan)
    app.include_router(hubspot.build_router(sandbox, resolved))
    app.include_router(control.build_router(sandbox, resolved, sender))

    @app.middleware("http")
    async def hubspot_rate_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        stated = request.scope.get(hubspot.RATE_HEADERS_SCOPE_KEY)
        if stated and response.status_code < 400:
            response.headers.update(stated)
        return response

    @app.exception_handler(hubspot.HubSpotError)
    async def hs_error(_request: Request, error: hubspot.HubSpotError) -> JSONResponse:
        extra = dict(error.extra)
        headers = extra.pop("headers", {})
        return JSONResponse(
            hubspot.error_body(error.status, error.message, error.category, **extra),
            status_code=error.status,
            headers=headers,
        )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return page.PAGE

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
