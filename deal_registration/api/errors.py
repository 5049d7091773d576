"""The one map from what a use case refuses (``domain.errors``) to a problem+json answer."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from deal_registration.domain.errors import (
    ConflictError,
    FieldProblemsError,
    ForbiddenError,
    IdempotencyKeyReusedError,
    NotFoundError,
    RateLimitedError,
    RegistrationError,
    UnauthenticatedError,
)
from services.http.problems import ProblemError, problem_error_response
from services.http.security import forbidden, unauthorized


def problem_for(error: RegistrationError) -> ProblemError:
    """The problem document (status, title, detail, fields, headers) for a refusal."""
    match error:
        case UnauthenticatedError():
            return unauthorized()
        case RateLimitedError(retry_after=retry_after):
            return ProblemError(
                429,
                "Too many requests for this API key; retry after the given number of seconds.",
                title="Too Many Requests",
                headers={"Retry-After": str(retry_after)},
            )
        case ForbiddenError():
            return forbidden(str(error))
        case NotFoundError():
            return ProblemError(404, str(error), title="Not Found")
        case ConflictError():
            return ProblemError(409, str(error), title="Conflict")
        case FieldProblemsError(problems=problems, detail=detail):
            return ProblemError(422, detail, title="Validation failed", errors=problems)
        case IdempotencyKeyReusedError():
            return ProblemError(
                422,
                "This Idempotency-Key was already used with a different request.",
                title="Idempotency key reused",
                errors=[
                    {"field": "header.idempotency-key", "message": "was used for another request"}
                ],
            )
    raise TypeError(f"no problem is mapped for {type(error).__name__}")  # pragma: no cover


def install(app: FastAPI) -> None:
    """Answer every refusal a route's use case raises with its problem document."""

    @app.exception_handler(RegistrationError)
    async def _refused(_request: Request, error: RegistrationError) -> JSONResponse:
        return problem_error_response(problem_for(error))
