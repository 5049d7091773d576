"""Work the dead-letter topic: list, show and replay what the consumers could not process.

``python -m services.kafka.dead_letters list|show|replay`` (``--help`` on each). A dead letter
is the original record (key, value, headers) plus ``dlq_*`` headers saying which consumer
gave up on it, why, when, and where it came from (``dlq_topic``/``dlq_partition``/
``dlq_offset``). It is addressed by its own coordinates on the dead-letter topic,
``partition:offset``.

Replaying republishes a record to its original topic with its original key and headers (minus
the ``dlq_*`` ones), so the event keeps its id and every consumer's inbox drops it if it was
applied after all. Each replay also writes a small marker record to the dead-letter topic
(header ``dlq_replayed`` = the coordinates), so a record is not replayed twice by accident:
``list`` hides replayed records unless asked for all, and ``replay`` skips them unless forced.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from schemas.envelope import MalformedEventError, UnknownEventError, decode_event
from schemas.topics import DEAD_LETTERS
from services.kafka.producer import KafkaEventPublisher

REPLAYED_HEADER = "dlq_replayed"
_DLQ_PREFIX = "dlq_"

Header = tuple[str, bytes]


@dataclass(frozen=True)
class DeadLetter:
    """One record on the dead-letter topic, at ``partition:offset`` there."""

    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...]
    replayed: bool = False

    @property
    def coordinates(self) -> str:
        return f"{self.partition}:{self.offset}"

    def header(self, name: str) -> str | None:
        for header, value in self.headers:
            if header == name:
                return value.decode("utf-8", errors="replace")
        return None

    @property
    def consumer(self) -> str | None:
        return self.header("dlq_consumer")

    @property
    def reason(self) -> str:
        return self.header("dlq_reason") or ""

    @property
    def source_topic(self) -> str | None:
        """The topic to replay to; CRM push dead letters have none (crm_sync replays those)."""
        return self.header("dlq_topic")

    @property
    def dead_lettered_at(self) -> datetime:
        """``dlq_time`` when the consumer wrote it, else the record's own timestamp."""
        stamp = self.header("dlq_time")
        millis = int(stamp) if stamp and stamp.isdigit() else self.timestamp_ms
        return datetime.fromtimestamp(millis / 1000, tz=UTC)

    def original_headers(self) -> list[Header]:
        return [(name, value) for name, value in self.headers if not name.startswith(_DLQ_PREFIX)]

    def envelope_json(self) -> dict[str, Any] | None:
        """The decoded CloudEvent if the record is readable (often it is not: that is why)."""
        try:
            envelope = decode_event(self.value, self.original_headers())
        except (MalformedEventError, UnknownEventError):
            return None
        return envelope.model_dump(mode="json")

    def summary(self) -> dict[str, Any]:
        return {
            "coordinates": self.coordinates,
            "dead_lettered_at": self.dead_lettered_at.isoformat(),
            "consumer": self.consumer,
            "reason": self.reason,
            "topic": self.source_topic,
            "source_partition": self.header("dlq_partition"),
            "source_offset": self.header("dlq_offset"),
            "event_id": self.header("ce_id"),
            "event_type": self.header("ce_type"),
            "key": _text(self.key),
            "replayed": self.replayed,
        }

    def details(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "headers": [[name, _text(value)] for name, value in self.headers],
            "value": _text(self.value),
            "envelope": self.envelope_json(),
        }


@dataclass(frozen=True)
class DeadLetterFilter:
    """Which dead letters to work on; every criterion given must hold."""

    consumer: str | None = None
    reason: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    include_replayed: bool = False

    def matches(self, letter: DeadLetter) -> bool:
        at = letter.dead_lettered_at
        return (
            (self.include_replayed or not letter.replayed)
            and (self.consumer is None or letter.consumer == self.consumer)
            and (self.reason is None or self.reason.lower() in letter.reason.lower())
            and (self.since is None or at >= self.since)
            and (self.until is None or at < self.until)
        )


ReplayOutcome = Literal["replayed", "already_replayed", "not_replayable"]


@dataclass(frozen=True)
class Replay:
    coordinates: str
    outcome: ReplayOutcome
    topic: str | None


def dead_letter_topic(topic_prefix: str) -> str:
    return topic_prefix + DEAD_LETTERS.name


def fold_markers(records: Sequence[ConsumerRecord[bytes, bytes]]) -> list[DeadLetter]:
    """The dead letters among ``records``, each flagged if a replay marker names it."""
    replayed: set[str] = set()
    letters: list[DeadLetter] = []
    for record in records:
        headers = tuple(record.headers)
        marker = dict(headers).get(REPLAYED_HEADER)
        if marker is not None:
            replayed.add(marker.decode())
            continue
        letters.append(
            DeadLetter(
                partition=record.partition,
                offset=record.offset,
                timestamp_ms=record.timestamp,
                key=record.key,
                value=record.value,
                headers=headers,
            )
        )
    return [replace(letter, replayed=letter.coordinates in replayed) for letter in letters]


Security = Mapping[str, Any] | None
""":func:`services.kafka.security.client_options` (none: PLAINTEXT)."""


async def read_dead_letters(
    bootstrap_servers: str, *, topic_prefix: str, security: Security = None
) -> list[DeadLetter]:
    """Every dead letter on the topic now, in (partition, offset) order."""
    return fold_markers(
        await read_topic(bootstrap_servers, dead_letter_topic(topic_prefix), security=security)
    )


async def list_dead_letters(
    bootstrap_servers: str,
    *,
    topic_prefix: str,
    where: DeadLetterFilter,
    security: Security = None,
) -> list[DeadLetter]:
    letters = await read_dead_letters(
        bootstrap_servers, topic_prefix=topic_prefix, security=security
    )
    return [letter for letter in letters if where.matches(letter)]


async def show_dead_letter(
    bootstrap_servers: str, *, topic_prefix: str, coordinates: str, security: Security = None
) -> DeadLetter | None:
    letters = await read_dead_letters(
        bootstrap_servers, topic_prefix=topic_prefix, security=security
    )
    return next((letter for letter in letters if letter.coordinates == coordinates), None)


async def replay_dead_letters(
    bootstrap_servers: str,
    *,
    topic_prefix: str,
    letters: Sequence[DeadLetter],
    force: bool = False,
    security: Security = None,
) -> list[Replay]:
    """Republish ``letters`` to their original topics, oldest first within each source partition.

    Each replayed record is followed by a marker on the dead-letter topic. A crash between the
    two replays it again next time, which the consumers' inboxes absorb.
    """
    publisher = KafkaEventPublisher(
        bootstrap_servers=bootstrap_servers, client_id="dealreg-dead-letters", security=security
    )
    await publisher.start()
    try:
        return [
            await _replay_one(publisher, letter, dead_letter_topic(topic_prefix), force=force)
            for letter in sorted(letters, key=_source_order)
        ]
    finally:
        await publisher.stop()


async def _replay_one(
    publisher: KafkaEventPublisher, letter: DeadLetter, dlq_topic: str, *, force: bool
) -> Replay:
    topic = letter.source_topic
    if topic is None:
        return Replay(letter.coordinates, "not_replayable", None)
    if letter.replayed and not force:
        return Replay(letter.coordinates, "already_replayed", topic)
    await publisher.send_raw(
        topic, key=letter.key, value=letter.value, headers=letter.original_headers()
    )
    await publisher.send_raw(
        dlq_topic,
        key=f"{REPLAYED_HEADER}:{letter.coordinates}".encode(),
        value=json.dumps({"replayed": letter.coordinates, "to": topic}).encode(),
        headers=[
            (REPLAYED_HEADER, letter.coordinates.encode()),
            ("dlq_time", str(time.time_ns() // 1_000_000).encode()),
        ],
    )
    return Replay(letter.coordinates, "replayed", topic)


def _source_order(letter: DeadLetter) -> tuple[str, int, int, int, int]:
    def number(name: str) -> int:
        text = letter.header(name) or ""
        return int(text) if text.isdigit() else -1

    return (
        letter.source_topic or "",
        number("dlq_partition"),
        number("dlq_offset"),
        letter.partition,
        letter.offset,
    )


async def read_topic(
    bootstrap_servers: str, topic: str, *, security: Security = None
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record on ``topic`` up to its current end, without joining a consumer group."""
    await _require_topic(bootstrap_servers, topic, security=security)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        group_id=None,  # no group: every partition is assigned at start
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **(security or {}),
    )
    await consumer.start()
    try:
        tps = sorted(consumer.assignment())
        ends = await consumer.end_offsets(tps)
        records: list[ConsumerRecord[bytes, bytes]] = []
        pending = [tp for tp in tps if await consumer.position(tp) < ends[tp]]
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, batch in batches.items():
                records.extend(record for record in batch if record.offset < ends[tp])
            pending = [tp for tp in pending if await consumer.position(tp) < ends[tp]]
        return sorted(records, key=lambda record: (record.partition, record.offset))
    finally:
        await consumer.stop()


class NoSuchTopicError(LookupError):
    """The topic does not exist (a wrong prefix or broker, or topics never created)."""


async def _require_topic(bootstrap_servers: str, topic: str, *, security: Security) -> None:
    """Fail at once on a missing topic (subscribing to one waits for it for a long while)."""
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None, **(security or {}))
    try:
        await probe.start()  # closed below even when the brokers cannot be reached
        if topic not in await probe.topics():
            raise NoSuchTopicError(f"no topic {topic!r} on {bootstrap_servers}")
    finally:
        await probe.stop()


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="replace")


if __name__ == "__main__":
    from services.kafka.dead_letters_cli import main

    raise SystemExit(main())
