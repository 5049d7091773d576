"""Registration statuses and the transitions between them (DOMAIN.md, "Lifecycle")."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    SUBMITTED = "submitted"
    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    WON = "won"
    LOST = "lost"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


ALLOWED_TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.SUBMITTED: frozenset(
        {Status.APPROVED, Status.REJECTED, Status.PENDING_REVIEW, Status.WITHDRAWN}
    ),
    Status.PENDING_REVIEW: frozenset({Status.APPROVED, Status.REJECTED, Status.WITHDRAWN}),
    Status.APPROVED: frozenset({Status.WON, Status.LOST, Status.EXPIRED, Status.WITHDRAWN}),
    # A waitlisted rejection (ALREADY_REGISTERED) may later be promoted.
    Status.REJECTED: frozenset({Status.APPROVED}),
    Status.WON: frozenset(),
    Status.LOST: frozenset(),
    Status.EXPIRED: frozenset(),
    Status.WITHDRAWN: frozenset(),
}


def can_transition(current: Status, target: Status) -> bool:
    return target in ALLOWED_TRANSITIONS[current]
