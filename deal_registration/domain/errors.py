"""What a deal_registration use case refuses, in domain terms.

The handlers raise these; the API turns each into one problem+json answer in a single map
(``deal_registration.api.errors``), so no use case knows an HTTP status.
"""

from __future__ import annotations


class RegistrationError(Exception):
    """A use case refused the request."""


class UnauthenticatedError(RegistrationError):
    """The bearer token is not a live key nor the admin token."""


class RateLimitedError(RegistrationError):
    """The caller's API key sent too many requests; it may retry after ``retry_after``."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} seconds")
        self.retry_after = retry_after


class ForbiddenError(RegistrationError):
    """The caller may not do this (wrong role, or its partner is suspended)."""


class NotFoundError(RegistrationError):
    """No such thing, as far as the caller may know (another partner's is not found too)."""

    def __init__(self, what: str = "registration") -> None:
        super().__init__(f"No such {what}.")
        self.what = what


class ConflictError(RegistrationError):
    """The registration's state does not allow this change."""


class FieldProblemsError(RegistrationError):
    """Fields of the request are invalid; each problem names its field."""

    def __init__(
        self, problems: list[dict[str, str]], detail: str = "The request has invalid fields."
    ) -> None:
        super().__init__(detail)
        self.problems = problems
        self.detail = detail


class IdempotencyKeyReusedError(RegistrationError):
    """The Idempotency-Key was already used with a different request."""
