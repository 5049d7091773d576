"""What every deal_registration use case shares: the context, the caller, the envelope of the
events it emits, and the service's source (bound once)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from deal_registration.adapters.rate_limit import RateLimiter
from deal_registration.adapters.tables import outbox
from deal_registration.webhooks import WebhookSetup
from schemas.envelope import EventEnvelope, EventPayload
from services.admin_token import PreviousAdminToken
from services.clock import Clock
from services.events import Cause, Emitter
from services.uow import TransactionRunner

SOURCE = "/dealreg/deal_registration"
EMITTER = Emitter(source=SOURCE, outbox=outbox)
DECISIONS_CONSUMER = "deal_registration.decisions"
CRM_CONSUMER = "deal_registration.crm"

# A row as the repository reads it (or as a use case builds it before storing it).
Row = Mapping[Any, Any]


@dataclass(frozen=True)
class Principal:
    """Who is calling: the admin, one partner, or a sales-ops user."""

    id: str
    role: Literal["admin", "partner", "ops"]
    partner_id: str | None = None
    # The partner as read with the key, when the request began (a partner's key only).
    partner: Row | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class ActivePartner:
    """A partner's caller, and its partner as read (active) when the request began: the use
    cases that need the partner take it from here instead of reading it again."""

    principal: Principal
    partner: Row

    @property
    def id(self) -> str:
        return str(self.partner["id"])


@dataclass(frozen=True)
class Context:
    transactions: TransactionRunner
    clock: Clock
    admin_token: str
    webhooks: WebhookSetup
    rate_limiter: RateLimiter | None = None
    # The admin token before a rotation, accepted until its overlap ends.
    previous_admin_token: PreviousAdminToken | None = None


def is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower() and len(value) == 36
    except ValueError:
        return False


def registration_envelope(
    payload: EventPayload,
    registration: Row,
    *,
    causation: str | None,
    time: datetime | None = None,
) -> EventEnvelope[Any]:
    """An event about one registration: its subject, correlation and account key."""
    return EMITTER.envelope(
        payload,
        subject=registration["id"],
        partition_key=registration["account_key"],
        cause=Cause(causation, registration["correlation_id"]),
        time=time or registration["updated_at"],
    )
