"""What really happened, read back from Kafka: every event on every topic from the beginning,
the dead letters with their reasons, how far behind each consumer group is, and how the topics
are replicated.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from schemas.topics import CRM, DEAD_LETTERS, DECISIONS, PRINCIPALS, REGISTRATIONS


@dataclass(frozen=True)
class Event:
    """One record as the checks need it: the envelope's attributes and the payload as JSON."""

    topic: str
    partition: int
    offset: int
    id: str
    type: str
    time: str
    subject: str
    data: dict[str, Any]
    headers: dict[str, str]


def _event(record: Any, topic: str) -> Event:
    headers = {k: v.decode("utf-8", "replace") for k, v in record.headers or ()}
    try:
        data = json.loads(record.value or b"{}")
    except ValueError:
        data = {"_undecodable": True}
    return Event(
        topic=topic,
        partition=record.partition,
        offset=record.offset,
        id=headers.get("ce_id", ""),
        type=headers.get("ce_type", ""),
        time=headers.get("ce_time", ""),
        subject=headers.get("ce_subject", ""),
        data=data if isinstance(data, dict) else {"_value": data},
        headers=headers,
    )


async def read_topic(bootstrap: str, topic: str, *, idle_seconds: float = 3) -> list[Event]:
    """Every record on ``topic`` up to its end offsets when the read began."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,  # no group: the consumer is given every partition of the topic
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id=f"chaos-reader-{uuid.uuid4().hex[:8]}",
    )
    await consumer.start()
    try:
        for _ in range(50):
            if consumer.assignment():
                break
            await asyncio.sleep(0.2)
        partitions = list(consumer.assignment())
        if not partitions:
            return []
        ends = await consumer.end_offsets(partitions)
        events: list[Event] = []
        while await _behind(consumer, ends):
            batches = await consumer.getmany(timeout_ms=int(idle_seconds * 1000))
            if not batches:
                break
            for records in batches.values():
                events.extend(_event(record, topic) for record in records)
        return events
    finally:
        await consumer.stop()


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for partition, end in ends.items():
        if await consumer.position(partition) < end:
            return True
    return False


@dataclass
class History:
    events: list[Event]
    dead_letters: list[Event]
    lag: dict[str, int]
    replication: dict[str, dict[str, Any]]

    def save(self, path: Path) -> None:
        path.write_text(
            json.dumps(
                {
                    "events": [asdict(e) for e in self.events],
                    "dead_letters": [asdict(e) for e in self.dead_letters],
                    "lag": self.lag,
                    "replication": self.replication,
                }
            )
        )

    @classmethod
    def load(cls, path: Path) -> History:
        raw = json.loads(path.read_text())
        return cls(
            events=[Event(**e) for e in raw["events"]],
            dead_letters=[Event(**e) for e in raw["dead_letters"]],
            lag=raw["lag"],
            replication=raw["replication"],
        )


async def consumer_lag(bootstrap: str, prefix: str) -> dict[str, int]:
    """Per consumer group of this run: records on its topics not yet committed."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="chaos-lag")
    await admin.start()
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await reader.start()
    try:
        await reader.topics()
        groups = [g[0] for g in await admin.list_consumer_groups() if g[0].startswith(prefix)]
        lag: dict[str, int] = {}
        for group in sorted(groups):
            committed = await admin.list_consumer_group_offsets(group)
            topics = {tp.topic for tp in committed}
            partitions = [
                TopicPartition(t, p) for t in topics for p in reader.partitions_for_topic(t) or ()
            ]
            ends = await reader.end_offsets(partitions) if partitions else {}
            lag[group] = sum(
                end - max(committed[tp].offset, 0) if tp in committed else end
                for tp, end in ends.items()
            )
        return lag
    finally:
        await reader.stop()
        await admin.close()


async def event_count(bootstrap: str, prefix: str) -> int:
    """How many records the run's topics hold (the sum of their end offsets).

    Partitions come from the admin client: a consumer's ``partitions_for_topic`` reads its own
    metadata cache, which ``topics()`` does not fill, so it answered None and the count stayed
    0 (the quiet wait then stopped while waitlist promotions were still being written)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="chaos-count")
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if t.startswith(prefix)]
        described = await admin.describe_topics(topics) if topics else []
    finally:
        await admin.close()
    partitions = [
        TopicPartition(topic["topic"], partition["partition"])
        for topic in described
        for partition in topic["partitions"]
    ]
    if not partitions:
        return 0
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await reader.start()
    try:
        return sum((await reader.end_offsets(partitions)).values())
    finally:
        await reader.stop()


async def replication(bootstrap: str, topics: list[str]) -> dict[str, dict[str, Any]]:
    """Replication factor and min.insync.replicas of each topic as the cluster has them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="chaos-topics")
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
        result: dict[str, dict[str, Any]] = {}
        for topic in described:
            replicas = {len(p["replicas"]) for p in topic["partitions"]} or {0}
            result[topic["topic"]] = {"replication_factor": min(replicas)}
        resources = [ConfigResource(ConfigResourceType.TOPIC, t) for t in result]
        for response in await admin.describe_configs(resources):
            for resource in response.resources:
                name, entries = resource[3], resource[4]
                for entry in entries:
                    if entry[0] == "min.insync.replicas":
                        result[name]["min_insync_replicas"] = int(entry[1])
        return result
    finally:
        await admin.close()


async def read_history(bootstrap: str, prefix: str) -> History:
    names = [prefix + t.name for t in (REGISTRATIONS, DECISIONS, CRM, PRINCIPALS)]
    per_topic = await asyncio.gather(*(read_topic(bootstrap, name) for name in names))
    dead = await read_topic(bootstrap, prefix + DEAD_LETTERS.name)
    return History(
        events=[event for events in per_topic for event in events],
        dead_letters=dead,
        lag=await consumer_lag(bootstrap, prefix),
        replication=await replication(bootstrap, [*names, prefix + DEAD_LETTERS.name]),
    )
