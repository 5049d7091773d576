"""What a listener shows besides the API: ``/docs``, ``/redoc``, ``/openapi.json`` and
``/metrics``, each behind a setting (:class:`services.settings.HttpSettings`).

Off, a path answers 404 as if it did not exist; ``/metrics`` with a metrics token set answers
401 to any caller that does not present it. The settings are the service's own, once its
lifespan built the runtime (so a test's settings object rules), else read from the
environment.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from services.http.problems import problem_response
from services.settings import HttpSettings

DOC_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
METRICS_PATH = "/metrics"


class ExposureGate:
    """A pure ASGI middleware in front of the documentation and metrics routes."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._from_env: HttpSettings | None = None

    def _settings(self, scope: Scope) -> HttpSettings:
        runtime = getattr(getattr(scope.get("app"), "state", None), "runtime", None)
        settings = getattr(getattr(runtime, "settings", None), "http", None)
        if isinstance(settings, HttpSettings):
            return settings
        if self._from_env is None:
            self._from_env = HttpSettings()
        return self._from_env

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path in DOC_PATHS and not self._settings(scope).docs_on:
            await problem_response(404, "Not Found")(scope, receive, send)
            return
        if path == METRICS_PATH:
            settings = self._settings(scope)
            if not settings.metrics_on:
                await problem_response(404, "Not Found")(scope, receive, send)
                return
            if settings.metrics_token is not None and not _bearer_matches(
                scope, settings.metrics_token.get_secret_value()
            ):
                await problem_response(
                    401,
                    "Send the metrics token as a bearer token.",
                    headers={"WWW-Authenticate": "Bearer"},
                )(scope, receive, send)
                return
        await self._app(scope, receive, send)


def _bearer_matches(scope: Scope, token: str) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, presented = value.partition(b" ")
            return scheme.lower() == b"bearer" and hmac.compare_digest(
                presented.strip(), token.encode()
            )
    return False
