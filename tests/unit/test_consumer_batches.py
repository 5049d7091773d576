"""How a batched consumer cuts a partition's records into batches and what it does when one
fails, with the broker faked (the same against a real broker: tests/integration/
test_consumer_batches.py)."""

from __future__ import annotations

from typing import Any

from aiokafka import ConsumerRecord, TopicPartition

from schemas.envelope import EventEnvelope, encode_event
from services.kafka.consumer import KafkaEventConsumer, PoisonEventError
from tests.support.consumers import SUBMITTED, envelope_numbered

TP = TopicPartition("dealreg.registrations", 0)


class FakeBroker:
    """What the consumer asks of aiokafka while it processes fetched records."""

    def __init__(self) -> None:
        self.seeks: list[int] = []
        self.paused: list[TopicPartition] = []

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append(offset)

    def pause(self, *partitions: TopicPartition) -> None:
        self.paused.extend(partitions)


class FakeDeadLetters:
    def __init__(self) -> None:
        self.sent: list[bytes | None] = []

    async def send_raw(self, topic: str, *, key: Any, value: bytes | None, headers: Any) -> None:
        self.sent.append(value)


def record(offset: int, value: bytes | None, headers: list[tuple[str, bytes]]) -> Any:
    return ConsumerRecord(
        topic=TP.topic,
        partition=TP.partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=b"d:acme.com",
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=0,
        headers=headers,
    )


def numbered(offset: int) -> Any:
    _key, value, headers = encode_event(envelope_numbered(offset + 1))
    return record(offset, value, headers)


class Spy:
    def __init__(self) -> None:
        self.singles: list[str] = []
        self.batches: list[list[str]] = []
        self.poison: set[str] = set()
        self.transient: set[str] = set()

    async def one(self, envelope: EventEnvelope[Any]) -> None:
        self.singles.append(envelope.id)
        if envelope.id in self.poison:
            raise PoisonEventError("bad")
        if envelope.id in self.transient:
            raise ConnectionError("database down")

    async def batch(self, envelopes: list[EventEnvelope[Any]]) -> None:
        ids = [envelope.id for envelope in envelopes]
        self.batches.append(ids)
        if set(ids) & (self.poison | self.transient):
            raise PoisonEventError("somewhere in the batch")


async def consumer(spy: Spy, max_batch: int = 100) -> tuple[KafkaEventConsumer, FakeDeadLetters]:
    letters = FakeDeadLetters()
    subject = KafkaEventConsumer(
        group_id="g",
        topics=["registrations"],
        handlers={SUBMITTED: spy.one},
        batch_handler=spy.batch,
        max_batch=max_batch,
        bootstrap_servers="127.0.0.1:1",
        dead_letters=letters,  # type: ignore[arg-type]
    )
    await subject._consumer.stop()  # never started: the fake below stands for it
    subject._consumer = FakeBroker()  # type: ignore[assignment]
    return subject, letters


async def test_runs_go_as_batches_cut_at_the_size_and_at_records_that_go_alone() -> None:
    spy = Spy()
    subject, letters = await consumer(spy, max_batch=3)
    records = [numbered(n) for n in range(5)]
    records.append(record(5, b"{}", [("ce_type", b"dealreg.someone.elses")]))  # ignored
    records += [numbered(6), record(7, b"{not json", [("ce_type", SUBMITTED.encode())])]
    records += [numbered(8), numbered(9)]
    await subject._process_partition(TP, records, subject._generation)
    assert spy.batches == [["e-1", "e-2", "e-3"], ["e-4", "e-5"], ["e-9", "e-10"]]
    assert spy.singles == ["e-7"]  # a run of one goes the one-record way
    assert letters.sent == [b"{not json"]  # dead-lettered alone, in its place
    assert subject._processed[TP] == 10


async def test_a_failed_batch_is_retried_one_record_at_a_time() -> None:
    spy = Spy()
    spy.poison = {"e-2"}
    subject, letters = await consumer(spy)
    await subject._process_partition(TP, [numbered(n) for n in range(4)], subject._generation)
    assert spy.batches == [["e-1", "e-2", "e-3", "e-4"]]
    assert spy.singles == ["e-1", "e-2", "e-3", "e-4"]
    assert len(letters.sent) == 1
    assert subject._processed[TP] == 4
    assert subject.paused_partitions() == {}


async def test_a_transient_fault_in_a_batch_waits_at_its_record_and_commits_nothing_past() -> None:
    spy = Spy()
    spy.transient = {"e-3"}
    subject, letters = await consumer(spy)
    broker = subject._consumer
    await subject._process_partition(TP, [numbered(n) for n in range(5)], subject._generation)
    assert spy.singles == ["e-1", "e-2", "e-3"]
    assert subject._processed[TP] == 2  # e-1 and e-2 applied; e-3 and after are not
    assert broker.seeks == [2]  # type: ignore[attr-defined]
    assert broker.paused == [TP]  # type: ignore[attr-defined]
    assert list(subject.paused_partitions()) == [f"{TP.topic}:0"]
    assert letters.sent == []


async def test_a_partition_revoked_before_its_batch_is_left_to_its_next_owner() -> None:
    spy = Spy()
    subject, _letters = await consumer(spy)
    generation = subject._generation
    await subject.partitions_revoked(set())
    await subject._process_partition(TP, [numbered(n) for n in range(3)], generation)
    assert spy.batches == []
    assert spy.singles == []
    assert TP not in subject._processed
