"""Consumer lag per partition on /metrics, and static group membership across a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.exc import OperationalError

from schemas.envelope import EventEnvelope
from services.kafka.admin import ensure_topics
from services.kafka.consumer import KafkaEventConsumer
from tests.support.consumers import (
    SUBMITTED,
    Broker,
    broker,
    envelope_numbered,
    running,
    wait_until,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def kafka(kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[Broker]:
    await ensure_topics(kafka_bootstrap, prefix=topic_prefix)
    async with broker(kafka_bootstrap, topic_prefix) as subject:
        yield subject


def lag(kafka: Broker, partition: int, group: str = "test-consumer") -> float | None:
    return REGISTRY.get_sample_value(
        "dealreg_consumer_lag_records",
        {"consumer": group, "topic": kafka.registrations, "partition": str(partition)},
    )


async def test_lag_per_partition_counts_the_records_behind_a_waiting_partition(
    kafka: Broker,
) -> None:
    database_back = asyncio.Event()

    async def handler(envelope: EventEnvelope[Any]) -> None:
        if envelope.id == "e-3" and not database_back.is_set():
            raise OperationalError("INSERT ...", {}, ConnectionRefusedError("starting up"))

    for number in range(1, 6):
        await kafka.send_event(0, envelope_numbered(number))
    await kafka.send_event(1, envelope_numbered(6))
    consumer = kafka.consumer({SUBMITTED: handler})
    async with running(consumer):
        # e-1 and e-2 are processed; the partition waits at e-3 (offset 2) with 3 records left.
        await wait_until(lambda: lag(kafka, 0) == 3 and lag(kafka, 1) == 0)
        database_back.set()
        await wait_until(lambda: lag(kafka, 0) == 0)
    assert lag(kafka, 0) is None  # a stopped member reports no partition it no longer owns


def member(
    kafka: Broker, instance: str | None, revoked: list[str], name: str
) -> KafkaEventConsumer:
    consumer = KafkaEventConsumer(
        group_id="static-group",
        topics=[kafka.registrations.removeprefix(kafka.prefix)],
        handlers={},
        bootstrap_servers=kafka.bootstrap,
        dead_letters=kafka.publisher,
        topic_prefix=kafka.prefix,
        group_instance_id=instance,
    )
    original = consumer.partitions_revoked

    async def counting(partitions: set[Any]) -> None:
        if partitions:
            revoked.append(name)
        await original(partitions)

    consumer.partitions_revoked = counting  # type: ignore[method-assign,assignment]
    return consumer


async def rebalances_seen_by_b_when_a_restarts(kafka: Broker, *, static: bool) -> list[str]:
    revoked: list[str] = []
    b = member(kafka, "pod-b" if static else None, revoked, "b")
    async with running(b):
        async with running(member(kafka, "pod-a" if static else None, revoked, "a")) as a:
            await wait_until(
                lambda: (
                    len(a.assigned_partitions()) + len(b.assigned_partitions()) == 12
                    and bool(a.assigned_partitions())
                    and bool(b.assigned_partitions())
                ),
                within=60,
            )
            await asyncio.sleep(1)
            revoked.clear()
        # a stopped; a pod of the same name comes back at once (a rolling restart)
        async with running(member(kafka, "pod-a" if static else None, revoked, "a")) as again:
            await wait_until(lambda: len(again.assigned_partitions()) > 0, within=60)
            await asyncio.sleep(1)
        return [name for name in revoked if name == "b"]


async def test_static_members_restart_without_taking_partitions_from_the_others(
    kafka: Broker,
) -> None:
    assert await rebalances_seen_by_b_when_a_restarts(kafka, static=True) == []


async def test_dynamic_members_rebalance_the_group_on_a_restart(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    """The control: without instance ids the same restart takes b's partitions away."""
    await ensure_topics(kafka_bootstrap, prefix=topic_prefix)
    async with broker(kafka_bootstrap, topic_prefix) as kafka:
        assert await rebalances_seen_by_b_when_a_restarts(kafka, static=False) != []
