"""Partner webhooks: every status change of a partner's registrations, POSTed to its URL.

A delivery is staged in ``webhook_deliveries`` in the same transaction as the change (the table
is an outbox), so a change is never told without having happened, nor happened without being
told. :class:`WebhookDispatcher` sends due deliveries, signed per the Standard Webhooks
specification (``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<base64 HMAC>``,
through the ``standardwebhooks`` package), and retries failures on a backoff schedule until the
last attempt, after which the delivery is ``failed``. The partner reads the delivery log.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks import Webhook

from deal_registration.adapters import repository as repo
from deal_registration.api.models import WebhookDeliveryView
from deal_registration.domain.lifecycle import Entry
from deal_registration.domain.validation import is_public_address
from services.clock import Clock
from services.uow import TransactionRunner

log = structlog.get_logger(__name__)

# Seconds to wait before attempt 2, 3, ...; after the last, the delivery has failed.
DEFAULT_RETRY_SCHEDULE: tuple[float, ...] = (5, 30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600)
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, *, message_id: str, timestamp: datetime, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt."""
    signature = Webhook(secret).sign(msg_id=message_id, timestamp=timestamp, data=body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }


async def stage_delivery(
    session: AsyncSession, registration: Mapping[str, Any], entry: Entry
) -> None:
    """Queue a delivery for this change if the registration's partner has a webhook."""
    if entry.status.value == "submitted":
        return
    hook = await repo.get_webhook(session, registration["partner_id"])
    if hook is None:
        return
    payload = {
        "type": entry.webhook_type,
        "timestamp": entry.at.isoformat(),
        "data": {
            "registration_id": registration["id"],
            "partner_reference": registration.get("partner_reference"),
            "status": entry.status.value,
            "reason_code": entry.reason_code,
            "reason": entry.reason,
            "protection_expires_at": _iso(registration.get("protection_expires_at")),
            "extension": registration.get("extension_state"),
        },
    }
    await repo.insert_delivery(
        session,
        {
            "id": f"msg_{uuid.uuid4().hex}",
            "partner_id": registration["partner_id"],
            "registration_id": registration["id"],
            "event_type": entry.webhook_type,
            "payload": payload,
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": entry.at,
            "created_at": entry.at,
        },
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def delivery_view(row: RowMapping) -> WebhookDeliveryView:
    return WebhookDeliveryView(
        id=row["id"],
        registration_id=row["registration_id"],
        event_type=row["event_type"],
        state=row["state"],
        attempts=row["attempts"],
        last_status_code=row["last_status_code"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        next_attempt_at=row["next_attempt_at"],
        delivered_at=row["delivered_at"],
    )


async def resolves_to_public_addresses(url: str) -> bool:
    """Whether every address the URL's host resolves to is public.

    Checked at each delivery, not only when the URL is saved, so a name that later resolves to
    an internal address (DNS rebinding) cannot turn partner webhooks against our own network.
    """
    host = urlsplit(url).hostname or ""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(is_public_address(str(info[4][0])) for info in infos)


class WebhookDispatcher:
    """Sends due deliveries one at a time.

    A delivery is claimed for the length of one attempt (its next attempt moved past the
    longest the attempt can take) in a short transaction; on PostgreSQL rows are taken with
    ``FOR UPDATE SKIP LOCKED``, so several processes can run a dispatcher without sending one
    delivery twice at once. No transaction stays open while the partner's server is asked: on
    SQLite it would hold the database's write lock, and a partner's slow endpoint would stall
    every request. A dispatcher that dies mid-attempt leaves the claim to expire and be retried.
    """

    def __init__(
        self,
        *,
        transactions: TransactionRunner,
        clock: Clock,
        client: httpx.AsyncClient,
        retry_schedule: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE,
        poll_interval_seconds: float = 1.0,
        allow_private_addresses: bool = False,
    ) -> None:
        self._allow_private = allow_private_addresses
        self._transactions = transactions
        self._clock = clock
        self._client = client
        self._schedule = retry_schedule
        self._poll_interval = poll_interval_seconds
        phases = [seconds for seconds in client.timeout.as_dict().values() if seconds is not None]
        # Every phase of the POST at its limit, plus the address check before it.
        self._claim = timedelta(seconds=sum(phases) + 60)

    async def run(self) -> None:
        while True:
            sent = await self.dispatch_once()
            if not sent:
                await asyncio.sleep(self._poll_interval)

    async def dispatch_once(self) -> bool:
        """Attempt the next due delivery; False when none is due."""
        claimed = await self._claim_next()
        if claimed is None:
            return False
        delivery, hook = claimed
        status_code, error = await self._attempt(delivery, hook)
        async with self._transactions.transaction() as session:
            await repo.update_delivery(
                session, delivery["id"], self._outcome(delivery, status_code, error)
            )
        return True

    async def _claim_next(self) -> tuple[RowMapping, RowMapping | None] | None:
        async with self._transactions.transaction() as session:
            now = self._clock.now()
            delivery = await repo.next_due_delivery(session, now=now)
            if delivery is None:
                return None
            claim = {"next_attempt_at": now + self._claim}
            await repo.update_delivery(session, delivery["id"], claim)
            hook = await repo.get_webhook(session, delivery["partner_id"])
        return delivery, hook

    async def _attempt(
        self, delivery: RowMapping, hook: RowMapping | None
    ) -> tuple[int | None, str | None]:
        if hook is None:
            return None, "the partner has no webhook URL any more"
        if not self._allow_private and not await resolves_to_public_addresses(hook["url"]):
            return None, "the webhook URL resolves to a private or loopback address"
        body = json.dumps(delivery["payload"], separators=(",", ":"))
        headers = {
            "content-type": "application/json",
            "user-agent": "dealreg-webhooks/1",
            **sign(
                hook["secret"], message_id=delivery["id"], timestamp=self._clock.now(), body=body
            ),
        }
        try:
            response = await self._client.post(hook["url"], content=body, headers=headers)
        except httpx.HTTPError as error:
            return None, f"{type(error).__name__}: {error}"[:500]
        if 200 <= response.status_code < 300:
            return response.status_code, None
        return response.status_code, f"answered HTTP {response.status_code}"

    def _outcome(
        self, delivery: RowMapping, status_code: int | None, error: str | None
    ) -> dict[str, Any]:
        now = self._clock.now()
        attempts = int(delivery["attempts"]) + 1
        values: dict[str, Any] = {
            "attempts": attempts,
            "last_status_code": status_code,
            "last_error": error,
        }
        if error is None:
            return {**values, "state": "delivered", "delivered_at": now, "next_attempt_at": None}
        if attempts > len(self._schedule):
            log.warning("webhook delivery failed for good", delivery=delivery["id"], error=error)
            return {**values, "state": "failed", "next_attempt_at": None}
        wait = timedelta(seconds=self._schedule[attempts - 1])
        return {**values, "next_attempt_at": now + wait}
