"""On SQLite the outbox relay must not hold the one write lock while Kafka is slow or away."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from deal_registration.adapters.tables import outbox
from schemas.envelope import EventEnvelope
from services.clock import SystemClock
from services.db import DatabaseTimeouts, create_engine, create_session_factory
from services.migrations import upgrade
from services.outbox import OutboxRelay, stage_events
from services.uow import TransactionRunner
from tests.unit.test_envelope import submitted_envelope

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def numbered(number: int) -> EventEnvelope[Any]:
    base = submitted_envelope()
    data = base.data.model_copy(update={"registration_id": f"r-{number}", "submission_seq": number})
    return base.model_copy(update={"id": f"e-{number}", "subject": f"r-{number}", "data": data})


class StalledBroker:
    """A publisher whose send does not return until the test lets it (a broker that stalls)."""

    def __init__(self) -> None:
        self.sending = asyncio.Event()
        self.release = asyncio.Event()
        self.published: list[str] = []

    async def publish(
        self,
        topic: str,
        envelopes: Sequence[EventEnvelope[Any]],
        *,
        traceparents: Sequence[str | None] = (),
    ) -> None:
        self.sending.set()
        await self.release.wait()
        self.published.extend(envelope.id for envelope in envelopes)


async def test_a_write_commits_while_the_relay_waits_for_the_broker(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    await asyncio.to_thread(upgrade, "deal_registration", url)
    # A writer waits one second for the lock at most, so a relay holding it fails the write.
    engine = create_engine(url, timeouts=DatabaseTimeouts(sqlite_busy=1))
    broker = StalledBroker()
    relay = OutboxRelay(
        engine=engine,
        outbox=outbox,
        publisher=broker,
        clock=SystemClock(),
        poll_interval_seconds=0.05,
        batch_size=50,
    )
    transactions = TransactionRunner(create_session_factory(engine), relay.wake)
    try:
        async with transactions.transaction() as session:
            await stage_events(session, outbox, [numbered(1)], now=NOW)
        relaying = asyncio.create_task(relay.relay_once())
        await broker.sending.wait()

        async with transactions.transaction() as session:
            await stage_events(session, outbox, [numbered(2)], now=NOW)

        broker.release.set()
        assert await relaying == 1
        assert await relay.relay_once() == 1
        assert broker.published == ["e-1", "e-2"]
        async with engine.connect() as connection:
            pending = await connection.execute(
                select(outbox.c.event_id).where(outbox.c.published_at.is_(None))
            )
            assert pending.all() == []
    finally:
        await engine.dispose()


async def test_an_idle_relay_poll_does_not_queue_for_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    await asyncio.to_thread(upgrade, "deal_registration", f"sqlite+aiosqlite:///{path}")
    engine = create_engine(f"sqlite+aiosqlite:///{path}", timeouts=DatabaseTimeouts(sqlite_busy=1))
    relay = OutboxRelay(
        engine=engine,
        outbox=outbox,
        publisher=StalledBroker(),
        clock=SystemClock(),
        poll_interval_seconds=0.05,
        batch_size=50,
    )
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # an API transaction in progress
        assert await relay.relay_once() == 0
    finally:
        writer.rollback()
        writer.close()
        await engine.dispose()
