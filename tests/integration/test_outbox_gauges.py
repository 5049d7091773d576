"""The outbox backlog and the age of its oldest event, as the relay sees them on each pass."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from deal_registration.adapters.tables import outbox
from schemas.envelope import EventEnvelope
from services.db import create_engine, create_session_factory
from services.migrations import upgrade
from services.outbox import OutboxRelay, stage_events
from services.uow import TransactionRunner
from tests.integration.test_outbox_inbox import envelope_numbered

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


class FixedClock:
    def now(self) -> datetime:
        return NOW


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
        self.published += [envelope.id for envelope in envelopes]


def gauges() -> tuple[float | None, float | None]:
    return (
        REGISTRY.get_sample_value("dealreg_outbox_backlog_events"),
        REGISTRY.get_sample_value("dealreg_outbox_oldest_age_seconds"),
    )


@pytest.mark.parametrize("database_kind", ["sqlite"], indirect=True)
async def test_the_relay_reports_the_backlog_past_a_batch_and_the_oldest_age(
    database_url: str,
) -> None:
    await asyncio.to_thread(upgrade, "deal_registration", database_url)
    engine = create_engine(database_url)
    relay = OutboxRelay(
        engine=engine,
        outbox=outbox,
        publisher=RecordingPublisher(),
        clock=FixedClock(),
        poll_interval_seconds=0.05,
        batch_size=5,
    )
    transactions = TransactionRunner(create_session_factory(engine), relay.wake)
    try:
        async with transactions.transaction() as session:
            staged = [envelope_numbered(n) for n in range(1, 8)]
            await stage_events(session, outbox, staged, now=NOW - timedelta(seconds=90))

        assert await relay.relay_once() == 5
        assert gauges() == (7, 90)  # counted past the batch of five
        assert await relay.relay_once() == 2
        assert gauges() == (2, 90)
        assert await relay.relay_once() == 0
        assert gauges() == (0, 0)
    finally:
        await engine.dispose()
