"""Which dead letters a listing or a replay picks, and what a replay sends (no broker)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiokafka import ConsumerRecord

from services.kafka.dead_letters import DeadLetterFilter, fold_markers

NOON_MS = int(datetime(2026, 12, 2, 12, 0, tzinfo=UTC).timestamp() * 1000)


def record(
    offset: int, headers: list[tuple[str, bytes]], *, partition: int = 0
) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="dealreg.dead-letters",
        partition=partition,
        offset=offset,
        timestamp=NOON_MS,
        timestamp_type=0,
        key=b"d:acme.com",
        value=b"{}",
        checksum=None,
        serialized_key_size=10,
        serialized_value_size=2,
        headers=tuple(headers),
    )


def dead_letter(
    offset: int, *, consumer: str, reason: str, at_ms: int
) -> ConsumerRecord[bytes, bytes]:
    return record(
        offset,
        [
            ("ce_id", f"e-{offset}".encode()),
            ("dlq_reason", reason.encode()),
            ("dlq_consumer", consumer.encode()),
            ("dlq_topic", b"dealreg.decisions"),
            ("dlq_time", str(at_ms).encode()),
        ],
    )


LETTERS = fold_markers(
    [
        dead_letter(0, consumer="crm_sync.approvals", reason="PoisonEventError: x", at_ms=NOON_MS),
        dead_letter(
            1, consumer="conflict_resolver", reason="ValidationError: y", at_ms=NOON_MS + 60_000
        ),
        record(2, [("dlq_replayed", b"0:1")], partition=1),
    ]
)


def test_replay_markers_are_not_dead_letters_and_flag_what_they_name() -> None:
    assert [(letter.coordinates, letter.replayed) for letter in LETTERS] == [
        ("0:0", False),
        ("0:1", True),
    ]


def test_listing_hides_replayed_records_unless_asked_for_all() -> None:
    assert [x.coordinates for x in LETTERS if DeadLetterFilter().matches(x)] == ["0:0"]
    everything = DeadLetterFilter(include_replayed=True)
    assert [x.coordinates for x in LETTERS if everything.matches(x)] == ["0:0", "0:1"]


def test_filters_by_consumer_reason_and_a_half_open_time_range() -> None:
    def picked(**criteria: Any) -> list[str]:
        where = DeadLetterFilter(include_replayed=True, **criteria)
        return [letter.coordinates for letter in LETTERS if where.matches(letter)]

    assert picked(consumer="conflict_resolver") == ["0:1"]
    assert picked(consumer="conflict") == []
    assert picked(reason="validationerror") == ["0:1"]
    one_past_noon = datetime(2026, 12, 2, 12, 1, tzinfo=UTC)
    assert picked(since=one_past_noon) == ["0:1"]
    assert picked(until=one_past_noon) == ["0:0"]


def test_a_replay_sends_the_original_headers_without_the_dead_letter_ones() -> None:
    assert LETTERS[0].original_headers() == [("ce_id", b"e-0")]
    assert LETTERS[0].dead_lettered_at == datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
