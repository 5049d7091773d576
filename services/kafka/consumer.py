"""At-least-once Kafka consumers: offsets are committed only after processing.

Each record is decoded into its envelope and handed to the handler registered for its event
type. Handlers are idempotent through the inbox, so a redelivery after a crash or a rebalance
changes nothing twice. A record that cannot be processed (unreadable, or failing every retry)
goes to the dead-letter topic with the reason, and the partition moves on: a poison event never
blocks it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, KafkaError
from tenacity import (
    AsyncRetrying,
    retry_if_not_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from schemas.envelope import (
    EventEnvelope,
    EventPayload,
    MalformedEventError,
    UnknownEventError,
    decode_event,
)
from schemas.topics import DEAD_LETTERS
from services.kafka.producer import KafkaEventPublisher
from services.metrics import EVENTS_CONSUMED, EVENTS_DEAD_LETTERED

log = structlog.get_logger(__name__)

EventHandler = Callable[[EventEnvelope[Any]], Awaitable[None]]


class PoisonEventError(Exception):
    """Raised by a handler for an event that can never succeed (bad data, not bad luck)."""


PayloadT = TypeVar("PayloadT", bound=EventPayload)


def payload_of(envelope: EventEnvelope[Any], expected: type[PayloadT]) -> PayloadT:
    """The envelope's payload if it is of the type a handler expects; else a poison event."""
    if not isinstance(envelope.data, expected):
        raise PoisonEventError(f"expected {expected.event_type}, got {envelope.type}")
    return envelope.data


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: KafkaEventConsumer) -> None:
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._consumer.commit_processed(set(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info("partitions assigned", group=self._consumer.group_id, count=len(assigned))


class KafkaEventConsumer:
    """One consumer group member dispatching events to handlers by event type."""

    def __init__(
        self,
        *,
        group_id: str,
        topics: list[str],
        handlers: Mapping[str, EventHandler],
        bootstrap_servers: str,
        dead_letters: KafkaEventPublisher,
        max_attempts: int,
        topic_prefix: str = "",
        retry_initial_seconds: float = 0.2,
    ) -> None:
        self.group_id = group_id
        self._topics = [topic_prefix + topic for topic in topics]
        self._handlers = dict(handlers)
        self._dead_letters = dead_letters
        self._max_attempts = max_attempts
        self._retry_initial = retry_initial_seconds
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=topic_prefix + group_id,
            client_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        self._processed: dict[TopicPartition, int] = {}
        self.running = False

    async def run(self) -> None:
        """Consume until cancelled."""
        await self._consumer.start()
        self._consumer.subscribe(self._topics, listener=_CommitOnRevoke(self))
        self.running = True
        try:
            while True:
                batches = await self._consumer.getmany(timeout_ms=500, max_records=200)
                for partition, records in batches.items():
                    for record in records:
                        await self._process(record)
                        self._processed[partition] = record.offset + 1
                await self.commit_processed(set(batches))
        finally:
            self.running = False
            await self.commit_processed(set(self._processed))
            await self._consumer.stop()

    async def commit_processed(self, partitions: set[TopicPartition]) -> None:
        offsets = {tp: self._processed.pop(tp) for tp in partitions if tp in self._processed}
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as error:
            # Harmless: the records are redelivered to whoever owns the partition next, and the
            # inbox turns the redelivery into a no-op.
            log.warning("offset commit failed", group=self.group_id, error=str(error))

    async def _process(self, record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            envelope = decode_event(record.value, list(record.headers))
        except UnknownEventError:
            EVENTS_CONSUMED.labels(consumer=self.group_id, outcome="ignored").inc()
            return
        except MalformedEventError as error:
            await self._dead_letter(record, reason=f"{type(error).__name__}: {error}")
            return
        handler = self._handlers.get(envelope.type)
        if handler is None:
            EVENTS_CONSUMED.labels(consumer=self.group_id, outcome="ignored").inc()
            return
        with structlog.contextvars.bound_contextvars(
            correlation_id=envelope.correlationid, event_id=envelope.id, event_type=envelope.type
        ):
            await self._handle_with_retries(handler, envelope, record)

    async def _handle_with_retries(
        self,
        handler: EventHandler,
        envelope: EventEnvelope[Any],
        record: ConsumerRecord[bytes, bytes],
    ) -> None:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=wait_exponential_jitter(
                multiplier=self._retry_initial, max=10, jitter=self._retry_initial
            ),
            retry=retry_if_not_exception_type((PoisonEventError, asyncio.CancelledError)),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await handler(envelope)
        except Exception as error:
            log.exception("event failed; sending it to the dead-letter topic")
            await self._dead_letter(record, reason=f"{type(error).__name__}: {error}")
            return
        EVENTS_CONSUMED.labels(consumer=self.group_id, outcome="processed").inc()

    async def _dead_letter(self, record: ConsumerRecord[bytes, bytes], *, reason: str) -> None:
        headers = [*list(record.headers), *dead_letter_headers(self.group_id, record, reason)]
        await self._dead_letters.send_raw(
            DEAD_LETTERS.name, key=record.key, value=record.value, headers=headers
        )
        EVENTS_DEAD_LETTERED.labels(consumer=self.group_id, topic=record.topic).inc()
        log.warning("dead-lettered", topic=record.topic, offset=record.offset, reason=reason)


def dead_letter_headers(
    consumer: str, record: ConsumerRecord[bytes, bytes], reason: str
) -> list[tuple[str, bytes]]:
    """Where the record came from and why it failed, so an operator can inspect and replay it."""
    return [
        ("dlq_reason", reason[:2000].encode()),
        ("dlq_consumer", consumer.encode()),
        ("dlq_topic", record.topic.encode()),
        ("dlq_partition", str(record.partition).encode()),
        ("dlq_offset", str(record.offset).encode()),
    ]
