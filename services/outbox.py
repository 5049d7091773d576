"""The transactional outbox: events commit with the state change that caused them.

A handler calls :func:`stage_events` inside its transaction. After commit, the
:class:`OutboxRelay` publishes pending rows in id order and marks them published. A crash
between the broker's acknowledgement and the mark republishes the same event (same id) by
design: consumers deduplicate through their inbox.

Only one relay is active per service database: on PostgreSQL it holds an advisory lock for as
long as it runs; SQLite is single-process (the embedded development mode).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

import structlog
from sqlalchemy import Row, Table, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from schemas.envelope import EventEnvelope, registered_event_types
from schemas.topics import topic_for
from services.clock import Clock
from services.metrics import OUTBOX_PUBLISHED

log = structlog.get_logger(__name__)

# Any fixed number works; it only has to be the same for every relay of one database.
_RELAY_LOCK_ID = 727_001


class EventPublisher(Protocol):
    """Publishes envelopes to one topic and returns once the broker acknowledged all of them."""

    async def publish(self, topic: str, envelopes: Sequence[EventEnvelope[Any]]) -> None: ...


async def stage_events(
    session: AsyncSession, outbox: Table, envelopes: Iterable[EventEnvelope[Any]], *, now: datetime
) -> None:
    """Add events to the outbox in the caller's transaction (nothing is sent yet)."""
    rows = [
        {
            "event_id": envelope.id,
            "topic": topic_for(type(envelope.data)).name,
            "event_type": envelope.type,
            "partition_key": envelope.partitionkey,
            "envelope": envelope.model_dump(mode="json"),
            "created_at": now,
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
            try:
                while True:
                    published = await self.relay_once()
                    if published < self._batch_size:
                        await self._sleep_until_woken()
            finally:
                self.running = False

    async def relay_once(self) -> int:
        """Publish one batch of pending events; returns how many were published.

        No transaction stays open while the broker is asked: on SQLite it would hold the
        database's write lock, and every request would wait on the broker. The batch is read,
        sent, then marked; only this relay marks rows, so nothing changes them in between.
        """
        async with self._engine.begin() as connection:
            rows = (
                await connection.execute(
                    select(self._outbox)
                    .where(self._outbox.c.published_at.is_(None))
                    .order_by(self._outbox.c.id)
                    .limit(self._batch_size)
                )
            ).all()
        if not rows:
            return 0
        by_topic: dict[str, list[EventEnvelope[Any]]] = defaultdict(list)
        for row in rows:
            by_topic[row.topic].append(envelope_from_row(row))
        for topic, envelopes in by_topic.items():
            await self._publisher.publish(topic, envelopes)
            OUTBOX_PUBLISHED.labels(topic=topic).inc(len(envelopes))
        async with self._engine.begin() as connection:
            await connection.execute(
                update(self._outbox)
                .where(self._outbox.c.id.in_([row.id for row in rows]))
                .values(published_at=self._clock.now())
            )
        return len(rows)

    async def _sleep_until_woken(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), timeout=self._poll_interval)
        self.wake.clear()

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
