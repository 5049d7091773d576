"""At-least-once Kafka consumers that tell bad data from bad luck.

Each record is decoded into its envelope and handed to the handler registered for its event
type; offsets are committed only after processing, and handlers are idempotent through the
inbox, so a redelivery after a crash or a rebalance changes nothing twice.

- **Poison** (bad data) goes to the dead-letter topic and its partition moves on: a record
  without a readable CloudEvents envelope, a payload failing validation, an event version newer
  than this code reads, or a handler raising :class:`PoisonEventError` or pydantic's
  ``ValidationError``. Retrying those could never succeed.
- **Anything else** (the database restarting, a lock timeout, a broker error, a bug) is bad
  luck, retried without limit: the partition pauses at the failing record (pause + seek),
  nothing past it is committed, the other partitions keep flowing, and it resumes by itself,
  after a capped backoff with jitter, until the handler succeeds. One account's events are
  therefore never applied out of order, and a blip loses nothing.
- Event types this consumer has no handler for are skipped.

**Batches** (``batch_handler``): a partition's run of decodable records with a handler is
handed over at once (at most ``max_batch``), for the handler to apply in one transaction, in
the partition's order; offsets move past the batch only when it succeeded. A record that cannot
be decoded, or that no handler takes, ends the run and is dealt with alone, as above. When a
batch fails for any reason, its records are processed again one at a time through the
per-record handlers: a poison record among them is dead-lettered alone and the others proceed,
and a transient fault holds the partition at the very record that failed, exactly as without
batches (after the wait the partition is fetched again from there, in batches again).

:meth:`KafkaEventConsumer.paused_partitions` says what is waiting and why, for readiness.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeAlias, TypeVar

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, KafkaError
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from schemas.envelope import (
    EventEnvelope,
    EventPayload,
    MalformedEventError,
    UnknownEventError,
    decode_event,
    registered_event_types,
)
from schemas.topics import DEAD_LETTERS
from services.kafka.clients import start_or_stop
from services.kafka.metrics import (
    CONSUMER_LAG,
    CONSUMER_PAUSED_PARTITIONS,
    CONSUMER_TRANSIENT_RETRIES,
)
from services.kafka.producer import KafkaEventPublisher
from services.kafka.stalls import PartitionStalls
from services.metrics import EVENTS_CONSUMED, EVENTS_DEAD_LETTERED
from services.tracing import extract_record_context, tracer

log = structlog.get_logger(__name__)

EventHandler = Callable[[EventEnvelope[Any]], Awaitable[None]]
# Applies a partition's run of events, in order, all or nothing (one transaction).
BatchHandler = Callable[[list[EventEnvelope[Any]]], Awaitable[None]]
Record: TypeAlias = ConsumerRecord[bytes, bytes]

_POLL_MS = 500
_MAX_RECORDS = 200
_MAX_BATCH = 100


class PoisonEventError(Exception):
    """Raised by a handler for an event that can never succeed (bad data, not bad luck)."""


_POISON = (PoisonEventError, ValidationError, MalformedEventError, UnknownEventError)

PayloadT = TypeVar("PayloadT", bound=EventPayload)


def payload_of(envelope: EventEnvelope[Any], expected: type[PayloadT]) -> PayloadT:
    """The envelope's payload if it is of the type a handler expects; else a poison event."""
    if not isinstance(envelope.data, expected):
        raise PoisonEventError(f"expected {expected.event_type}, got {envelope.type}")
    return envelope.data


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: KafkaEventConsumer) -> None:
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._consumer.partitions_revoked(set(revoked))

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
        topic_prefix: str = "",
        retry_initial_seconds: float = 0.2,
        retry_max_seconds: float = 30.0,
        client_id: str | None = None,
        security: Mapping[str, Any] | None = None,
        group_instance_id: str | None = None,
        batch_handler: BatchHandler | None = None,
        max_batch: int = _MAX_BATCH,
    ) -> None:
        """``handlers`` take one event each; ``batch_handler`` (optional) takes a partition's
        run of them at once, and the per-record handlers remain the way a failed batch is
        retried one event at a time (see the module doc).

        ``security``: :func:`services.kafka.security.client_options` (none: PLAINTEXT).

        ``group_instance_id``: static group membership (KIP-345). A member with one (the pod's
        name) does not leave the group when it stops, so a rolling restart that brings it back
        within the session timeout keeps its partitions instead of rebalancing the group twice.
        """
        self.group_id = group_id
        self._topics = [topic_prefix + topic for topic in topics]
        self._handlers = dict(handlers)
        self._batch_handler = batch_handler
        self._max_batch = max(1, max_batch)
        self._dead_letters = dead_letters
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=topic_prefix + group_id,
            client_id=client_id or group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            group_instance_id=group_instance_id,
            **(security or {}),
        )
        self._stalls = PartitionStalls(
            initial_seconds=retry_initial_seconds, max_seconds=retry_max_seconds
        )
        self._processed: dict[TopicPartition, int] = {}
        # Held while one record is processed, so a rebalance waits for it before committing.
        self._in_flight = asyncio.Lock()
        # Bumped by every revocation: records fetched before it are no longer ours to process.
        self._generation = 0
        self._lag_partitions: set[TopicPartition] = set()
        self.running = False

    def paused_partitions(self) -> dict[str, str]:
        """``"topic:partition"`` → the last error, for each partition waiting at a record."""
        return self._stalls.describe()

    def assigned_partitions(self) -> set[str]:
        """``"topic:partition"`` of every partition this member owns now."""
        return {f"{tp.topic}:{tp.partition}" for tp in self._consumer.assignment()}

    async def run(self) -> None:
        """Consume until cancelled."""
        await start_or_stop(self._consumer.start, self._consumer.stop)
        self._consumer.subscribe(self._topics, listener=_Rebalance(self))
        self.running = True
        try:
            while True:
                await self._poll_once()
        finally:
            self.running = False
            await self.commit_processed(set(self._processed))
            await self._consumer.stop()
            self._stalls.clear()
            self._publish_stall_count()
            self._forget_lag(self._lag_partitions)

    async def commit_processed(self, partitions: set[TopicPartition]) -> None:
        """Commit, for each partition, the offset after the last record processed there."""
        offsets = {tp: self._processed.pop(tp) for tp in partitions if tp in self._processed}
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as error:
            # Harmless: the records are redelivered to whoever owns the partition next, and the
            # inbox turns the redelivery into a no-op.
            log.warning("offset commit failed", group=self.group_id, error=str(error))

    async def partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Let the record in flight finish, commit what was processed, drop revoked stalls."""
        async with self._in_flight:
            self._generation += 1
            await self.commit_processed(revoked)
            self._stalls.forget(revoked)
            self._publish_stall_count()
            self._forget_lag(revoked)

    async def _poll_once(self) -> None:
        self._resume_due_partitions()
        batches = await self._consumer.getmany(
            timeout_ms=self._poll_timeout_ms(), max_records=_MAX_RECORDS
        )
        generation = self._generation
        for tp, records in batches.items():
            await self._process_partition(tp, records, generation)
        await self.commit_processed(set(batches))
        await self._publish_lag()

    async def _publish_lag(self) -> None:
        """Per owned partition: records between the next one to process and the last stable
        offset (read_committed), as of the last fetch response."""
        for tp in self._consumer.assignment():
            end = self._consumer.last_stable_offset(tp)
            if end is None:
                end = self._consumer.highwater(tp)
            if end is None:
                continue  # nothing fetched from it yet
            try:
                position = await self._consumer.position(tp)
            except KafkaError:
                continue  # revoked meanwhile
            self._lag_partitions.add(tp)
            CONSUMER_LAG.labels(
                consumer=self.group_id, topic=tp.topic, partition=str(tp.partition)
            ).set(max(end - position, 0))

    def _forget_lag(self, partitions: set[TopicPartition]) -> None:
        """Drop the lag series of partitions this member no longer owns (another reports them)."""
        for tp in set(partitions) & self._lag_partitions:
            self._lag_partitions.discard(tp)
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(self.group_id, tp.topic, str(tp.partition))

    async def _process_partition(
        self, tp: TopicPartition, records: list[Record], generation: int
    ) -> None:
        """Process in order; stop at a record that fails (its partition now waits)."""
        if self._batch_handler is not None:
            await self._process_partition_in_batches(tp, records, generation)
            return
        for record in records:
            async with self._in_flight:
                if generation != self._generation:
                    return  # revoked meanwhile: the next owner starts at the committed offset
                if not await self._try(tp, record):
                    return

    async def _process_partition_in_batches(
        self, tp: TopicPartition, records: list[Record], generation: int
    ) -> None:
        """Runs of batchable records go as batches; any other record goes alone, in order."""
        run: list[tuple[Record, EventEnvelope[Any]]] = []
        for record in records:
            envelope = self._batchable(record)
            if envelope is not None:
                run.append((record, envelope))
                if len(run) < self._max_batch:
                    continue
            if run and not await self._try_batch(tp, run, generation):
                return
            run = []
            if envelope is None:
                async with self._in_flight:
                    if generation != self._generation:
                        return
                    if not await self._try(tp, record):
                        return
        if run:
            await self._try_batch(tp, run, generation)

    def _batchable(self, record: Record) -> EventEnvelope[Any] | None:
        """The record's envelope if a handler takes it; None for a record that goes alone
        (ignored, or poison at decoding: the one-record path dead-letters it)."""
        event_type = _header(record, "ce_type")
        if event_type is not None and event_type not in self._handlers:
            return None
        try:
            envelope = _decode(record)
        except _POISON:
            return None
        return envelope if envelope.type in self._handlers else None

    async def _try_batch(
        self,
        tp: TopicPartition,
        run: list[tuple[Record, EventEnvelope[Any]]],
        generation: int,
    ) -> bool:
        """Apply a run as one batch; on failure, one record at a time. False when a record
        failed transiently and the partition now waits at it."""
        assert self._batch_handler is not None  # noqa: S101 - only called in batch mode
        async with self._in_flight:
            if generation != self._generation:
                return False  # revoked meanwhile: the next owner starts at the committed offset
            if len(run) > 1:
                try:
                    await self._process_batch(self._batch_handler, run)
                except Exception as error:
                    log.info(
                        "batch failed; its records one at a time",
                        topic=tp.topic,
                        partition=tp.partition,
                        first_offset=run[0][0].offset,
                        size=len(run),
                        error=f"{type(error).__name__}: {error}",
                    )
                else:
                    self._processed[tp] = run[-1][0].offset + 1
                    if self._stalls.succeeded(tp):
                        log.info("partition resumed", topic=tp.topic, partition=tp.partition)
                        self._publish_stall_count()
                    return True
            for record, _envelope in run:
                if not await self._try(tp, record):
                    return False
            return True

    async def _process_batch(
        self, handler: BatchHandler, run: list[tuple[Record, EventEnvelope[Any]]]
    ) -> None:
        first = run[0][0]
        with tracer.start_as_current_span(
            f"process {first.topic}",
            context=extract_record_context(first.headers),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": first.topic,
                "messaging.destination.partition.id": str(first.partition),
                "messaging.kafka.offset": first.offset,
                "messaging.batch.message_count": len(run),
                "messaging.consumer.group.name": self.group_id,
            },
        ):
            await handler([envelope for _record, envelope in run])
        EVENTS_CONSUMED.labels(consumer=self.group_id, outcome="processed").inc(len(run))

    async def _try(self, tp: TopicPartition, record: Record) -> bool:
        """Process one record; False when it failed transiently and its partition now waits."""
        try:
            await self._process(record)
        except Exception as error:
            self._hold(tp, record, error)
            return False
        self._processed[tp] = record.offset + 1
        if self._stalls.succeeded(tp):
            log.info("partition resumed", topic=tp.topic, partition=tp.partition)
            self._publish_stall_count()
        return True

    async def _process(self, record: Record) -> None:
        event_type = _header(record, "ce_type")
        if event_type is not None and event_type not in self._handlers:
            EVENTS_CONSUMED.labels(consumer=self.group_id, outcome="ignored").inc()
            return
        try:
            with tracer.start_as_current_span(
                f"process {record.topic}",
                context=extract_record_context(record.headers),
                kind=SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.operation.type": "process",
                    "messaging.destination.name": record.topic,
                    "messaging.destination.partition.id": str(record.partition),
                    "messaging.kafka.offset": record.offset,
                    "messaging.consumer.group.name": self.group_id,
                },
            ) as span:
                envelope = _decode(record)
                span.set_attribute("messaging.message.id", envelope.id)
                span.set_attribute("cloudevents.event_type", envelope.type)
                span.set_attribute("dealreg.correlation_id", envelope.correlationid)
                with structlog.contextvars.bound_contextvars(
                    correlation_id=envelope.correlationid,
                    event_id=envelope.id,
                    event_type=envelope.type,
                ):
                    await self._handlers[envelope.type](envelope)
        except _POISON as error:
            await self._dead_letter(record, reason=f"{type(error).__name__}: {error}")
            return
        EVENTS_CONSUMED.labels(consumer=self.group_id, outcome="processed").inc()

    def _hold(self, tp: TopicPartition, record: Record, error: Exception) -> None:
        """Pause the partition at the failing record; it is fetched again when the wait is over."""
        if tp not in self._consumer.assignment():
            return  # lost meanwhile (no revocation seen): its next owner starts at the commit
        stall = self._stalls.failed(
            tp, offset=record.offset, error=f"{type(error).__name__}: {error}", now=time.monotonic()
        )
        self._consumer.seek(tp, record.offset)
        self._consumer.pause(tp)
        CONSUMER_TRANSIENT_RETRIES.labels(consumer=self.group_id, topic=tp.topic).inc()
        self._publish_stall_count()
        log.warning(
            "transient failure; the partition waits at this record",
            topic=tp.topic,
            partition=tp.partition,
            offset=record.offset,
            attempt=stall.attempts,
            retry_in=round(stall.retry_at - time.monotonic(), 3),
            error=stall.error,
            exc_info=stall.attempts == 1,
        )

    def _resume_due_partitions(self) -> None:
        assigned = self._consumer.assignment()
        due = [tp for tp in self._stalls.due(time.monotonic()) if tp in assigned]
        if due:
            self._consumer.resume(*due)

    def _poll_timeout_ms(self) -> int:
        wait = self._stalls.seconds_to_next_retry(time.monotonic())
        return _POLL_MS if wait is None else min(_POLL_MS, int(wait * 1000) + 1)

    def _publish_stall_count(self) -> None:
        CONSUMER_PAUSED_PARTITIONS.labels(consumer=self.group_id).set(len(self._stalls))

    async def _dead_letter(self, record: Record, *, reason: str) -> None:
        headers = [
            *[(name, value) for name, value in record.headers if not name.startswith("dlq_")],
            *dead_letter_headers(self.group_id, record, reason),
        ]
        await self._dead_letters.send_raw(
            DEAD_LETTERS.name, key=record.key, value=record.value, headers=headers
        )
        EVENTS_DEAD_LETTERED.labels(consumer=self.group_id, topic=record.topic).inc()
        log.warning("dead-lettered", topic=record.topic, offset=record.offset, reason=reason)


def _header(record: Record, name: str) -> str | None:
    for header, value in record.headers:
        if header == name:
            return bytes(value).decode("utf-8", errors="replace")
    return None


def _decode(record: Record) -> EventEnvelope[Any]:
    """The record's envelope; :class:`UnknownEventError` for a version newer than this code."""
    envelope = decode_event(record.value, list(record.headers))
    readable = registered_event_types()[envelope.type].schema_version
    if envelope.schemaversion > readable:
        raise UnknownEventError(
            f"{envelope.type} v{envelope.schemaversion}: this code reads up to v{readable}"
        )
    return envelope


def dead_letter_headers(consumer: str, record: Record, reason: str) -> list[tuple[str, bytes]]:
    """Where the record came from, why and when it failed, so it can be inspected and replayed."""
    return [
        ("dlq_reason", reason[:2000].encode()),
        ("dlq_consumer", consumer.encode()),
        ("dlq_topic", record.topic.encode()),
        ("dlq_partition", str(record.partition).encode()),
        ("dlq_offset", str(record.offset).encode()),
        ("dlq_time", str(time.time_ns() // 1_000_000).encode()),
    ]
