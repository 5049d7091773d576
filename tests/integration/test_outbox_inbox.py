"""The outbox relay, the inbox and the consumers against a real database and Kafka."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import event, select

from deal_registration.adapters.tables import inbox, outbox
from schemas.envelope import EventEnvelope
from schemas.topics import DEAD_LETTERS, REGISTRATIONS
from services.clock import SystemClock
from services.db import create_engine, create_session_factory
from services.inbox import claim_event
from services.kafka.admin import ensure_topics
from services.kafka.consumer import KafkaEventConsumer, PoisonEventError
from services.kafka.producer import KafkaEventPublisher
from services.migrations import upgrade
from services.outbox import OutboxRelay, stage_events
from services.uow import TransactionRunner
from tests.support.consumers import wait_until
from tests.support.kafka_reader import read_all
from tests.unit.test_envelope import submitted_envelope

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def envelope_numbered(number: int, key: str = "d:acme.com") -> EventEnvelope[Any]:
    base = submitted_envelope()
    data = base.data.model_copy(update={"registration_id": f"r-{number}", "submission_seq": number})
    return base.model_copy(
        update={"id": f"e-{number}", "subject": f"r-{number}", "partitionkey": key, "data": data}
    )


class Relay:
    def __init__(self, url: str, bootstrap: str, prefix: str) -> None:
        self.engine = create_engine(url)
        self.sessions = create_session_factory(self.engine)
        self.publisher = KafkaEventPublisher(
            bootstrap_servers=bootstrap, client_id="test", topic_prefix=prefix
        )
        self.relay = OutboxRelay(
            engine=self.engine,
            outbox=outbox,
            publisher=self.publisher,
            clock=SystemClock(),
            poll_interval_seconds=0.05,
            batch_size=50,
        )
        self.transactions = TransactionRunner(self.sessions, self.relay.wake)


@pytest.fixture
async def relay(database_url: str, kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[Relay]:
    await asyncio.to_thread(upgrade, "deal_registration", database_url)
    await ensure_topics(kafka_bootstrap, prefix=topic_prefix)
    subject = Relay(database_url, kafka_bootstrap, topic_prefix)
    await subject.publisher.start()
    yield subject
    await subject.publisher.stop()
    await subject.engine.dispose()


async def test_relay_publishes_committed_events_in_order_and_marks_them(
    relay: Relay, kafka_bootstrap: str, topic_prefix: str
) -> None:
    async with relay.transactions.transaction() as session:
        await stage_events(session, outbox, [envelope_numbered(n) for n in range(1, 6)], now=NOW)
    with contextlib.suppress(RuntimeError):
        async with relay.transactions.transaction() as session:
            await stage_events(session, outbox, [envelope_numbered(99)], now=NOW)
            raise RuntimeError("the state change failed, so its event must never leave")

    assert await relay.relay.relay_once() == 5
    assert await relay.relay.relay_once() == 0

    events = await read_all(kafka_bootstrap, topic_prefix + REGISTRATIONS.name, idle_seconds=1)
    assert [event.id for event in events] == [f"e-{n}" for n in range(1, 6)]
    async with relay.sessions() as session:
        unpublished = await session.execute(select(outbox).where(outbox.c.published_at.is_(None)))
        assert unpublished.first() is None


# PostgreSQL only: there relays of several instances share one database, and the advisory lock
# keeps all but one standing by. SQLite is the single-process embedded mode (one instance per
# database file, as `make run` starts it), and the relay takes no lock there.
@pytest.mark.parametrize("database_kind", ["postgresql"], indirect=True)
async def test_only_one_relay_runs_per_database(relay: Relay, database_url: str) -> None:
    second = Relay(database_url, "unused:1", "")
    first_task = asyncio.create_task(relay.relay.run())
    second_task: asyncio.Task[None] | None = None
    try:
        # The first must hold the lock before the second asks (a fixed 0.3 s raced its connect
        # on a loaded machine); then a while in which the second must stay standing by.
        await wait_until(lambda: relay.relay.running, within=30)
        second_task = asyncio.create_task(second.relay.run())
        await asyncio.sleep(0.5)
        assert relay.relay.running
        assert not second.relay.running
    finally:
        for task in (first_task, second_task):
            if task is None:
                continue
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await second.engine.dispose()


class RecordingPublisher:
    """A broker that acknowledges at once and says what it was given."""

    def __init__(self) -> None:
        self.published: list[str] = []
        self.arrived = asyncio.Event()

    async def publish(
        self,
        topic: str,
        envelopes: Sequence[EventEnvelope[Any]],
        *,
        traceparents: Sequence[str | None] = (),
    ) -> None:
        self.published.extend(envelope.id for envelope in envelopes)
        self.arrived.set()


@pytest.mark.parametrize("database_kind", ["postgresql"], indirect=True)
async def test_the_relay_works_on_its_lock_connection_in_autocommit(relay: Relay) -> None:
    """On PostgreSQL a relay step reads and marks through the connection holding the relay
    lock, one statement each without BEGIN/COMMIT: no pooled connection (whose pre-ping is a
    round trip), no separate ``SELECT 1`` to confirm the lock. Every event's way to the
    partner passes two relay steps, and each round trip is a wait on a busy host."""
    publisher = RecordingPublisher()
    subject = OutboxRelay(
        engine=relay.engine,
        outbox=outbox,
        publisher=publisher,
        clock=SystemClock(),
        poll_interval_seconds=3600,  # only the wake after the commit moves it
        batch_size=50,
    )
    transactions = TransactionRunner(relay.sessions, subject.wake)
    checkouts: list[int] = []
    statements: list[tuple[str, str | None]] = []

    def on_checkout(*_: Any) -> None:
        checkouts.append(1)

    def on_statement(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append((statement, conn.get_execution_options().get("isolation_level")))

    running = asyncio.create_task(subject.run())
    try:
        for _ in range(1000):  # the lock taken
            if subject.running:
                break
            await asyncio.sleep(0.01)
        async with transactions.transaction() as session:
            await stage_events(session, outbox, [envelope_numbered(1)], now=NOW)
            event.listen(relay.engine.sync_engine.pool, "checkout", on_checkout)
            event.listen(relay.engine.sync_engine, "before_cursor_execute", on_statement)
        await asyncio.wait_for(publisher.arrived.wait(), timeout=10)
        for _ in range(1000):  # the mark follows the broker's acknowledgement
            if any(statement.startswith("UPDATE outbox") for statement, _ in statements):
                break
            await asyncio.sleep(0.01)
    finally:
        event.remove(relay.engine.sync_engine.pool, "checkout", on_checkout)
        event.remove(relay.engine.sync_engine, "before_cursor_execute", on_statement)
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    assert publisher.published == ["e-1"]
    kinds = [" ".join(statement.split()[:3]) for statement, _ in statements]
    assert "UPDATE outbox SET" in kinds
    assert set(kinds) <= {"SELECT outbox.id, outbox.event_id,", "UPDATE outbox SET"}, kinds
    assert {level for _, level in statements} == {"AUTOCOMMIT"}
    assert checkouts == [], "a relay step checked out a pooled connection"


class HeldPublisher:
    """A broker that has not acknowledged yet: ``publish`` waits until the test releases it."""

    def __init__(self) -> None:
        self.publishing = asyncio.Event()
        self.release = asyncio.Event()
        self.published: list[str] = []

    async def publish(
        self,
        topic: str,
        envelopes: Sequence[EventEnvelope[Any]],
        *,
        traceparents: Sequence[str | None] = (),
    ) -> None:
        self.publishing.set()
        await self.release.wait()
        self.published.extend(envelope.id for envelope in envelopes)


async def test_handlers_keep_committing_while_the_relay_waits_for_the_broker(
    relay: Relay,
) -> None:
    """A slow or absent broker must not stall the service's writes: on SQLite a relay that
    held its transaction open across the send kept the database's write lock, and every
    request queued behind it until "database is locked"."""
    held = HeldPublisher()
    slow_relay = OutboxRelay(
        engine=relay.engine,
        outbox=outbox,
        publisher=held,
        clock=SystemClock(),
        poll_interval_seconds=0.05,
        batch_size=50,
    )
    async with relay.transactions.transaction() as session:
        await stage_events(session, outbox, [envelope_numbered(1)], now=NOW)
    sending = asyncio.create_task(slow_relay.relay_once())
    await held.publishing.wait()
    try:
        async with relay.transactions.transaction() as session:
            await stage_events(session, outbox, [envelope_numbered(2)], now=NOW)
        assert not sending.done(), "the write should commit while the broker has not answered"
    finally:
        held.release.set()
    assert await sending == 1
    assert await slow_relay.relay_once() == 1
    assert held.published == ["e-1", "e-2"]


async def test_inbox_applies_an_event_once(relay: Relay) -> None:
    outcomes = []
    for _ in range(2):
        async with relay.transactions.transaction() as session:
            outcomes.append(
                await claim_event(
                    session, inbox, consumer="c", event_id="e-1", event_type="t", now=NOW
                )
            )
    assert outcomes == [True, False]


async def test_poison_and_failing_events_go_to_dead_letters_without_blocking_the_partition(
    relay: Relay, kafka_bootstrap: str, topic_prefix: str
) -> None:
    key = "d:one-partition.com"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    headers = [("ce_type", b"dealreg.registration.submitted"), ("ce_id", b"broken")]
    await producer.send_and_wait(
        topic_prefix + REGISTRATIONS.name, b"{not json", key=key.encode(), headers=headers
    )
    await producer.stop()
    await relay.publisher.publish(
        REGISTRATIONS.name,
        [envelope_numbered(1, key), envelope_numbered(2, key), envelope_numbered(3, key)],
    )

    handled: list[str] = []
    attempts: dict[str, int] = {}

    async def handler(envelope: EventEnvelope[Any]) -> None:
        attempts[envelope.id] = attempts.get(envelope.id, 0) + 1
        if envelope.id == "e-1":
            raise PoisonEventError("no such registration")
        if envelope.id == "e-2" and attempts["e-2"] < 3:
            raise ConnectionError("database briefly away")
        handled.append(envelope.id)

    consumer = KafkaEventConsumer(
        group_id="test-consumer",
        topics=[REGISTRATIONS.name],
        handlers={"dealreg.registration.submitted": handler},
        bootstrap_servers=kafka_bootstrap,
        dead_letters=relay.publisher,
        topic_prefix=topic_prefix,
        retry_initial_seconds=0.01,
    )
    task = asyncio.create_task(consumer.run())
    try:
        for _ in range(200):
            if handled == ["e-2", "e-3"]:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    assert handled == ["e-2", "e-3"]
    assert attempts == {"e-1": 1, "e-2": 3, "e-3": 1}
    assert await _dead_letter_reasons(kafka_bootstrap, topic_prefix) == {
        "broken": "MalformedEventError",
        "e-1": "PoisonEventError",
    }


async def _dead_letter_reasons(bootstrap: str, prefix: str) -> dict[str, str]:
    consumer = AIOKafkaConsumer(
        prefix + DEAD_LETTERS.name, bootstrap_servers=bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    reasons: dict[str, str] = {}
    try:
        batches = await consumer.getmany(timeout_ms=2000)
        for records in batches.values():
            for record in records:
                headers = {name: value.decode() for name, value in record.headers}
                assert headers["dlq_consumer"] == "test-consumer"
                assert headers["dlq_topic"] == prefix + REGISTRATIONS.name
                reasons[headers["ce_id"]] = headers["dlq_reason"].split(":")[0]
    finally:
        await consumer.stop()
    return reasons
