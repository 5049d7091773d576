"""Rebuild a service's state from the topics into an empty database (``dealreg replay``).

Each service says what replaying it means in its own ``<service>.replay`` module: a
:class:`ReplayPlan`, i.e. its own consumer handlers (``services.events`` subscriptions) plus,
where the service's state also depends on what it *did* rather than on what it consumed,
handlers for its own events that record it instead of doing it again (the resolver applies the
decisions it published instead of deciding anew; crm_sync records the CRM opportunities it
created instead of calling the CRM).

The replay:

1. refuses a database that holds any of the service's state (exit code 1 in the command), then
   migrates it to the head revision;
2. captures the end offset of every partition of the plan's topics (read-committed), assigns
   them by hand (no consumer group: the running service's committed offsets are untouched) and
   streams each from its beginning up to that end, a batch per partition at a time;
3. applies the records through the plan's handlers in the order of their timestamps (each
   partition's own order kept), one transaction per event with the inbox as in production, and
   the clock at the event's time;
4. marks every outbox row staged meanwhile as published: those events are already on the topics
   (the originals), so the relay of a service started on this database never sends them again.
"""

from __future__ import annotations

import asyncio
import heapq
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError
from sqlalchemy import Table, func, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.envelope import (
    EventEnvelope,
    MalformedEventError,
    UnknownEventError,
    decode_event,
    registered_event_types,
)
from services.db import create_engine, create_session_factory
from services.events import Emitter, Subscriptions, UnitOfWork
from services.kafka.consumer import EventHandler, PoisonEventError, Record
from services.uow import TransactionRunner

Progress = Callable[[int, int], None]  # records applied, records to apply (at most)


@dataclass(frozen=True)
class ReplayPlan:
    """What replaying one service means (declared in ``<service>.replay``)."""

    service: str
    emitter: Emitter
    inbox: Table
    state_tables: Sequence[Table]
    subscriptions: Callable[[UnitOfWork], list[Subscriptions]]
    # Event types whose effect the plan cannot rebuild yet, with what they hold: a history
    # holding one is refused (never a rebuilt database that silently differs from the live one).
    cannot_apply: Mapping[str, str] = field(default_factory=dict)


@dataclass
class ReplaySummary:
    service: str
    topics: list[str]
    records: int = 0
    applied: int = 0
    ignored: int = 0  # event types the service does not read
    poison: int = 0  # records the service would have dead-lettered
    outbox_suppressed: int = 0
    end_offsets: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class NotRebuildableError(Exception):
    """The service's state is not all on the topics (its ``replay`` module says what is not)."""


class UnsupportedHistoryError(NotRebuildableError):
    """The topics hold an event the plan cannot apply yet: what was written is partial."""


class DatabaseNotEmptyError(Exception):
    """The target database already holds state of the service: replay only into an empty one."""


class ReplayClock:
    """The time of the event being applied (what the handlers record as ``now``)."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def now(self) -> datetime:
        return self.at


async def state_rows(engine: AsyncEngine, tables: Sequence[Table]) -> dict[str, int]:
    """Rows in each of ``tables`` that exists in the database (a missing table: none)."""
    async with engine.connect() as connection:
        existing = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
        counts = {}
        for table in tables:
            if table.name in existing:
                counts[table.name] = int(
                    (await connection.execute(select(func.count()).select_from(table))).scalar_one()
                )
    return counts


async def refuse_non_empty(engine: AsyncEngine, plan: ReplayPlan) -> None:
    counts = await state_rows(engine, [*plan.state_tables, plan.inbox, plan.emitter.outbox])
    filled = {name: count for name, count in counts.items() if count}
    if filled:
        listed = ", ".join(f"{name} ({count} rows)" for name, count in sorted(filled.items()))
        raise DatabaseNotEmptyError(
            f"the database already holds {plan.service} state: {listed}; "
            "replay only into an empty database"
        )


class TopicsToEnd:
    """The records of some topics up to the end offsets seen when it started, streamed in
    timestamp order (each partition's own order kept), a partition fetched only when its next
    record is due: memory holds a batch per partition, not the topics."""

    def __init__(self, consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> None:
        self._consumer = consumer
        self._ends = ends
        self.total = 0
        self.end_offsets = {f"{tp.topic}:{tp.partition}": end for tp, end in ends.items()}

    async def records(self) -> AsyncIterator[Record]:
        buffers: dict[TopicPartition, deque[Record]] = {tp: deque() for tp in self._ends}
        heads: list[tuple[int, str, int, TopicPartition]] = []

        async def next_of(tp: TopicPartition) -> None:
            buffer, end = buffers[tp], self._ends[tp]
            while not buffer and await self._consumer.position(tp) < end:
                batch = await self._consumer.getmany(tp, timeout_ms=1000, max_records=500)
                buffer.extend(record for record in batch.get(tp, []) if record.offset < end)
            if buffer:
                head = buffer[0]
                heapq.heappush(heads, (head.timestamp, tp.topic, tp.partition, tp))

        for tp in sorted(buffers):
            await next_of(tp)
        while heads:
            *_, tp = heapq.heappop(heads)
            yield buffers[tp].popleft()
            await next_of(tp)


@asynccontextmanager
async def topics_to_end(
    *, bootstrap: str, topics: Sequence[str], security: Mapping[str, Any]
) -> AsyncIterator[TopicsToEnd]:
    """Assign every partition of ``topics`` by hand (no consumer group joined, no offset
    committed), take their end offsets (read-committed) and start each at its beginning."""
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=None,  # every partition is assigned at start
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        client_id="dealreg-replay",
        **security,
    )
    try:
        await consumer.start()
        partitions = sorted(consumer.assignment())
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        starts: dict[TopicPartition, int] = await consumer.beginning_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        snapshot = TopicsToEnd(consumer, ends)
        snapshot.total = sum(max(ends[tp] - starts[tp], 0) for tp in partitions)
        yield snapshot
    finally:
        await consumer.stop()


async def replay(
    plan: ReplayPlan,
    *,
    database_url: str,
    bootstrap: str,
    topic_prefix: str = "",
    security: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    migrate: Callable[[str, str], None],
) -> ReplaySummary:
    """Rebuild ``plan.service`` into the empty database at ``database_url`` (see the module
    doc). ``migrate(service, url)`` brings the schema to head (``services.migrations``)."""
    engine = create_engine(database_url)
    try:
        await refuse_non_empty(engine, plan)
        await _run_sync(migrate, plan.service, database_url)
        clock = ReplayClock()
        unit = UnitOfWork(
            transactions=TransactionRunner(create_session_factory(engine), None),
            clock=clock,
            inbox=plan.inbox,
            emitter=plan.emitter,
        )
        handlers: dict[str, EventHandler] = {}
        topics: set[str] = set()
        for subscription in plan.subscriptions(unit):
            handlers.update(subscription.handlers())
            topics.update(subscription.topics)
        prefixed = sorted(topic_prefix + topic for topic in topics)
        summary = ReplaySummary(service=plan.service, topics=prefixed)
        async with topics_to_end(
            bootstrap=bootstrap, topics=prefixed, security=security or {}
        ) as snapshot:
            summary.end_offsets = snapshot.end_offsets
            async for record in snapshot.records():
                summary.records += 1
                await _apply(record, handlers, clock, summary, plan)
                if progress is not None:
                    progress(summary.records, snapshot.total)
        summary.outbox_suppressed = await _suppress_outbox(engine, plan.emitter.outbox)
        summary.rows = await state_rows(engine, plan.state_tables)
        return summary
    finally:
        await engine.dispose()


async def _apply(
    record: Record,
    handlers: Mapping[str, EventHandler],
    clock: ReplayClock,
    summary: ReplaySummary,
    plan: ReplayPlan,
) -> None:
    """As the service's consumer would: poison is counted and skipped (it was dead-lettered).
    An event the plan cannot apply yet stops the replay (:class:`UnsupportedHistoryError`)."""
    try:
        envelope: EventEnvelope[Any] = decode_event(record.value, list(record.headers))
        if envelope.type in plan.cannot_apply:
            raise UnsupportedHistoryError(
                f"{plan.service} cannot be rebuilt from these topics yet: "
                f"{record.topic}:{record.partition} at offset {record.offset} holds "
                f"{envelope.type} ({plan.cannot_apply[envelope.type]}), which the replay "
                "cannot apply yet. What was written is partial: drop the database and restore "
                "the service from a backup (docs/operations.md, 'Backups and restore')"
            )
        handler = handlers.get(envelope.type)
        if handler is None:
            summary.ignored += 1
            return
        if envelope.schemaversion > registered_event_types()[envelope.type].schema_version:
            raise UnknownEventError(f"{envelope.type} v{envelope.schemaversion}")
        clock.at = envelope.time
        await handler(envelope)
    except (PoisonEventError, ValidationError, MalformedEventError, UnknownEventError):
        summary.poison += 1
        return
    summary.applied += 1


async def _suppress_outbox(engine: AsyncEngine, outbox: Table) -> int:
    """Mark what the handlers staged as published: those events are on the topics already."""
    async with engine.begin() as connection:
        result = await connection.execute(
            update(outbox)
            .where(outbox.c.published_at.is_(None))
            .values(published_at=datetime.now(UTC))
        )
    return int(result.rowcount)


async def _run_sync(function: Callable[[str, str], None], *args: str) -> None:
    await asyncio.to_thread(function, *args)
