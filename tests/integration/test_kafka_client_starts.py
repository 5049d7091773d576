"""A service stopped while its Kafka clients connect leaves no connection behind.

aiokafka loses the connection it bootstraps through when a cancellation lands while that
connection waits for the cluster's metadata; the connection then outlives the event loop (a
``ResourceWarning`` in whatever test runs next, a leaked socket in a service that restarts its
consumers). Each test cancels a client's start at exactly that moment.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiokafka.client
import pytest
from aiokafka.conn import AIOKafkaConnection

from schemas.topics import REGISTRATIONS
from services.kafka.admin import ensure_topics
from services.kafka.consumer import KafkaEventConsumer
from services.kafka.producer import KafkaEventPublisher

pytestmark = pytest.mark.integration


async def cancelled_while_bootstrapping(
    start: Callable[[], Awaitable[object]], monkeypatch: pytest.MonkeyPatch
) -> list[AIOKafkaConnection]:
    """Run ``start`` in a task cancelled the moment its first connection opens; return every
    connection it opened."""
    opened: list[AIOKafkaConnection] = []
    create_conn = aiokafka.client.create_conn
    starting: asyncio.Future[object] | None = None

    async def open_then_cancel(*args: object, **kwargs: object) -> AIOKafkaConnection:
        conn = await create_conn(*args, **kwargs)
        opened.append(conn)
        if len(opened) == 1 and starting is not None:
            starting.cancel()
        return conn

    monkeypatch.setattr(aiokafka.client, "create_conn", open_then_cancel)
    starting = asyncio.ensure_future(start())
    with pytest.raises(asyncio.CancelledError):
        await starting
    assert opened, "the client never connected"
    return opened


def still_open(connections: list[AIOKafkaConnection]) -> list[AIOKafkaConnection]:
    return [conn for conn in connections if conn.connected()]


async def test_the_publisher(kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> None:
    publisher = KafkaEventPublisher(bootstrap_servers=kafka_bootstrap, client_id="t-start")

    opened = await cancelled_while_bootstrapping(publisher.start, monkeypatch)

    assert still_open(opened) == []


async def test_a_consumer(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ensure_topics(kafka_bootstrap, prefix=topic_prefix)
    consumer = KafkaEventConsumer(
        bootstrap_servers=kafka_bootstrap,
        group_id="t-start",
        topics=[REGISTRATIONS.name],
        handlers={},
        topic_prefix=topic_prefix,
        dead_letters=KafkaEventPublisher(bootstrap_servers=kafka_bootstrap, client_id="t-dlq"),
    )

    opened = await cancelled_while_bootstrapping(consumer.run, monkeypatch)

    assert still_open(opened) == []


async def test_topic_creation(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def create() -> object:
        return await ensure_topics(kafka_bootstrap, prefix=topic_prefix)

    opened = await cancelled_while_bootstrapping(create, monkeypatch)

    assert still_open(opened) == []
