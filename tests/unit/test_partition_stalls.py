"""The bookkeeping of partitions that wait at a record failing transiently."""

from __future__ import annotations

from aiokafka import TopicPartition

from services.kafka.stalls import PartitionStalls, backoff_seconds

TP = TopicPartition("dealreg.registrations", 3)
OTHER = TopicPartition("dealreg.registrations", 4)


def no_jitter() -> float:
    return 0.0


def full_jitter() -> float:
    return 1.0


def test_backoff_doubles_up_to_the_cap_and_jitter_only_shortens_it() -> None:
    waits = [backoff_seconds(n, initial=0.2, cap=30, rand=no_jitter) for n in range(1, 12)]
    assert waits[:4] == [0.2, 0.4, 0.8, 1.6]
    assert waits[-1] == 30
    assert backoff_seconds(3, initial=0.2, cap=30, rand=full_jitter) == 0.4
    assert backoff_seconds(10_000, initial=0.2, cap=30, rand=no_jitter) == 30


def stalls() -> PartitionStalls:
    return PartitionStalls(initial_seconds=1, max_seconds=8, rand=no_jitter)


def test_each_failure_of_the_same_record_waits_longer() -> None:
    subject = stalls()
    first = subject.failed(TP, offset=7, error="OperationalError: down", now=100)
    second = subject.failed(TP, offset=7, error="OperationalError: still down", now=101)
    assert (first.attempts, first.retry_at) == (1, 101)
    assert (second.attempts, second.retry_at) == (2, 103)
    assert subject.describe() == {"dealreg.registrations:3": "OperationalError: still down"}


def test_a_partition_is_due_once_per_failure_and_cleared_by_success() -> None:
    subject = stalls()
    subject.failed(TP, offset=7, error="e", now=100)
    subject.failed(OTHER, offset=1, error="e", now=100.5)
    assert subject.due(now=100.9) == []
    assert subject.seconds_to_next_retry(now=100) == 1
    assert subject.due(now=101) == [TP]
    assert subject.due(now=102) == [OTHER]
    assert subject.due(now=200) == []
    assert subject.seconds_to_next_retry(now=200) is None
    assert len(subject) == 2  # resumed but not yet past the record: still reported
    assert subject.succeeded(TP)
    assert not subject.succeeded(TP)
    assert list(subject.describe()) == ["dealreg.registrations:4"]


def test_a_failure_at_a_new_offset_starts_the_backoff_again() -> None:
    subject = stalls()
    for now in range(3):
        subject.failed(TP, offset=7, error="e", now=now)
    assert subject.failed(TP, offset=8, error="e", now=10).attempts == 1


def test_revoked_partitions_are_forgotten() -> None:
    subject = stalls()
    subject.failed(TP, offset=7, error="e", now=0)
    subject.failed(OTHER, offset=7, error="e", now=0)
    subject.forget({TP})
    assert list(subject.describe()) == ["dealreg.registrations:4"]
