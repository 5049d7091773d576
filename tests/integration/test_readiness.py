"""``/healthz`` says the process lives; ``/readyz`` says, per dependency, what is not ready.

The HTTP server answers while the brokers are still coming up, and becomes ready by itself
when they arrive.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from deal_registration.adapters.tables import outbox
from deal_registration.app import create_app
from deal_registration.settings import RegistrationSettings
from schemas.topics import REGISTRATIONS
from services import migrations
from services.outbox import stage_events
from services.runtime import ServiceRuntime
from services.settings import (
    DatabaseSettings,
    KafkaSettings,
    OutboxSettings,
    SecuritySettings,
)
from tests.support.api import bearer, registration_body
from tests.support.intake import ADMIN_TOKEN, eventually
from tests.support.kafka_reader import read_all
from tests.support.outage import TcpForwarder, free_port
from tests.support.resolver import HandClock
from tests.unit.test_envelope import submitted_envelope

pytestmark = pytest.mark.integration


@asynccontextmanager
async def intake_on_sqlite(
    path: Path, *, bootstrap: str, prefix: str, **settings: Any
) -> AsyncIterator[httpx.AsyncClient]:
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(migrations.upgrade, "deal_registration", url)
    app = create_app(
        RegistrationSettings(
            log_json=False,
            database=DatabaseSettings(url=url),
            kafka=KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix),
            security=SecuritySettings(env="test", admin_token=SecretStr(ADMIN_TOKEN)),
            **settings,
        )
    )
    # Starting must not wait for the brokers: a short startup timeout proves it.
    async with LifespanManager(app, startup_timeout=10, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            yield client


def check_states(readyz: httpx.Response) -> dict[str, bool]:
    return {name: check["ok"] for name, check in readyz.json()["checks"].items()}


async def test_a_service_started_before_its_brokers_answers_and_follows_them_up_and_down(
    tmp_path: Path, kafka_bootstrap: str, topic_prefix: str
) -> None:
    broker = TcpForwarder(port=free_port(), target=kafka_bootstrap)
    async with intake_on_sqlite(
        tmp_path / "intake.sqlite", bootstrap=f"127.0.0.1:{broker.port}", prefix=topic_prefix
    ) as client:
        assert (await client.get("/healthz")).status_code == 200
        waiting = await client.get("/readyz")
        assert waiting.status_code == 503
        assert check_states(waiting)["kafka"] is False
        assert check_states(waiting)["database"] is True

        await broker.start()
        try:
            ready = await eventually(
                lambda: client.get("/readyz"), lambda r: r.status_code == 200, within=60
            )
            assert ready.status_code == 200, ready.text
            assert set(check_states(ready).values()) == {True}

            partner = await client.post(
                "/v1/partners",
                json={"name": "Northwind", "tier": "gold", "product_lines": ["network-security"]},
                headers=bearer(ADMIN_TOKEN),
            )
            created = await client.post(
                "/v1/registrations",
                json=registration_body(),
                headers=bearer(partner.json()["api_key"]),
            )
            assert created.status_code == 202, created.text
            events = await eventually(
                lambda: read_all(kafka_bootstrap, topic_prefix + REGISTRATIONS.name),
                lambda found: any(e.subject == created.json()["id"] for e in found),
            )
            assert [e.subject for e in events] == [created.json()["id"]]

            await broker.stop()
            gone = await eventually(
                lambda: client.get("/readyz"), lambda r: r.status_code == 503, within=30
            )
            assert check_states(gone)["kafka"] is False
            assert (await client.get("/healthz")).status_code == 200
        finally:
            await broker.stop()


async def test_readiness_names_a_stale_outbox_and_a_paused_partition(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    await asyncio.to_thread(migrations.upgrade, "deal_registration", url)
    clock = HandClock()
    runtime = ServiceRuntime(
        settings=RegistrationSettings(
            log_json=False,
            database=DatabaseSettings(url=url),
            outbox=OutboxSettings(max_unpublished_age_seconds=30),
            security=SecuritySettings(env="test", admin_token=SecretStr(ADMIN_TOKEN)),
        ),
        outbox=outbox,
        clock=clock,
    )
    runtime.add_consumer(group_id="decisions", topics=["t"], handlers={})
    runtime.consumers["decisions"] = PausedConsumer()  # type: ignore[assignment]
    checks = runtime.readiness_checks()
    try:
        async with runtime.transactions.transaction() as session:
            await stage_events(session, outbox, [submitted_envelope()], now=clock.now())
        assert (await checks["outbox"]()).ok is True
        clock.advance(seconds=31)
        stale = await checks["outbox"]()
        assert stale.ok is False
        assert stale.detail["oldest_unpublished_age_seconds"] == timedelta(seconds=31).seconds

        consumers = await checks["consumers"]()
        assert consumers.ok is False
        assert consumers.detail["decisions"]["paused"] == {"t:0": "database unavailable"}
    finally:
        await runtime.stop()


class PausedConsumer:
    """A consumer whose partition 0 waits at a record that keeps failing."""

    running = True

    def paused_partitions(self) -> dict[str, str]:
        return {"t:0": "database unavailable"}
