"""Working the dead-letter topic on a real broker: list, show, replay, and the command line."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.envelope import EventEnvelope, encode_event
from schemas.topics import DEAD_LETTERS
from services.kafka.admin import ensure_topics
from services.kafka.consumer import PoisonEventError
from services.kafka.dead_letters import (
    DeadLetter,
    read_topic,
    replay_dead_letters,
    show_dead_letter,
)
from services.kafka.dead_letters_cli import main
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


async def dead_letters_of(kafka: Broker, consumer: str) -> list[DeadLetter]:
    """The dead letters of ``consumer`` once there are some (the consumer runs meanwhile)."""
    for _ in range(300):
        letters = await kafka.dead_letters(consumer=consumer)
        if letters:
            return letters
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{consumer} dead-lettered nothing")


async def test_a_dead_letter_replayed_after_the_fix_is_processed_and_not_replayed_twice(
    kafka: Broker,
) -> None:
    fixed = asyncio.Event()
    handled: list[str] = []

    async def handler(envelope: EventEnvelope[Any]) -> None:
        if not fixed.is_set():
            raise PoisonEventError(f"unknown registration {envelope.subject}")
        handled.append(envelope.id)

    await kafka.send_event(0, envelope_numbered(1))
    consumer = kafka.consumer({SUBMITTED: handler}, group_id="resolver-test")
    async with running(consumer):
        [letter] = await dead_letters_of(kafka, "resolver-test")
        assert letter.reason == "PoisonEventError: unknown registration r-1"
        assert await kafka.dead_letters(consumer="someone-else") == []
        assert await kafka.dead_letters(reason="UNKNOWN REGISTRATION") == [letter]
        shown = await show_dead_letter(
            kafka.bootstrap, topic_prefix=kafka.prefix, coordinates=letter.coordinates
        )
        assert shown is not None
        assert shown.details()["envelope"]["id"] == "e-1"

        fixed.set()
        replays = await replay_dead_letters(
            kafka.bootstrap, topic_prefix=kafka.prefix, letters=[letter]
        )
        assert [replay.outcome for replay in replays] == ["replayed"]
        await wait_until(lambda: handled == ["e-1"])

        replayed = await kafka.dead_letters(include_replayed=True)
        assert [each.replayed for each in replayed] == [True]
        again = await replay_dead_letters(
            kafka.bootstrap, topic_prefix=kafka.prefix, letters=replayed
        )
        assert [replay.outcome for replay in again] == ["already_replayed"]

    assert await kafka.dead_letters() == []
    assert handled == ["e-1"]
    [original, republished] = await read_topic(kafka.bootstrap, kafka.registrations)
    assert republished.key == original.key
    assert republished.headers == original.headers  # no dlq_* headers, the same event id


async def seed(kafka: Broker, number: int, *, consumer: str, reason: str) -> None:
    key, value, headers = encode_event(envelope_numbered(number))
    await kafka.publisher.send_raw(
        DEAD_LETTERS.name,
        key=key,
        value=value,
        headers=[
            *headers,
            ("dlq_reason", reason.encode()),
            ("dlq_consumer", consumer.encode()),
            ("dlq_topic", kafka.registrations.encode()),
            ("dlq_partition", b"0"),
            ("dlq_offset", str(number).encode()),
        ],
    )


async def cli(kafka: Broker, *args: str) -> int:
    return await asyncio.to_thread(
        main, [*args, "--bootstrap", kafka.bootstrap, "--prefix", kafka.prefix]
    )


async def test_the_command_line_lists_shows_and_replays_with_exit_codes(
    kafka: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed(kafka, 1, consumer="crm_sync.approvals", reason="PoisonEventError: bad amount")
    await seed(kafka, 2, consumer="conflict_resolver", reason="MalformedEventError: not json")
    capsys.readouterr()

    assert await cli(kafka, "list", "--json", "--consumer", "crm_sync.approvals") == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["event_id"], listed["reason"]) == ("e-1", "PoisonEventError: bad amount")
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert await cli(kafka, "list", "--since", tomorrow) == 1
    assert await cli(kafka, "show", listed["coordinates"], "--json") == 0
    assert json.loads(capsys.readouterr().out)["envelope"]["id"] == "e-1"

    assert await cli(kafka, "replay", "--reason", "not json", "--json") == 0
    [replay] = json.loads(capsys.readouterr().out)
    assert replay["outcome"] == "replayed"
    assert await cli(kafka, "replay", replay["coordinates"]) == 1  # not twice by accident
    assert "already_replayed" in capsys.readouterr().out
    assert await cli(kafka, "list", "--json") == 0
    assert [row["event_id"] for row in json.loads(capsys.readouterr().out)] == ["e-1"]

    no_topic = ["list", "--bootstrap", kafka.bootstrap, "--prefix", "no-such-stack."]
    assert await asyncio.to_thread(main, no_topic) == 1
    assert "no topic" in capsys.readouterr().err

    for usage_error in (["replay"], ["show", "nowhere"], ["list", "--since", "yesterday"]):
        with pytest.raises(SystemExit) as exited:
            await cli(kafka, *usage_error)
        assert exited.value.code == 2
