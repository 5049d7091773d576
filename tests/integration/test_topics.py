"""Topics as the services create them: replicated as the settings say, forever topics kept."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas.topics import DEAD_LETTERS, DECISIONS, REGISTRATIONS, TOPICS
from services.kafka.admin import describe_topic_configs, ensure_topics

pytestmark = pytest.mark.integration
FOREVER = (REGISTRATIONS, DECISIONS)


@pytest.fixture
async def admin(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await client.start()
    yield client
    await client.close()


async def configs(admin: AIOKafkaAdminClient, prefix: str) -> dict[str, dict[str, str]]:
    named = await describe_topic_configs(admin, [prefix + spec.name for spec in TOPICS])
    return {name.removeprefix(prefix): config for name, config in named.items()}


async def test_forever_topics_keep_everything_and_require_the_configured_in_sync_replicas(
    kafka_bootstrap: str, topic_prefix: str, admin: AIOKafkaAdminClient
) -> None:
    created = await ensure_topics(kafka_bootstrap, prefix=topic_prefix, min_insync_replicas=2)

    assert sorted(created) == sorted(topic_prefix + spec.name for spec in TOPICS)
    topics = await configs(admin, topic_prefix)
    for spec in FOREVER:
        assert topics[spec.name]["retention.ms"] == "-1"
        assert topics[spec.name]["retention.bytes"] == "-1"
    assert {config["min.insync.replicas"] for config in topics.values()} == {"2"}
    assert topics[DEAD_LETTERS.name]["retention.ms"] == str(30 * 24 * 3600 * 1000)


async def test_a_forever_topic_created_with_limits_is_put_back_to_forever(
    kafka_bootstrap: str, topic_prefix: str, admin: AIOKafkaAdminClient
) -> None:
    limited = {"retention.ms": "86400000", "retention.bytes": "268435456"}
    await admin.create_topics(
        [NewTopic(topic_prefix + REGISTRATIONS.name, 12, 1, topic_configs=limited)]
    )

    created = await ensure_topics(kafka_bootstrap, prefix=topic_prefix)

    assert topic_prefix + REGISTRATIONS.name not in created
    registrations = (await configs(admin, topic_prefix))[REGISTRATIONS.name]
    assert registrations["retention.ms"] == "-1"
    assert registrations["retention.bytes"] == "-1"
    assert registrations["min.insync.replicas"] == "1"


async def test_the_replication_factor_comes_from_the_settings(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    with pytest.raises(RuntimeError, match="error 38"):  # INVALID_REPLICATION_FACTOR
        await ensure_topics(kafka_bootstrap, prefix=topic_prefix, replication_factor=3)
