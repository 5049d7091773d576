"""The chaos run's own instruments against a real broker: a checker that misreads the history
would pass a run that lost registrations (or fail one that did not)."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer

from services.kafka.admin import ensure_topics
from tests.chaos.history import event_count

pytestmark = pytest.mark.integration


async def test_event_count_sums_every_record_on_the_runs_topics(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    """The quiet wait compares two counts; a count stuck at 0 made it declare the system quiet
    while waitlist promotions were still being written (chaos seed 6)."""
    await ensure_topics(kafka_bootstrap, prefix=topic_prefix)
    before = await event_count(kafka_bootstrap, topic_prefix)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for index in range(7):
            await producer.send_and_wait(
                f"{topic_prefix}dealreg.registrations", b"{}", key=f"k{index}".encode()
            )
    finally:
        await producer.stop()

    assert before == 0
    assert await event_count(kafka_bootstrap, topic_prefix) == 7
