"""Consumer lag per group: each partition's end offset less the group's committed offset.

Only groups of this deployment count: those with the topic prefix whose committed offsets are
on the declared topics. A partition the group never committed counts from its start (its
whole log is lag).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from schemas.topics import TOPICS


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return max(0, self.end - self.committed)


@dataclass(frozen=True)
class GroupLag:
    group: str
    partitions: tuple[PartitionLag, ...]

    @property
    def total(self) -> int:
        return sum(partition.lag for partition in self.partitions)

    def as_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "lag": self.total,
            "partitions": [
                {
                    "topic": p.topic,
                    "partition": p.partition,
                    "committed": p.committed,
                    "end": p.end,
                    "lag": p.lag,
                }
                for p in self.partitions
            ],
        }


async def consumer_lag(
    bootstrap_servers: str, *, topic_prefix: str, security: Mapping[str, Any] | None = None
) -> list[GroupLag]:
    """Lag of every consumer group of this deployment, by group name."""
    ours = {topic_prefix + spec.name for spec in TOPICS}
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, client_id="dealreg-cli-lag", **(security or {})
    )
    await admin.start()
    try:
        listed = {str(entry[0]) for entry in await admin.list_consumer_groups()}
        groups = sorted(group for group in listed if group.startswith(topic_prefix))
        committed: dict[str, dict[TopicPartition, int]] = {}
        for group in groups:
            offsets = await admin.list_consumer_group_offsets(group)
            mine = {tp: meta.offset for tp, meta in offsets.items() if tp.topic in ours}
            if mine:
                committed[group] = mine
    finally:
        await admin.close()
    if not committed:
        return []
    ends = await _end_offsets(
        bootstrap_servers,
        {tp.topic for offsets in committed.values() for tp in offsets},
        security=security,
    )
    return [
        GroupLag(
            group,
            tuple(
                PartitionLag(tp.topic, tp.partition, max(offsets.get(tp, 0), 0), end)
                for tp, end in sorted(ends.items())
                if tp.topic in {t.topic for t in offsets}
            ),
        )
        for group, offsets in committed.items()
    ]


async def _end_offsets(
    bootstrap_servers: str, topics: set[str], *, security: Mapping[str, Any] | None
) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, group_id=None, **(security or {})
    )
    await consumer.start()
    try:
        await consumer.topics()  # loads the metadata of every topic
        partitions = [
            TopicPartition(topic, partition)
            for topic in sorted(topics)
            for partition in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return ends
    finally:
        await consumer.stop()
