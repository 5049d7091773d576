"""Sends due deliveries: lease in one short transaction, send outside any, record in another.

No transaction is open while a partner's endpoint is called, so a slow or hanging receiver
never holds a database lock (on SQLite, intake's write lock). Each attempt has a total time
limit and reads at most a few KiB of the answer. A few workers send in parallel, at most one
delivery per partner at a time (the lease is taken under the partner's webhook row lock), so
one slow partner never delays the others. A worker that dies mid-send leaves a lease that
lapses: the delivery is due again, with the same ``webhook-id`` for the receiver to dedupe.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from deal_registration.adapters import repository as repo
from deal_registration.webhooks.addresses import (
    AddressRefusedError,
    Resolver,
    pin,
    system_resolver,
)
from deal_registration.webhooks.secrets import SecretBox, signature_headers
from services.clock import Clock
from services.db import read_only_connection
from services.polling import poll
from services.uow import TransactionRunner

log = structlog.get_logger(__name__)

# Seconds to wait before attempt 2, 3, ...; after the last, the delivery has failed.
DEFAULT_RETRY_SCHEDULE: tuple[float, ...] = (5, 30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600)
MAX_ANSWER_BYTES = 4096


class WebhookDispatcher:
    def __init__(
        self,
        *,
        engine: AsyncEngine,
        transactions: TransactionRunner,
        clock: Clock,
        client: httpx.AsyncClient,
        secrets: SecretBox,
        retry_schedule: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE,
        poll_interval_seconds: float = 1.0,
        total_timeout_seconds: float = 10.0,
        workers: int = 4,
        allow_private_addresses: bool = False,
        resolver: Resolver = system_resolver,
    ) -> None:
        self._engine = engine
        self._transactions = transactions
        self._clock = clock
        self._client = client
        self._secrets = secrets
        self._schedule = retry_schedule
        self._poll_interval = poll_interval_seconds
        self._total_timeout = total_timeout_seconds
        self._workers = workers
        self._allow_private = allow_private_addresses
        self._resolver = resolver

    async def run(self) -> None:
        async with asyncio.TaskGroup() as workers:
            for _ in range(self._workers):
                workers.create_task(self._work())

    async def _work(self) -> None:
        await poll(self.dispatch_once, idle_seconds=self._poll_interval)

    async def dispatch_once(self) -> bool:
        """Lease, send and record the next due delivery; False when none is due."""
        leased = await self._lease()
        if leased is None:
            return False
        delivery, hook = leased
        status_code, error = await self._attempt(delivery, hook)
        async with self._transactions.transaction() as session:
            await repo.record_delivery_attempt(
                session,
                delivery["id"],
                leased_until=delivery["leased_until"],
                values=self._outcome(delivery, status_code, error),
            )
        return True

    async def _lease(self) -> tuple[RowMapping, dict[str, Any] | None] | None:
        now = self._clock.now()
        # Idle polls read without a write transaction: on SQLite, workers polling with BEGIN
        # IMMEDIATE would keep taking the one write lock that intake needs.
        async with read_only_connection(self._engine) as connection:
            if not await repo.any_delivery_due(connection, now=now):
                return None
        lease_until = now + timedelta(seconds=self._total_timeout * 2 + 5)
        async with self._transactions.transaction() as session:
            delivery = await repo.lease_next_delivery(session, now=now, lease_until=lease_until)
            if delivery is None:
                return None
            hook = await repo.get_webhook(session, delivery["partner_id"])
        return delivery, None if hook is None else self._signing(hook, now=now)

    def _signing(self, hook: RowMapping, *, now: datetime) -> dict[str, Any]:
        signing = [self._secrets.open(hook["secret"])]
        until = hook["previous_secret_until"]
        if hook["previous_secret"] and until is not None and until > now:
            signing.append(self._secrets.open(hook["previous_secret"]))
        return {"url": hook["url"], "secrets": signing}

    async def _attempt(
        self, delivery: RowMapping, hook: dict[str, Any] | None
    ) -> tuple[int | None, str | None]:
        if hook is None:
            return None, "the partner has no webhook URL any more"
        body = json.dumps(delivery["payload"], separators=(",", ":"))
        headers = {
            "content-type": "application/json",
            "user-agent": "dealreg-webhooks/1",
            **signature_headers(
                hook["secrets"], message_id=delivery["id"], timestamp=self._clock.now(), body=body
            ),
        }
        try:
            async with asyncio.timeout(self._total_timeout):
                return await self._send(hook["url"], body, headers)
        except AddressRefusedError as refused:
            return None, str(refused)
        except TimeoutError:
            return None, f"no complete answer within {self._total_timeout:g} seconds"
        except httpx.HTTPError as error:
            return None, type(error).__name__

    async def _send(
        self, url: str, body: str, headers: dict[str, str]
    ) -> tuple[int | None, str | None]:
        pinned = await pin(url, resolver=self._resolver, allow_private=self._allow_private)
        request = self._client.build_request(
            "POST",
            pinned.url,
            content=body,
            headers={**headers, "host": pinned.host_header},
            extensions={"sni_hostname": pinned.server_name},
        )
        response = await self._client.send(request, stream=True)
        try:
            read = 0
            async for chunk in response.aiter_raw():
                read += len(chunk)
                if read >= MAX_ANSWER_BYTES:
                    break  # the status is what counts; a huge answer is not read
        finally:
            await response.aclose()
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
            "leased_until": None,
        }
        if error is None:
            return {**values, "state": "delivered", "delivered_at": now, "next_attempt_at": None}
        if attempts > len(self._schedule):
            log.warning(
                "webhook delivery failed for good",
                delivery=delivery["id"],
                partner_id=delivery["partner_id"],
                error=error,
            )
            return {**values, "state": "failed", "next_attempt_at": None}
        wait = timedelta(seconds=self._schedule[attempts - 1])
        return {**values, "next_attempt_at": now + wait}


__all__ = ["DEFAULT_RETRY_SCHEDULE", "WebhookDispatcher"]
