"""What every deal_registration use case shares: the context, the caller, the errors, the
envelope of the events it emits, and the service's source (bound once)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import RowMapping

from deal_registration.adapters.rate_limit import RateLimiter
from deal_registration.webhooks import WebhookSetup
from schemas.envelope import EventEnvelope, EventPayload, new_envelope
from services.clock import Clock, new_id
from services.http.problems import ProblemError
from services.uow import TransactionRunner

SOURCE = "/dealreg/deal_registration"
DECISIONS_CONSUMER = "deal_registration.decisions"
CRM_CONSUMER = "deal_registration.crm"

Response = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class Principal:
    """Who is calling: the admin, one partner, or a sales-ops user."""

    id: str
    role: Literal["admin", "partner", "ops"]
    partner_id: str | None = None


@dataclass(frozen=True)
class Context:
    transactions: TransactionRunner
    clock: Clock
    admin_token: str
    webhooks: WebhookSetup
    rate_limiter: RateLimiter | None = None


def not_found(what: str = "registration") -> ProblemError:
    return ProblemError(404, f"No such {what}.", title="Not Found")


def conflict(detail: str) -> ProblemError:
    return ProblemError(409, detail, title="Conflict")


def invalid(errors: list[dict[str, str]]) -> ProblemError:
    return ProblemError(
        422, "The request has invalid fields.", title="Validation failed", errors=errors
    )


def is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower() and len(value) == 36
    except ValueError:
        return False


def registration_envelope(
    payload: EventPayload,
    registration: dict[str, Any] | RowMapping,
    *,
    causation: str | None,
    time: datetime | None = None,
) -> EventEnvelope[Any]:
    return new_envelope(
        payload,
        event_id=new_id(),
        source=SOURCE,
        subject=registration["id"],
        time=time or registration["updated_at"],
        correlation_id=registration["correlation_id"],
        causation_id=causation,
        partition_key=registration["account_key"],
    )
