"""The transactional outbox: events commit with the state change that caused them.

A handler calls :func:`stage_events` inside its transaction. After commit, the
:class:`OutboxRelay` publishes pending rows in id order and marks them published. A crash
between the broker's acknowledgement and the mark republishes the same event (same id) by
design: consumers deduplicate through their inbox. No transaction stays open while the relay
waits for the broker.

Only one relay is active per service database: on PostgreSQL it holds an advisory lock for as
long as it runs; SQLite is single-process (the embedded development mode).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

import structlog
from sqlalchemy import Row, Table, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from schemas.envelope import EventEnvelope, registered_event_types
from schemas.topics import topic_for
from services.clock import Clock
from services.db import read_only_connection
from services.metrics import OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE, OUTBOX_PUBLISHED
from services.polling import poll
from services.tracing import current_traceparent

log = structlog.get_logger(__name__)

# Any fixed number works; it only has to be the same for every relay of one database.
_RELAY_LOCK_ID = 727_001


class EventPublisher(Protocol):
    """Publishes envelopes to one topic and returns once the broker acknowledged all of them."""

    async def publish(
        self,
        topic: str,
        envelopes: Sequence[EventEnvelope[Any]],
        *,
        traceparents: Sequence[str | None] = (),
    ) -> None:
        """``traceparents``: per envelope, the W3C trace context its record carries (the
        staging transaction's, from the outbox row)."""
        ...


async def stage_events(
    session: AsyncSession, outbox: Table, envelopes: Iterable[EventEnvelope[Any]], *, now: datetime
) -> None:
    """Add events to the outbox in the caller's transaction (nothing is sent yet), with the
    active span's trace context, which the relay writes into the Kafka records."""
    traceparent = current_traceparent()
    rows = [
        {
            "event_id": envelope.id,
            "topic": topic_for(type(envelope.data)).name,
            "event_type": envelope.type,
            "partition_key": envelope.partitionkey,
            "envelope": envelope.model_dump(mode="json"),
            "created_at": now,
            "traceparent": traceparent,
        }
        for envelope in envelopes
    ]
    if rows:
        await session.execute(outbox.insert(), rows)
        session.info[STAGED] = True


# Set on a session that staged events, so only those transactions wake the relay.
STAGED = "dealreg_outbox_staged"


def envelope_from_row(row: Row[Any]) -> EventEnvelope[Any]:
    """Rebuild the typed envelope stored in an outbox row."""
    payload_type = registered_event_types()[row.event_type]
    return EventEnvelope[payload_type].model_validate(row.envelope)  # type: ignore[valid-type]


class OutboxRelay:
    """Moves committed outbox rows to Kafka, oldest first, and marks them published."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        outbox: Table,
        publisher: EventPublisher,
        clock: Clock,
        poll_interval_seconds: float,
        batch_size: int,
    ) -> None:
        self._engine = engine
        self._outbox = outbox
        self._publisher = publisher
        self._clock = clock
        self._poll_interval = poll_interval_seconds
        self._batch_size = batch_size
        self.wake = asyncio.Event()
        self.running = False

    async def run(self) -> None:
        """Relay until cancelled. Waits for the relay lock first (PostgreSQL)."""
        async with self._engine.connect() as lock_connection:
            await self._acquire_relay_lock(lock_connection)
            self.running = True

            async def step() -> bool:
                await self._confirm_relay_lock(lock_connection)
                return await self.relay_once() >= self._batch_size  # a full batch: more wait

            try:
                await poll(step, idle_seconds=self._poll_interval, wake=self.wake)
            finally:
                self.running = False

    async def relay_once(self) -> int:
        """Publish one batch of pending events; returns how many were published.

        Three steps, so no transaction is open while Kafka is slow or away (on SQLite an open
        transaction holds the one write lock, and every API write would queue behind the send):
        read a batch, publish it, mark it published. A crash between the last two republishes
        the batch with the same event ids, which consumers' inboxes drop.
        """
        rows = await self._pending_batch()
        await self._record_backlog(rows)
        if not rows:
            return 0
        by_topic: dict[str, list[EventEnvelope[Any]]] = defaultdict(list)
        traceparents: dict[str, list[str | None]] = defaultdict(list)
        for row in rows:
            by_topic[row.topic].append(envelope_from_row(row))
            traceparents[row.topic].append(row.traceparent)
        for topic, envelopes in by_topic.items():
            await self._publisher.publish(topic, envelopes, traceparents=traceparents[topic])
            OUTBOX_PUBLISHED.labels(topic=topic).inc(len(envelopes))
        async with self._engine.begin() as connection:
            await connection.execute(
                update(self._outbox)
                .where(self._outbox.c.id.in_([row.id for row in rows]))
                .values(published_at=self._clock.now())
            )
        return len(rows)

    async def _pending_batch(self) -> Sequence[Row[Any]]:
        async with read_only_connection(self._engine) as connection:
            rows = (
                await connection.execute(
                    select(self._outbox)
                    .where(self._outbox.c.published_at.is_(None))
                    .order_by(self._outbox.c.id)
                    .limit(self._batch_size)
                )
            ).all()
            await connection.rollback()
        return rows

    async def _record_backlog(self, rows: Sequence[Row[Any]]) -> None:
        """The backlog and oldest-age gauges, from the batch just read (counted past a batch)."""
        backlog = len(rows)
        if backlog >= self._batch_size:
            async with read_only_connection(self._engine) as connection:
                backlog = (
                    await connection.execute(
                        select(func.count())
                        .select_from(self._outbox)
                        .where(self._outbox.c.published_at.is_(None))
                    )
                ).scalar_one()
                await connection.rollback()
        OUTBOX_BACKLOG.set(backlog)
        oldest = min((row.created_at for row in rows), default=None)
        age = (self._clock.now() - oldest).total_seconds() if oldest is not None else 0.0
        OUTBOX_OLDEST_AGE.set(max(age, 0.0))

    async def _confirm_relay_lock(self, connection: AsyncConnection) -> None:
        """Fail (so the supervisor restarts the relay and it locks again) if the connection
        holding the lock died: a PostgreSQL restart releases the lock with the session."""
        if connection.dialect.name == "postgresql":
            await connection.execute(text("SELECT 1"))
            await connection.commit()

    async def _acquire_relay_lock(self, connection: AsyncConnection) -> None:
        if connection.dialect.name != "postgresql":
            return
        while True:
            locked = (
                await connection.execute(
                    text("SELECT pg_try_advisory_lock(:id)"), {"id": _RELAY_LOCK_ID}
                )
            ).scalar_one()
            await connection.commit()
            if locked:
                return
            log.info("outbox relay standing by: another relay holds the lock")
            await asyncio.sleep(self._poll_interval * 5)
