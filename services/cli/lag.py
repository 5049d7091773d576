"""Consumer lag per group: each partition's end offset less the group's committed offset.

Only groups of this deployment count: those with the topic prefix whose committed offsets are
on the declared topics. A partition the group never committed counts from its start (its
whole log is lag); a group that committed nothing yet is listed with no lag figure (which
topics it reads is not known until it commits).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from schemas.topics import TOPICS
from services.kafka.clients import start_or_stop

# The services name their groups after themselves (e.g. ``crm_sync.mirror``).
_SERVICE_GROUPS = ("deal_registration.", "conflict_resolver.", "crm_sync.")


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
    def total(self) -> int | None:
        if not self.partitions:
            return None  # nothing committed yet
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
    await start_or_stop(admin.start, admin.close)
    try:
        listed = {str(entry[0]) for entry in await admin.list_consumer_groups()}
        groups = sorted(group for group in listed if group.startswith(topic_prefix))
        committed: dict[str, dict[TopicPartition, int]] = {}
        for group in groups:
            offsets = await admin.list_consumer_group_offsets(group)
            mine = {tp: meta.offset for tp, meta in offsets.items() if tp.topic in ours}
            if mine or group.removeprefix(topic_prefix).startswith(_SERVICE_GROUPS):
                committed[group] = mine
        read = sorted({tp.topic for offsets in committed.values() for tp in offsets})
        described = await admin.describe_topics(read) if read else []
    finally:
        await admin.close()
    partitions = [
        TopicPartition(str(topic["topic"]), int(partition["partition"]))
        for topic in described
        for partition in topic["partitions"]
    ]
    ends = await _end_offsets(bootstrap_servers, partitions, security=security)
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
    bootstrap_servers: str,
    partitions: list[TopicPartition],
    *,
    security: Mapping[str, Any] | None,
) -> dict[TopicPartition, int]:
    if not partitions:
        return {}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, group_id=None, **(security or {})
    )
    await consumer.start()
    try:
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return ends
    finally:
        await consumer.stop()
