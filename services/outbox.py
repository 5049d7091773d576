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
from sqlalchemy import Row, Table, bindparam, func, select, text, update
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
    if not rows:
        return
    deferred: list[tuple[Table, list[dict[str, Any]]]] | None = session.info.get(DEFERRED)
    if deferred is None:
        await session.execute(outbox.insert(), rows)
    else:
        deferred.append((outbox, rows))
    session.info[STAGED] = True


# Set on a session that staged events, so only those transactions wake the relay.
STAGED = "dealreg_outbox_staged"
# Set (to a list) on a session whose staged events are written together, in the order they were
# staged, by ``write_deferred`` before it commits (a batch of consumed events: one statement
# instead of one per event). Nothing reads the outbox in the transaction that stages it.
DEFERRED = "dealreg_outbox_deferred"


def defer_staging(session: AsyncSession) -> None:
    """Hold this transaction's staged events until ``write_deferred``."""
    session.info.setdefault(DEFERRED, [])


async def write_deferred(session: AsyncSession) -> None:
    """Write the events staged since ``defer_staging``, in staging order (one statement a
    table), and stage directly again."""
    deferred: list[tuple[Table, list[dict[str, Any]]]] = session.info.pop(DEFERRED, [])
    by_table: dict[Table, list[dict[str, Any]]] = {}
    for outbox, rows in deferred:
        by_table.setdefault(outbox, []).extend(rows)
    for outbox, rows in by_table.items():
        await session.execute(outbox.insert(), rows)


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
        # Built once: the relay runs them after nearly every registration under load, and a
        # statement built per batch is coerced and its cache key computed each time.
        self._pending = (
            select(outbox)
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.id)
            .limit(batch_size)
        )
        self._mark = (
            update(outbox)
            .where(outbox.c.id.in_(bindparam("ids", expanding=True)))
            .values(published_at=bindparam("published_at"))
        )
        self.wake = asyncio.Event()
        self.running = False

    async def run(self) -> None:
        """Relay until cancelled. Waits for the relay lock first (PostgreSQL).

        On PostgreSQL every step runs on the connection that holds the lock, in autocommit:
        reading a batch is one round trip and marking it one more, where a pooled connection
        cost a pre-ping, a BEGIN and a COMMIT or ROLLBACK around each, plus a ``SELECT 1`` to
        confirm the lock. On a busy host each round trip waits for two processes to be
        scheduled, and a relay step sits on every event's way to the partner (twice: the
        submission and the decision). A statement on the lock's own session also proves the
        lock is still held: if that session died (a PostgreSQL restart releases the lock with
        it), the statement fails, the step raises, and the supervisor restarts the relay, which
        locks again before it publishes.
        """
        async with self._engine.connect() as lock_connection:
            await self._acquire_relay_lock(lock_connection)
            own: AsyncConnection | None = None
            if lock_connection.dialect.name == "postgresql":
                own = await lock_connection.execution_options(isolation_level="AUTOCOMMIT")
            self.running = True

            async def step() -> bool:
                return await self.relay_once(own) >= self._batch_size  # a full batch: more wait

            try:
                await poll(step, idle_seconds=self._poll_interval, wake=self.wake)
            finally:
                self.running = False

    async def relay_once(self, connection: AsyncConnection | None = None) -> int:
        """Publish one batch of pending events; returns how many were published.

        Three steps, so no transaction is open while Kafka is slow or away (on SQLite an open
        transaction holds the one write lock, and every API write would queue behind the send):
        read a batch, publish it, mark it published. A crash between the last two republishes
        the batch with the same event ids, which consumers' inboxes drop.

        ``connection``: an autocommit connection to read and mark through (PostgreSQL: the
        relay lock's, see :meth:`run`); without one, a pooled connection for each step.
        """
        rows = await self._pending_batch(connection)
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
        published = {"ids": [row.id for row in rows], "published_at": self._clock.now()}
        if connection is not None:
            await connection.execute(self._mark, published)  # one statement: atomic in autocommit
        else:
            async with self._engine.begin() as pooled:
                await pooled.execute(self._mark, published)
        return len(rows)

    async def _pending_batch(self, connection: AsyncConnection | None) -> Sequence[Row[Any]]:
        if connection is not None:
            return (await connection.execute(self._pending)).all()
        async with read_only_connection(self._engine) as pooled:
            rows = (await pooled.execute(self._pending)).all()
            await pooled.rollback()
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
