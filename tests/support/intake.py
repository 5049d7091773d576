"""deal_registration in the test process (ASGI), on a real database and Kafka.

One app per test module keeps the suite fast: a migrated database of its own, a topic prefix
of its own, and an httpx client speaking to the app in-process. Events from the other
services are published to Kafka by :meth:`IntakeApp.publish`, as the resolver or crm_sync
would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pydantic import SecretStr

from deal_registration import handlers
from deal_registration.app import create_app
from deal_registration.settings import RateLimitSettings, RegistrationSettings, WebhookSettings
from deal_registration.webhooks.addresses import Resolver, system_resolver
from schemas.envelope import EventPayload, new_envelope
from schemas.flows import sender_source
from schemas.topics import topic_for
from services import migrations
from services.clock import new_id
from services.kafka.producer import KafkaEventPublisher
from services.settings import DatabaseSettings, KafkaSettings, OutboxSettings, SecuritySettings
from tests.support.api import bearer
from tests.support.databases import Databases

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
T = TypeVar("T")


@dataclass
class IntakeApp:
    app: FastAPI
    client: httpx.AsyncClient
    publisher: KafkaEventPublisher
    database_url: str
    topic_prefix: str

    @property
    def ctx(self) -> handlers.Context:
        ctx: handlers.Context = self.app.state.service
        return ctx

    async def admin(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return await self.client.request(method, url, headers=bearer(ADMIN_TOKEN), **kwargs)

    async def new_partner(
        self, name: str = "Northwind Networks", product_lines: list[str] | None = None
    ) -> dict[str, Any]:
        response = await self.admin(
            "POST",
            "/v1/partners",
            json={
                "name": name,
                "tier": "gold",
                "product_lines": product_lines or ["network-security", "cloud-backup"],
            },
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def register(self, key: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        return await self.client.post(
            "/v1/registrations", json=body, headers={**bearer(key), **headers}
        )

    async def publish(
        self, payload: EventPayload, *, registration: dict[str, Any], event_id: str | None = None
    ) -> str:
        """Publish an event about a registration, as the service that owns it would."""
        event_id = event_id or new_id()
        envelope = new_envelope(
            payload,
            event_id=event_id,
            source=sender_source(type(payload)),  # control topics accept only their owner
            subject=registration["id"],
            time=datetime.now(UTC),
            correlation_id=new_id(),
            causation_id=None,
            partition_key=str(getattr(payload, "account_key", "test")),
        )
        await self.publisher.publish(topic_for(type(payload)).name, [envelope])
        return event_id

    async def view(self, key: str, registration_id: str) -> dict[str, Any]:
        response = await self.client.get(
            f"/v1/registrations/{registration_id}", headers=bearer(key)
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def wait_for(
        self, key: str, registration_id: str, done: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        return await eventually(lambda: self.view(key, registration_id), done)


async def eventually(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], within: float = 30
) -> T:
    """Poll ``probe`` until ``done`` holds; returns the last value (the assert shows it)."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if done(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.05)


@asynccontextmanager
async def intake_app(
    *,
    kafka_bootstrap: str,
    databases: Databases,
    topic_prefix: str,
    rate_per_second: float = 10_000,
    burst: float = 10_000,
    webhook_schedule: tuple[float, ...] = (0.2, 0.4),
    allow_private_webhooks: bool = True,
    webhook_timeout: float = 10.0,
    resolver: Resolver = system_resolver,
) -> AsyncIterator[IntakeApp]:
    async with databases.fresh() as url:
        await asyncio.to_thread(migrations.upgrade, "deal_registration", url)
        settings = RegistrationSettings(
            log_json=False,
            database=DatabaseSettings(url=url),
            kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix),
            outbox=OutboxSettings(poll_interval_seconds=0.05),
            security=SecuritySettings(env="test", admin_token=SecretStr(ADMIN_TOKEN)),
            rate_limit=RateLimitSettings(per_second=rate_per_second, burst=burst),
            webhook=WebhookSettings(
                retry_schedule_seconds=webhook_schedule,
                poll_interval_seconds=0.05,
                timeout_seconds=webhook_timeout,
                allow_private_addresses=allow_private_webhooks,
            ),
        )
        app = create_app(settings, resolver=resolver)
        publisher = KafkaEventPublisher(
            bootstrap_servers=kafka_bootstrap, client_id="tests", topic_prefix=topic_prefix
        )
        async with LifespanManager(app, startup_timeout=90, shutdown_timeout=30):
            await publisher.start()
            transport = httpx.ASGITransport(app=app)
            try:
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://intake"
                ) as client:
                    yield IntakeApp(
                        app=app,
                        client=client,
                        publisher=publisher,
                        database_url=url,
                        topic_prefix=topic_prefix,
                    )
            finally:
                await publisher.stop()


def in_days(days: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=days)).isoformat()
