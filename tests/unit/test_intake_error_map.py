"""The one map from what deal_registration's use cases refuse to problem documents."""

from __future__ import annotations

import pytest

from deal_registration.api.errors import problem_for
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


@pytest.mark.parametrize(
    ("error", "status", "title", "detail"),
    [
        (UnauthenticatedError(), 401, "Unauthorized", "The token is not valid."),
        (
            RateLimitedError(3),
            429,
            "Too Many Requests",
            "Too many requests for this API key; retry after the given number of seconds.",
        ),
        (
            ForbiddenError("Only the admin may do that."),
            403,
            "Forbidden",
            "Only the admin may do that.",
        ),
        (NotFoundError(), 404, "Not Found", "No such registration."),
        (NotFoundError("API key"), 404, "Not Found", "No such API key."),
        (ConflictError("Already withdrawn."), 409, "Conflict", "Already withdrawn."),
        (
            FieldProblemsError([{"field": "url", "message": "is bad"}]),
            422,
            "Validation failed",
            "The request has invalid fields.",
        ),
        (
            IdempotencyKeyReusedError(),
            422,
            "Idempotency key reused",
            "This Idempotency-Key was already used with a different request.",
        ),
    ],
)
def test_each_refusal_has_its_status_title_and_detail(
    error: RegistrationError, status: int, title: str, detail: str
) -> None:
    problem = problem_for(error)
    assert (problem.status, problem.title, problem.detail) == (status, title, detail)


def test_a_rate_limited_caller_is_told_when_to_retry() -> None:
    assert problem_for(RateLimitedError(7)).headers == {"Retry-After": "7"}


def test_an_unauthenticated_caller_is_told_the_scheme() -> None:
    assert problem_for(UnauthenticatedError()).headers == {"WWW-Authenticate": "Bearer"}


def test_field_problems_name_their_fields_and_may_say_why_in_their_own_words() -> None:
    problem = problem_for(
        FieldProblemsError(
            [{"field": "query.cursor", "message": "is not a valid cursor"}],
            detail="The cursor is not one this API returned.",
        )
    )
    assert problem.errors == [{"field": "query.cursor", "message": "is not a valid cursor"}]
    assert problem.detail == "The cursor is not one this API returned."


def test_a_reused_idempotency_key_names_the_header() -> None:
    assert problem_for(IdempotencyKeyReusedError()).errors == [
        {"field": "header.idempotency-key", "message": "was used for another request"}
    ]
