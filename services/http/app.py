"""Build a service's FastAPI app with the shared error format, health and body limits."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager

from fastapi import APIRouter, FastAPI, Request
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response

from services.http.health import ReadinessCheck, health_router
from services.http.problems import install_problem_handlers, problem_response
from services.metrics import HTTP_REQUEST_SECONDS

MAX_BODY_BYTES = 64 * 1024


class _BodyLimits(BaseHTTPMiddleware):
    """413 for bodies over 64 KiB and 415 for non-JSON bodies, before any parsing."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.method in {"POST", "PUT", "PATCH"} and not request.url.path.startswith(
            "/v1/webhooks"
        ):
            declared = request.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                return problem_response(413, "The body is larger than 64 KiB.")
            body = await request.body()
            if len(body) > MAX_BODY_BYTES:
                return problem_response(413, "The body is larger than 64 KiB.")
            content_type = request.headers.get("content-type", "")
            if body and not content_type.split(";")[0].strip().endswith(("/json", "+json")):
                return problem_response(415, "Send the body as application/json.")
        return await call_next(request)


class _RequestMetrics(BaseHTTPMiddleware):
    """Latency per route template (not per raw path, so ids do not explode the label set)."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        HTTP_REQUEST_SECONDS.labels(
            method=request.method, route=template, status=str(response.status_code)
        ).observe(time.perf_counter() - started)
        return response


def build_api(
    *,
    title: str,
    description: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    routers: Sequence[APIRouter],
) -> FastAPI:
    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    install_problem_handlers(app)
    app.add_middleware(_BodyLimits)
    app.add_middleware(_RequestMetrics)

    app.include_router(_late_health_router(app))
    for router in routers:
        app.include_router(router)
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
