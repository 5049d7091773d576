"""``/healthz`` (alive), ``/readyz`` (every dependency ready, and why not) and ``/metrics``.

``/healthz`` is liveness only: it answers as long as the process serves HTTP, so an
orchestrator restarts only a wedged process. ``/readyz`` runs every readiness check at once,
each bounded by a timeout, and answers 503 with each check's ``{ok, detail}`` when any is not
ready, so a fault (database, brokers, a stuck relay, a paused partition) shows within seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


@dataclass(frozen=True)
class CheckResult:
    """One dependency's readiness and what an operator needs to know about it (JSON-able)."""

    ok: bool
    detail: Any = None


ReadinessCheck = Callable[[], Awaitable[CheckResult]]
ChecksProvider = Callable[[], Mapping[str, ReadinessCheck]]


async def run_check(check: ReadinessCheck, *, timeout_seconds: float) -> CheckResult:
    """A check that fails, or does not answer in time, says so instead of failing ``/readyz``."""
    try:
        return await asyncio.wait_for(check(), timeout=timeout_seconds)
    except TimeoutError:
        return CheckResult(False, f"no answer within {timeout_seconds:g} s")
    except Exception as error:
        return CheckResult(False, f"{type(error).__name__}: {error}")


def health_router(checks: ChecksProvider, *, timeout_seconds: float = 3.0) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Database, brokers, outbox relay and consumers are ready")
    async def readyz() -> JSONResponse:
        named = dict(checks())
        results = await asyncio.gather(
            *(run_check(check, timeout_seconds=timeout_seconds) for check in named.values())
        )
        ready = bool(named) and all(result.ok for result in results)
        body = {
            "status": "ready" if ready else "not ready",
            "checks": {
                name: {"ok": result.ok, "detail": result.detail}
                for name, result in zip(named, results, strict=True)
            },
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
