"""While a service's database is unreachable its API answers 503 with Retry-After, never 500
and never a hang, and it recovers by itself when the database is back."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from deal_registration.adapters.tables import outbox
from deal_registration.app import create_app
from deal_registration.settings import RegistrationSettings
from schemas.envelope import EventEnvelope
from services import migrations
from services.clock import SystemClock
from services.db import create_engine, create_session_factory
from services.outbox import OutboxRelay, stage_events
from services.settings import DatabaseSettings, KafkaSettings, SecuritySettings
from services.uow import TransactionRunner
from tests.conftest import fresh_database
from tests.support import infra
from tests.support.api import bearer, registration_body
from tests.support.databases import PostgresDatabases
from tests.support.intake import ADMIN_TOKEN, eventually, intake_app
from tests.support.outage import OwnPostgres, TcpForwarder, free_port
from tests.unit.test_envelope import submitted_envelope

pytestmark = pytest.mark.integration


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    infra.require(any(Path("/usr/lib/postgresql").glob("*/bin/initdb")), "PostgreSQL server")
    cluster = OwnPostgres()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.remove()


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) > 0
    assert response.json()["status"] == 503


async def test_intake_answers_503_while_postgres_is_down_and_recovers_without_restart(
    own_postgres: OwnPostgres, kafka_bootstrap: str, topic_prefix: str
) -> None:
    async with intake_app(
        kafka_bootstrap=kafka_bootstrap,
        databases=PostgresDatabases(own_postgres.server),
        topic_prefix=topic_prefix,
    ) as intake:
        partner = await intake.new_partner()
        before = await intake.register(partner["api_key"], registration_body(name="Before Inc"))
        assert before.status_code == 202, before.text

        await asyncio.to_thread(own_postgres.stop)
        during = await intake.register(partner["api_key"], registration_body(name="During Inc"))
        assert_unavailable(during)
        read = await intake.client.get(
            f"/v1/registrations/{before.json()['id']}", headers=bearer(partner["api_key"])
        )
        assert_unavailable(read)
        readiness = await intake.client.get("/readyz")
        assert readiness.status_code == 503
        assert readiness.json()["checks"]["database"]["ok"] is False

        await asyncio.to_thread(own_postgres.start)
        after = await intake.register(partner["api_key"], registration_body(name="After Inc"))
        assert after.status_code == 202, after.text


@asynccontextmanager
async def intake_at(
    url: str, kafka_bootstrap: str, prefix: str, **database: float
) -> AsyncIterator[httpx.AsyncClient]:
    await asyncio.to_thread(migrations.upgrade, "deal_registration", url)
    settings = RegistrationSettings(
        log_json=False,
        database=DatabaseSettings(url=url, **database),
        kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=prefix),
        security=SecuritySettings(env="test", admin_token=SecretStr(ADMIN_TOKEN)),
    )
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=90, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            yield client


async def new_partner_key(client: httpx.AsyncClient) -> str:
    created = await client.post(
        "/v1/partners",
        json={"name": "Northwind", "tier": "gold", "product_lines": ["network-security"]},
        headers=bearer(ADMIN_TOKEN),
    )
    assert created.status_code == 201, created.text
    return str(created.json()["api_key"])


async def test_a_database_that_stops_answering_gets_503_not_a_hung_request(
    postgres_server: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    partition = TcpForwarder(port=free_port(), target=postgres_server.rpartition("@")[2])
    await partition.start()
    try:
        async with (
            fresh_database(f"dealreg:dealreg@127.0.0.1:{partition.port}") as url,
            intake_at(
                url,
                kafka_bootstrap,
                topic_prefix,
                connect_timeout_seconds=1,
                statement_timeout_seconds=1,
                pool_timeout_seconds=1,
            ) as client,
        ):
            key = await new_partner_key(client)

            partition.freeze()
            request = asyncio.create_task(
                client.post("/v1/registrations", json=registration_body(), headers=bearer(key))
            )
            # Hang detection only: with no timeouts the request would never return.
            answered, _ = await asyncio.wait({request}, timeout=60)
            partition.thaw()
            if not answered:
                request.cancel()
            assert answered, "the request hung while the database did not answer"
            assert_unavailable(request.result())

            after = await client.post(
                "/v1/registrations", json=registration_body(), headers=bearer(key)
            )
            assert after.status_code == 202, after.text
    finally:
        await partition.stop()


async def test_a_sqlite_write_lock_held_too_long_answers_503_not_500(
    tmp_path: Path, kafka_bootstrap: str, topic_prefix: str
) -> None:
    path = tmp_path / "intake.sqlite"
    url = f"sqlite+aiosqlite:///{path}"
    async with intake_at(
        url, kafka_bootstrap, topic_prefix, sqlite_busy_timeout_seconds=0.5
    ) as client:
        key = await new_partner_key(client)

        other_writer = sqlite3.connect(path, isolation_level=None)
        try:
            other_writer.execute("BEGIN IMMEDIATE")
            during = await client.post(
                "/v1/registrations", json=registration_body(), headers=bearer(key)
            )
            assert_unavailable(during)
        finally:
            other_writer.rollback()
            other_writer.close()

        after = await client.post(
            "/v1/registrations", json=registration_body(), headers=bearer(key)
        )
        assert after.status_code == 202, after.text


class RecordingPublisher:
    def __init__(self) -> None:
        self.published: list[str] = []

    async def publish(
        self,
        topic: str,
        envelopes: Sequence[EventEnvelope[Any]],
        *,
        traceparents: Sequence[str | None] = (),
    ) -> None:
        self.published.extend(envelope.id for envelope in envelopes)

    async def so_far(self) -> list[str]:
        return self.published


async def relay_lock_holders(url: str) -> int:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        return int(
            await connection.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            )
        )
    finally:
        await connection.close()


async def supervised(relay: OutboxRelay) -> None:
    """Restart the relay when it fails, as ServiceRuntime does."""
    while True:
        with contextlib.suppress(Exception):
            await relay.run()
        await asyncio.sleep(0.1)


async def test_the_relay_locks_again_after_a_postgres_restart_before_it_publishes(
    own_postgres: OwnPostgres,
) -> None:
    async with fresh_database(own_postgres.server) as url:
        await asyncio.to_thread(migrations.upgrade, "deal_registration", url)
        engine = create_engine(url)
        publisher = RecordingPublisher()
        relay = OutboxRelay(
            engine=engine,
            outbox=outbox,
            publisher=publisher,
            clock=SystemClock(),
            poll_interval_seconds=3600,  # it sleeps through the restart until woken
            batch_size=50,
        )
        transactions = TransactionRunner(create_session_factory(engine), relay.wake)
        relaying = asyncio.create_task(supervised(relay))
        try:
            await eventually(lambda: relay_lock_holders(url), lambda holders: holders == 1)
            await asyncio.to_thread(own_postgres.stop)
            await asyncio.to_thread(own_postgres.start)

            async with transactions.transaction() as session:
                await stage_events(session, outbox, [submitted_envelope()], now=datetime.now(UTC))
            await eventually(publisher.so_far, bool)

            assert publisher.published == [submitted_envelope().id]
            assert await relay_lock_holders(url) == 1, "a relay published without the lock"
        finally:
            relaying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relaying
            await engine.dispose()
