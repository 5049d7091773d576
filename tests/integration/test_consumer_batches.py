"""Batched subscriptions against a real broker and a real database (SQLite and PostgreSQL):
a partition's run of events in one transaction, in order, once each (the inbox); a poison
event in a batch is dead-lettered alone; a transient fault holds the partition at its record;
a crash in the middle of a batch leaves nothing half-applied, and the redelivery applies each
event once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from deal_registration.adapters.tables import inbox, outbox
from schemas.envelope import EventEnvelope
from schemas.registration import RegistrationSubmitted, RegistrationWithdrawn
from services.clock import SystemClock
from services.db import create_engine, create_session_factory
from services.events import Emitter, EventContext, Subscriptions, UnitOfWork
from services.kafka.admin import ensure_topics
from services.kafka.consumer import KafkaEventConsumer, PoisonEventError
from services.migrations import upgrade
from services.outbox import envelope_from_row
from services.uow import TransactionRunner
from tests.support.consumers import Broker, broker, envelope_numbered, running, wait_until

pytestmark = pytest.mark.integration
CONSUMER = "test.batches"


@pytest.fixture
async def kafka(kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[Broker]:
    await ensure_topics(kafka_bootstrap, prefix=topic_prefix)
    async with broker(kafka_bootstrap, topic_prefix) as subject:
        yield subject


@pytest.fixture
async def unit(database_url: str) -> AsyncIterator[UnitOfWork]:
    await asyncio.to_thread(upgrade, "deal_registration", database_url)
    engine = create_engine(database_url)
    try:
        yield UnitOfWork(
            transactions=TransactionRunner(create_session_factory(engine), None),
            clock=SystemClock(),
            inbox=inbox,
            emitter=Emitter(source="/dealreg/test_service", outbox=outbox),
        )
    finally:
        await engine.dispose()


class Recorder:
    """A handler that stages one event per submission it applies (so what committed is read
    back from the outbox), with a switchable fault for chosen registrations."""

    def __init__(self) -> None:
        self.attempts: Counter[str] = Counter()
        self.poison: set[str] = set()
        self.failing: set[str] = set()
        self.hang: set[str] = set()
        self.reached_hang = asyncio.Event()
        self.batches: list[list[str]] = []

    async def handle(self, submitted: RegistrationSubmitted, event: EventContext) -> None:
        registration = submitted.registration_id
        self.attempts[registration] += 1
        if registration in self.poison:
            raise PoisonEventError("no such registration")
        if registration in self.failing:
            raise ConnectionError("the database went away")
        withdrawn = RegistrationWithdrawn(
            registration_id=registration,
            account_key=submitted.account_key,
            product_line=submitted.product_line,
            withdrawn_at=event.now,
            previous_status="submitted",
        )
        await event.emit(withdrawn, subject=registration, partition_key=submitted.account_key)
        if registration in self.hang:
            self.reached_hang.set()
            await asyncio.Event().wait()  # the process dies here, in the middle of its batch

    def consumer(self, kafka: Broker, unit: UnitOfWork, group_id: str) -> KafkaEventConsumer:
        subscriptions = Subscriptions(consumer=CONSUMER, unit=unit, batched=True).on(
            RegistrationSubmitted, self.handle
        )
        batch = subscriptions.batch_handler()
        assert batch is not None

        async def spying(envelopes: list[EventEnvelope[Any]]) -> None:
            self.batches.append([envelope.data.registration_id for envelope in envelopes])
            await batch(envelopes)

        consumer = kafka.consumer(subscriptions.handlers(), group_id=group_id)
        consumer._batch_handler = spying
        return consumer


async def applied(unit: UnitOfWork) -> list[str]:
    """Registration ids whose effects committed, in commit order."""
    async with unit.transactions.transaction() as session:
        rows = (await session.execute(select(outbox).order_by(outbox.c.id))).all()
    return [envelope_from_row(row).data.registration_id for row in rows]


async def applied_count(unit: UnitOfWork, count: int, within: float = 30) -> None:
    """Wait until ``count`` events' effects committed (a bound on waiting, not a speed goal)."""
    deadline = asyncio.get_running_loop().time() + within
    while len(await applied(unit)) < count:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{len(await applied(unit))} applied, never {count}")
        await asyncio.sleep(0.05)


async def inbox_ids(unit: UnitOfWork) -> set[str]:
    async with unit.transactions.transaction() as session:
        return set((await session.execute(select(inbox.c.event_id))).scalars())


async def send_numbered(kafka: Broker, numbers: range, partition: int = 0) -> None:
    for number in numbers:
        await kafka.send_event(partition, envelope_numbered(number))


async def test_a_partitions_run_is_applied_in_one_batch_in_order_and_once(
    kafka: Broker, unit: UnitOfWork
) -> None:
    await send_numbered(kafka, range(1, 7))
    await send_numbered(kafka, range(7, 9), partition=1)
    recorder = Recorder()
    async with running(recorder.consumer(kafka, unit, "g-batch")):
        await applied_count(unit, 8)
    done = await applied(unit)
    assert [r for r in done if r in {f"r-{n}" for n in range(1, 7)}] == [
        f"r-{n}" for n in range(1, 7)
    ]
    assert sorted(done) == sorted(f"r-{n}" for n in range(1, 9))
    assert any(len(batch) > 1 for batch in recorder.batches)
    assert await kafka.committed("g-batch", 0) == 6
    assert await kafka.committed("g-batch", 1) == 2

    # A whole redelivery (a new group reading from the start): the inbox applies nothing twice.
    again = Recorder()
    async with running(again.consumer(kafka, unit, "g-batch-again")):
        await wait_until(lambda: sum(again.attempts.values()) == 0 and len(again.batches) >= 2)
    assert sorted(await applied(unit)) == sorted(done)


async def test_a_poison_event_in_a_batch_is_dead_lettered_alone_and_the_rest_proceed(
    kafka: Broker, unit: UnitOfWork
) -> None:
    await send_numbered(kafka, range(1, 6))
    recorder = Recorder()
    recorder.poison = {"r-3"}
    consumer = recorder.consumer(kafka, unit, "g-poison")
    async with running(consumer):
        await applied_count(unit, 4)
        await wait_until(lambda: consumer.paused_partitions() == {})
        assert consumer.paused_partitions() == {}

    assert await applied(unit) == ["r-1", "r-2", "r-4", "r-5"]
    assert "e-3" not in await inbox_ids(unit)
    letters = await kafka.dead_letters()
    assert [(letter.header("dlq_offset"), letter.reason) for letter in letters] == [
        ("2", "PoisonEventError: no such registration")
    ]
    assert await kafka.committed("g-poison", 0) == 5


async def test_a_transient_fault_in_a_batch_holds_the_partition_at_its_record(
    kafka: Broker, unit: UnitOfWork
) -> None:
    await send_numbered(kafka, range(1, 5))
    recorder = Recorder()
    recorder.failing = {"r-3"}
    consumer = recorder.consumer(kafka, unit, "g-transient")
    waiting = f"{kafka.registrations}:0"
    async with running(consumer):
        await wait_until(lambda: recorder.attempts["r-3"] >= 4)
        assert list(consumer.paused_partitions()) == [waiting]
        assert await applied(unit) == ["r-1", "r-2"]  # before the fault, one at a time
        assert "e-4" not in await inbox_ids(unit)  # only ever in batches that rolled back
        recorder.failing.clear()
        await applied_count(unit, 4)
        await wait_until(lambda: consumer.paused_partitions() == {})
        assert consumer.paused_partitions() == {}

    assert await applied(unit) == ["r-1", "r-2", "r-3", "r-4"]
    assert await kafka.dead_letters(include_replayed=True) == []
    assert await kafka.committed("g-transient", 0) == 4


async def test_a_crash_in_the_middle_of_a_batch_leaves_nothing_and_the_redelivery_applies_each_once(
    kafka: Broker, unit: UnitOfWork
) -> None:
    await send_numbered(kafka, range(1, 6))
    crashing = Recorder()
    crashing.hang = {"r-3"}
    async with running(crashing.consumer(kafka, unit, "g-crash")):
        await asyncio.wait_for(crashing.reached_hang.wait(), timeout=30)
    [hung] = [batch for batch in crashing.batches if "r-3" in batch]
    assert len(hung) > 1
    # The batch's transaction never committed: no effect and no inbox row survived it, and
    # no offset past its first record was committed.
    done = await applied(unit)
    assert not set(hung) & set(done)
    assert not {f"e-{r[2:]}" for r in hung} & await inbox_ids(unit)
    assert (await kafka.committed("g-crash", 0) or 0) == len(done)

    successor = Recorder()
    async with running(successor.consumer(kafka, unit, "g-crash")):
        await applied_count(unit, 5)
    assert await applied(unit) == [f"r-{n}" for n in range(1, 6)]
    assert await kafka.committed("g-crash", 0) == 5
