"""A partner's webhook and its delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    Field,
    StringConstraints,
)

from deal_registration.api.models.fields import _Input, _Output


class WebhookUpdate(_Input):
    url: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = Field(
        description="An `https://` (or, for local tests, `http://`) URL that accepts POSTs.",
        examples=["https://portal.northwind.example/hooks/dealreg"],
    )


class WebhookSecretRotation(_Input):
    overlap_seconds: int | None = Field(
        default=None,
        ge=0,
        le=30 * 24 * 3600,
        description="How long the previous secret keeps signing beside the new one (default: "
        "the service's `DEALREG_WEBHOOK_ROTATION_OVERLAP_SECONDS`, 24 hours).",
        examples=[86400],
    )


class WebhookView(_Output):
    url: str = Field(
        description="Where status changes are POSTed.",
        examples=["https://portal.northwind.example/hooks/dealreg"],
    )
    created_at: datetime = Field(description="When it was set.", examples=["2026-11-27T09:00:00Z"])


class WebhookCreated(WebhookView):
    secret: str = Field(
        description="The Standard Webhooks signing secret. Shown once, when the URL is set.",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )


class WebhookDeliveryView(_Output):
    id: str = Field(
        description="The message id (the `webhook-id` header): the same on every retry.",
        examples=["msg_2b7e4c1d9f0a4e3b8c6d5a4f3e2d1c0b"],
    )
    registration_id: str = Field(
        description="The registration the change concerns.",
        examples=["7d9f3c2e-5b1a-4e8f-9c6d-2a1b3c4d5e6f"],
    )
    event_type: str = Field(description="The payload's `type`.", examples=["registration.approved"])
    state: Literal["pending", "delivered", "failed"] = Field(
        description="`pending` (will be tried, or retried), `delivered` (a 2xx answer) or "
        "`failed` (gave up after the last retry).",
        examples=["delivered"],
    )
    attempts: int = Field(description="Attempts made so far.", examples=[1])
    last_status_code: int | None = Field(
        default=None, description="HTTP status of the last attempt.", examples=[200]
    )
    last_error: str | None = Field(
        default=None, description="Why the last attempt failed.", examples=[None]
    )
    created_at: datetime = Field(
        description="When the change happened.", examples=["2026-11-27T10:15:01Z"]
    )
    next_attempt_at: datetime | None = Field(
        default=None,
        description="When the next attempt is due (pending only).",
        examples=["2026-11-27T10:15:06Z"],
    )
    delivered_at: datetime | None = Field(
        default=None, description="When it was delivered.", examples=["2026-11-27T10:15:01Z"]
    )


class WebhookDeliveryPage(_Output):
    items: list[WebhookDeliveryView] = Field(description="Deliveries, newest first.")
