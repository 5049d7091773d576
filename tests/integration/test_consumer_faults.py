"""Consumers against a real broker: bad luck waits at its record, bad data is dead-lettered."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from schemas.envelope import EventEnvelope, encode_event
from schemas.registration import RegistrationSubmitted
from services.kafka.admin import ensure_topics
from services.kafka.consumer import PoisonEventError
from tests.support.consumers import (
    SUBMITTED,
    Broker,
    broker,
    envelope_numbered,
    running,
    wait_until,
)

pytestmark = pytest.mark.integration

OLD_RETRY_BUDGET = 5  # tries before today's consumer gave up and dead-lettered (about 4 s)


@pytest.fixture
async def kafka(kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[Broker]:
    await ensure_topics(kafka_bootstrap, prefix=topic_prefix)
    async with broker(kafka_bootstrap, topic_prefix) as subject:
        yield subject


def database_restarting() -> OperationalError:
    return OperationalError(
        "INSERT INTO inbox ...", {}, ConnectionRefusedError("the database system is starting up")
    )


async def test_a_transient_fault_holds_its_partition_at_the_record_until_it_clears(
    kafka: Broker,
) -> None:
    database_back = asyncio.Event()
    attempts: Counter[str] = Counter()
    handled: list[str] = []

    async def handler(envelope: EventEnvelope[Any]) -> None:
        attempts[envelope.id] += 1
        if envelope.id == "e-1" and not database_back.is_set():
            raise database_restarting()
        handled.append(envelope.id)

    await kafka.send_event(0, envelope_numbered(1))
    await kafka.send_event(0, envelope_numbered(2))
    await kafka.send_event(1, envelope_numbered(3))
    consumer = kafka.consumer({SUBMITTED: handler})
    async with running(consumer):
        await wait_until(lambda: "e-3" in handled and attempts["e-1"] > 2 * OLD_RETRY_BUDGET)
        assert handled == ["e-3"]  # another partition flowed; e-2 waits behind e-1
        paused = consumer.paused_partitions()
        assert list(paused) == [f"{kafka.registrations}:0"]
        assert paused[f"{kafka.registrations}:0"].startswith("OperationalError")
        assert consumer.running

        database_back.set()
        await wait_until(lambda: "e-2" in handled)
        assert consumer.paused_partitions() == {}

    assert handled == ["e-3", "e-1", "e-2"]
    assert await kafka.dead_letters(include_replayed=True) == []
    assert await kafka.committed("test-consumer", 0) == 2
    assert await kafka.committed("test-consumer", 1) == 1


async def test_a_failing_dead_letter_send_is_bad_luck_too(kafka: Broker) -> None:
    """With the dead-letter topic unwritable, a poison record waits instead of being skipped."""
    handled: list[str] = []

    async def handler(envelope: EventEnvelope[Any]) -> None:
        if envelope.id == "e-1":
            raise PoisonEventError("no such registration")
        handled.append(envelope.id)

    await kafka.send_event(0, envelope_numbered(1))
    await kafka.send_event(0, envelope_numbered(2))
    consumer = kafka.consumer({SUBMITTED: handler})
    await kafka.publisher.stop()  # the dead-letter producer is down
    async with running(consumer):
        await wait_until(lambda: bool(consumer.paused_partitions()))
        assert handled == []
        await kafka.publisher.start()
        await wait_until(lambda: handled == ["e-2"])

    assert [letter.header("ce_id") for letter in await kafka.dead_letters()] == ["e-1"]


async def test_bad_data_goes_to_dead_letters_and_its_partition_moves_on(kafka: Broker) -> None:
    handled: list[str] = []
    _key, good_value, good_headers = encode_event(envelope_numbered(90))
    newer_version = [
        (name, b"99" if name == "ce_schemaversion" else value) for name, value in good_headers
    ]
    await kafka.send(0, b"{not json", [("ce_type", SUBMITTED.encode()), ("ce_id", b"bad-json")])
    await kafka.send(0, json.dumps({"registration_id": "r-x"}).encode(), good_headers)
    await kafka.send(0, b"\x00\xffgarbage", [])
    await kafka.send(0, good_value, newer_version)
    await kafka.send_event(0, envelope_numbered(5))
    await kafka.send_event(0, envelope_numbered(6))
    await kafka.send(0, b"{}", [("ce_type", b"dealreg.someone.elses"), ("ce_id", b"ignored-1")])
    await kafka.send(
        0, b"{not json", [("ce_type", b"dealreg.registration.withdrawn"), ("ce_id", b"ignored-2")]
    )
    await kafka.send_event(0, envelope_numbered(7))

    async def handler(envelope: EventEnvelope[Any]) -> None:
        if envelope.id == "e-5":
            raise PoisonEventError("no such registration")
        if envelope.id == "e-6":
            RegistrationSubmitted.model_validate({"registration_id": "incomplete"})
        handled.append(envelope.id)

    consumer = kafka.consumer({SUBMITTED: handler})
    async with running(consumer):
        await wait_until(lambda: handled == ["e-7"])
        assert consumer.paused_partitions() == {}

    letters = await kafka.dead_letters()
    assert [(letter.header("dlq_offset"), letter.reason.split(":")[0]) for letter in letters] == [
        ("0", "MalformedEventError"),
        ("1", "MalformedEventError"),
        ("2", "UnknownEventError"),
        ("3", "UnsupportedVersionError"),
        ("4", "PoisonEventError"),
        ("5", "ValidationError"),
    ]
    for letter in letters:
        assert letter.consumer == "test-consumer"
        assert letter.source_topic == kafka.registrations
        assert letter.header("dlq_partition") == "0"
        assert letter.header("dlq_time") is not None
        assert letter.key == b"d:acme.com"
    assert "v99" in letters[3].reason
    assert await kafka.committed("test-consumer", 0) == 9


async def test_a_rebalance_hands_a_waiting_partition_over_without_skipping_its_record(
    kafka: Broker,
) -> None:
    database_back = asyncio.Event()
    attempts: Counter[str] = Counter()
    handled: list[str] = []

    async def handler(envelope: EventEnvelope[Any]) -> None:
        attempts[envelope.id] += 1
        if envelope.id == "e-1" and not database_back.is_set():
            raise database_restarting()
        handled.append(envelope.id)

    await kafka.send_event(0, envelope_numbered(1))
    await kafka.send_event(0, envelope_numbered(2))
    waiting = f"{kafka.registrations}:0"
    # The broker names members after their client id, and partition 0 goes to the first name.
    first = kafka.consumer({SUBMITTED: handler}, client_id="z-first")
    second = kafka.consumer({SUBMITTED: handler}, client_id="a-second")
    async with running(first):
        await wait_until(lambda: waiting in first.paused_partitions())
        async with running(second):

            def handed_over() -> bool:
                return (
                    waiting in second.paused_partitions()
                    and len(first.assigned_partitions() | second.assigned_partitions()) == 12
                )

            await wait_until(handed_over)
            assert waiting not in first.assigned_partitions()
            assert first.paused_partitions() == {}  # the revoked partition's wait went with it
            assert handled == []
            database_back.set()
            await wait_until(lambda: "e-2" in handled)
            assert first.running

    assert handled == ["e-1", "e-2"]
    assert await kafka.committed("test-consumer", 0) == 2
