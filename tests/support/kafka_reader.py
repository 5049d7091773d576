"""Read a topic from the beginning, for tests that count what was really published."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer

from schemas.envelope import EventEnvelope, decode_event


async def read_all(
    bootstrap: str, topic: str, *, idle_seconds: float = 1.5
) -> list[EventEnvelope[Any]]:
    """Every event on ``topic`` until it stays quiet for ``idle_seconds``."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"reader-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    events: list[EventEnvelope[Any]] = []
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=int(idle_seconds * 1000))
            if not batches:
                return events
            for records in batches.values():
                events.extend(decode_event(r.value, list(r.headers)) for r in records)
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
