"""RFC 9457 problem details: the one error format every dealreg endpoint answers with.

Validation errors carry ``errors: [{field, message}]`` naming each bad field with a dotted path
into the body (``customer.country``), a header (``header.idempotency-key``) or the query.
No stack trace ever reaches a caller: unexpected errors become a bare 500 problem and are
logged with the correlation id. A database that cannot be reached (down, restarting, out of
connections, a SQLite write lock held too long) is not a bug: it answers 503 with
``Retry-After`` so clients back off and retry, and the next request after it returns succeeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

PROBLEM_JSON = "application/problem+json"
UNAVAILABLE_RETRY_AFTER_SECONDS = 5
# SQLite reports both "the database is busy" and programming errors as OperationalError; only
# these messages mean the database is (for now) unavailable rather than the query wrong.
_SQLITE_UNAVAILABLE = ("locked", "busy", "unable to open", "disk i/o")
log = structlog.get_logger(__name__)


class ProblemError(Exception):
    """Raise from a route or handler to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        type_: str = "about:blank",
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.type_ = type_
        self.errors = errors
        self.headers = headers
        self.extensions = extensions


def problem_response(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    type_: str = "about:blank",
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extensions,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem_error_response(error: ProblemError) -> JSONResponse:
    """The answer for a raised :class:`ProblemError`."""
    return problem_response(
        error.status,
        error.detail,
        title=error.title,
        type_=error.type_,
        errors=error.errors,
        headers=error.headers,
        **error.extensions,
    )


def field_path(location: tuple[int | str, ...] | list[int | str]) -> str:
    """``("body", "customer", "country")`` -> ``customer.country``; headers keep their prefix."""
    parts = [str(part) for part in location]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_errors(raw_errors: Sequence[Any]) -> list[dict[str, str]]:
    errors = []
    for error in raw_errors:
        message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
        if error.get("type") == "extra_forbidden":
            message = "is not a known field"
        elif error.get("type") == "missing":
            message = "is required"
        errors.append({"field": field_path(error.get("loc", ())), "message": message})
    return errors


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette names only the first route's)."""
    allowed = []
    for method in ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


def is_database_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database cannot be reached now (as opposed to a bug)."""
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated or isinstance(error, sa_exc.InterfaceError):
            return True
        if isinstance(error, sa_exc.OperationalError):
            if type(error.orig).__module__.startswith("sqlite3"):
                return any(part in str(error.orig).lower() for part in _SQLITE_UNAVAILABLE)
            return True
        driver_error = error.orig.__cause__ if error.orig is not None else None
        return driver_error is not None and is_database_unavailable(driver_error)
    return isinstance(
        error,
        sa_exc.TimeoutError  # no pooled connection came free in time
        | OSError  # refused, reset, unreachable; includes TimeoutError
        | asyncpg.PostgresConnectionError
        | asyncpg.InterfaceError
        | asyncpg.CannotConnectNowError
        | asyncpg.TooManyConnectionsError
        | asyncpg.AdminShutdownError
        | asyncpg.QueryCanceledError,
    )


def unavailable_response() -> JSONResponse:
    return problem_response(
        503,
        "The service's database is unavailable; retry after the given number of seconds.",
        headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)},
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Map every error FastAPI or our code raises to problem+json."""

    @app.exception_handler(ProblemError)
    async def _problem(_request: Request, error: ProblemError) -> JSONResponse:
        return problem_error_response(error)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        errors = validation_errors(error.errors())
        if any(e["message"].startswith("JSON decode error") for e in errors):
            return problem_response(400, "The body is not valid JSON.", errors=errors)
        return problem_response(
            422, "The request has invalid fields.", title="Validation failed", errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        headers = dict(error.headers or {})
        if error.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return problem_response(error.status_code, str(error.detail), headers=headers)

    async def _maybe_unavailable(_request: Request, error: Exception) -> JSONResponse:
        if is_database_unavailable(error):
            log.warning("database unavailable", error=repr(error))
            return unavailable_response()
        return _internal_error(error)

    # Registered by class (not only under Exception) so Starlette answers them inside the
    # app instead of re-raising them to the server after the response.
    for error_class in (
        sa_exc.SQLAlchemyError,
        OSError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
    ):
        app.add_exception_handler(error_class, _maybe_unavailable)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, error: Exception) -> JSONResponse:
        if is_database_unavailable(error):
            return unavailable_response()
        return _internal_error(error)


def _internal_error(error: Exception) -> JSONResponse:
    log.error("unhandled error", exc_info=error)
    return problem_response(500, "An unexpected error occurred; it has been logged.")
