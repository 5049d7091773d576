"""A real broker, a raw producer that can aim at one partition, and consumers run as tasks."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from schemas.envelope import EventEnvelope, encode_event
from schemas.topics import REGISTRATIONS
from services.kafka.consumer import EventHandler, KafkaEventConsumer
from services.kafka.dead_letters import DeadLetter, DeadLetterFilter, list_dead_letters
from services.kafka.producer import KafkaEventPublisher
from tests.unit.test_envelope import submitted_envelope

SUBMITTED = "dealreg.registration.submitted"


def envelope_numbered(number: int) -> EventEnvelope[Any]:
    """A valid ``registration.submitted`` with id ``e-<number>``."""
    base = submitted_envelope()
    data = base.data.model_copy(update={"registration_id": f"r-{number}", "submission_seq": number})
    return base.model_copy(update={"id": f"e-{number}", "subject": f"r-{number}", "data": data})


@dataclass
class Broker:
    bootstrap: str
    prefix: str
    publisher: KafkaEventPublisher
    producer: AIOKafkaProducer

    @property
    def registrations(self) -> str:
        return self.prefix + REGISTRATIONS.name

    async def send(
        self,
        partition: int,
        value: bytes | None,
        headers: list[tuple[str, bytes]],
        key: bytes = b"d:acme.com",
    ) -> None:
        await self.producer.send_and_wait(
            self.registrations, value, key=key, headers=headers, partition=partition
        )

    async def send_event(self, partition: int, envelope: EventEnvelope[Any]) -> None:
        key, value, headers = encode_event(envelope)
        await self.send(partition, value, headers, key=key)

    def consumer(
        self,
        handlers: Mapping[str, EventHandler],
        group_id: str = "test-consumer",
        client_id: str | None = None,
    ) -> KafkaEventConsumer:
        return KafkaEventConsumer(
            group_id=group_id,
            topics=[REGISTRATIONS.name],
            handlers=handlers,
            bootstrap_servers=self.bootstrap,
            dead_letters=self.publisher,
            topic_prefix=self.prefix,
            retry_initial_seconds=0.01,
            retry_max_seconds=0.2,
            client_id=client_id,
        )

    async def dead_letters(self, **criteria: Any) -> list[DeadLetter]:
        return await list_dead_letters(
            self.bootstrap, topic_prefix=self.prefix, where=DeadLetterFilter(**criteria)
        )

    async def committed(self, group_id: str, partition: int) -> int | None:
        """The offset ``group_id`` committed on a registrations partition."""
        reader = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=self.prefix + group_id)
        await reader.start()
        try:
            offset = await reader.committed(TopicPartition(self.registrations, partition))
            return None if offset is None else int(offset)
        finally:
            await reader.stop()


@contextlib.asynccontextmanager
async def broker(bootstrap: str, prefix: str) -> AsyncIterator[Broker]:
    publisher = KafkaEventPublisher(
        bootstrap_servers=bootstrap, client_id="test", topic_prefix=prefix
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await publisher.start()
    await producer.start()
    try:
        yield Broker(bootstrap, prefix, publisher, producer)
    finally:
        await producer.stop()
        await publisher.stop()


@contextlib.asynccontextmanager
async def running(consumer: KafkaEventConsumer) -> AsyncIterator[KafkaEventConsumer]:
    """Run ``consumer`` for the block; stopping it commits what it processed."""
    task = asyncio.create_task(consumer.run())
    try:
        yield consumer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_until(condition: Callable[[], bool], within: float = 30) -> None:
    """Wait for ``condition``; a bound on waiting, not a speed goal."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the condition never held")
        await asyncio.sleep(0.02)
