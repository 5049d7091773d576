"""Signed webhook deliveries with the real misbehaviour: batches, duplicates, reordering, and
retries after a failure or a slow answer."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import random
import time
from typing import Any

import httpx

from crm_sync.sandbox.settings import SandboxSettings
from crm_sync.sandbox.store import Notice, Sandbox

_DECODE = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


def hubspot_v3_headers(secret: str, url: str, body: bytes) -> dict[str, str]:
    uri = url
    for encoded, plain in _DECODE.items():
        uri = uri.replace(encoded, plain).replace(encoded.lower(), plain)
    timestamp = str(int(time.time() * 1000))
    digest = hmac.new(
        secret.encode(), b"POST" + uri.encode() + body + timestamp.encode(), hashlib.sha256
    ).digest()
    return {
        "X-HubSpot-Signature-v3": base64.b64encode(digest).decode(),
        "X-HubSpot-Request-Timestamp": timestamp,
        "X-HubSpot-Signature-Version": "v3",
        "Content-Type": "application/json",
    }


def dealreg_headers(secret: str, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time() * 1000))
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).digest()
    return {
        "X-Dealreg-Signature": "v1=" + base64.b64encode(digest).decode(),
        "X-Dealreg-Timestamp": timestamp,
        "Content-Type": "application/json",
    }


class WebhookSender:
    def __init__(self, sandbox: Sandbox, settings: SandboxSettings) -> None:
        self._sandbox = sandbox
        self._settings = settings
        self._random = random.Random(settings.seed)
        self._client = httpx.AsyncClient(timeout=5, trust_env=False)
        self._inflight: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        try:
            while True:
                await asyncio.sleep(self._settings.webhook_batch_ms / 1000)
                self._dispatch()
        finally:
            await self._client.aclose()

    def _dispatch(self) -> None:
        now = time.monotonic()
        due = [n for n in self._sandbox.outbox if n.due <= now]
        if not due:
            return
        self._sandbox.outbox = [n for n in self._sandbox.outbox if n.due > now]
        for target in ("hubspot", "salesforce"):
            mine = [n for n in due if n.target == target]
            self._random.shuffle(mine)  # order is not guaranteed
            for start in range(0, len(mine), 100):
                batch = mine[start : start + 100]
                if len(self._inflight) >= 10:  # up to 10 concurrent requests
                    self._sandbox.outbox.extend(batch)
                    continue
                task = asyncio.create_task(self._deliver(target, batch))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)

    async def _deliver(self, target: str, batch: list[Notice]) -> None:
        settings = self._settings
        events = [n.body for n in batch]
        for event in list(events):
            if self._random.random() < settings.webhook_duplicate_rate:
                events.append(dict(event))  # the same event delivered twice
                self._sandbox.counters.webhook_events_duplicated += 1
        self._random.shuffle(events)
        if self._sandbox.faults.drop_webhooks > 0:
            self._sandbox.faults.drop_webhooks -= 1
            self._sandbox.counters.webhooks_dropped += 1
            return
        if target == "hubspot":
            for event in events:
                event["attemptNumber"] = batch[0].attempts
            body = json.dumps(events).encode()
            url = settings.hubspot_webhook_url
            headers = hubspot_v3_headers(settings.hubspot_client_secret, url, body)
        else:
            body = json.dumps({"events": events}).encode()
            url = settings.salesforce_webhook_url
            headers = dealreg_headers(settings.salesforce_webhook_secret, body)
        try:
            response = await self._client.post(url, content=body, headers=headers)
            ok = 200 <= response.status_code < 300
        except httpx.HTTPError:
            ok = False
        if ok:
            self._sandbox.counters.webhooks_sent += 1
            return
        self._sandbox.counters.webhooks_failed += 1
        for notice in batch:
            notice.attempts += 1
            if notice.attempts < settings.webhook_max_attempts:
                delay = settings.webhook_retry_initial_seconds * 2 ** (notice.attempts - 1)
                notice.due = time.monotonic() + delay * (0.5 + self._random.random())
                self._sandbox.outbox.append(notice)

    def stats(self) -> dict[str, Any]:
        return {"queued": len(self._sandbox.outbox), "inflight": len(self._inflight)}
