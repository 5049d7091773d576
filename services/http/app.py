"""Build a service's FastAPI app with the shared error format, health, body limits and the
documentation and metrics routes behind their settings."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager

from fastapi import APIRouter, FastAPI, HTTPException
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.http import openapi
from services.http.exposure import ExposureGate
from services.http.health import ReadinessCheck, health_router
from services.http.problems import install_problem_handlers, problem_response
from services.metrics import HTTP_REQUEST_SECONDS
from services.tracing import EXCLUDED_URLS

MAX_BODY_BYTES = 64 * 1024
# CRM webhooks come in batches (HubSpot sends up to 100 events in one request).
MAX_WEBHOOK_BODY_BYTES = 512 * 1024
# An account-overlap list (issue 16): up to 50,000 keyed hashes of 64 hex digits each.
MAX_OVERLAP_BODY_BYTES = 4 * 1024 * 1024
_WITH_BODY = {"POST", "PUT", "PATCH"}
# Metrics name the method only from this set: a made-up method must not mint a new series.
_KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


class _BodyTooLargeError(HTTPException):
    """An HTTPException, so that FastAPI's body reading lets it through (it turns any other
    error while reading into a 400) and the problem handlers answer it as a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The body is larger than {limit // 1024} KiB.")


class BodyLimits:
    """413 as soon as a body passes its limit, while it is read and before any authentication,
    whether it declares its length or streams in chunks; 415 for a body that is not JSON.

    A pure ASGI middleware: it counts the bytes the app pulls through ``receive``, so nothing
    past the limit is ever buffered.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY:
            await self._app(scope, receive, send)
            return
        webhook = str(scope["path"]).startswith("/v1/webhooks")
        limit = MAX_WEBHOOK_BODY_BYTES if webhook else MAX_BODY_BYTES
        if str(scope["path"]).startswith("/v1/overlap/"):
            limit = MAX_OVERLAP_BODY_BYTES
        headers = Headers(scope=scope)
        refused = _refusal(headers, limit=limit, json_only=not webhook)
        if refused is not None:
            await refused(scope, receive, send)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLargeError(limit)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, counted_receive, tracked_send)
        except _BodyTooLargeError:
            if not started:
                await _too_large(limit)(scope, receive, send)


def _refusal(headers: Headers, *, limit: int, json_only: bool) -> Response | None:
    declared = headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            return problem_response(400, "The Content-Length header is not a number.")
        if int(declared) > limit:
            return _too_large(limit)
    has_body = declared not in (None, "0") or "chunked" in headers.get("transfer-encoding", "")
    content_type = headers.get("content-type", "").split(";")[0].strip()
    if json_only and has_body and not content_type.endswith(("/json", "+json")):
        return problem_response(415, "Send the body as application/json.")
    return None


def _too_large(limit: int) -> Response:
    return problem_response(413, f"The body is larger than {limit // 1024} KiB.")


class _RequestMetrics:
    """Latency per route template (not per raw path, so ids do not explode the label set).

    Pure ASGI: Starlette's BaseHTTPMiddleware runs every request through an extra task and
    memory stream, a measurable share of a request's CPU on intake's hot path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting_status)
        finally:
            # The router records the matched route in the scope it was handed (this one).
            template = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"] if scope["method"] in _KNOWN_METHODS else "OTHER"
            HTTP_REQUEST_SECONDS.labels(method=method, route=template, status=str(status)).observe(
                time.perf_counter() - started
            )


def build_api(
    *,
    title: str,
    description: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    routers: Sequence[APIRouter],
) -> FastAPI:
    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    install_problem_handlers(app)
    app.add_middleware(BodyLimits)
    # /docs, /redoc, /openapi.json and /metrics only where the settings open them.
    app.add_middleware(ExposureGate)
    app.add_middleware(_RequestMetrics)

    app.include_router(_late_health_router(app))
    for router in routers:
        app.include_router(router)
    openapi.install(app)  # errors as problem+json only; a service may install its own
    # A server span per request, continuing the caller's `traceparent` (services.tracing);
    # without the per-message receive/send spans (intake's hot path).
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls=EXCLUDED_URLS, exclude_spans=["receive", "send"]
    )
    return app


def _late_health_router(app: FastAPI) -> APIRouter:
    """Readiness checks exist only once the lifespan built the runtime; look them up late."""

    def checks() -> Mapping[str, ReadinessCheck]:
        runtime = getattr(app.state, "runtime", None)
        if runtime is None:
            return {}
        named: Mapping[str, ReadinessCheck] = runtime.readiness_checks()
        return named

    return health_router(checks)
