"""Which partitions wait at a record that failed transiently, and when each is tried again.

Pure bookkeeping (no Kafka, no clock of its own): the consumer tells it what failed and what
time it is, and asks which partitions are due to resume. A database restart or a lock timeout
is bad luck, not bad data, so the record is never skipped: its partition waits, with a capped
exponential backoff and jitter between tries, until the handler succeeds.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiokafka import TopicPartition

_MAX_DOUBLINGS = 32


def backoff_seconds(
    attempt: int, *, initial: float, cap: float, rand: Callable[[], float] = random.random
) -> float:
    """Wait before retry number ``attempt`` (1-based): doubling from ``initial`` up to ``cap``.

    The jitter takes up to half of the wait away, so consumers restarted together after an
    outage do not all knock on the database at the same instant.
    """
    ceiling = min(cap, initial * 2.0 ** min(attempt - 1, _MAX_DOUBLINGS))
    return ceiling * (1 - rand() / 2)


@dataclass
class Stall:
    """A partition held at ``offset`` because its record keeps failing transiently."""

    offset: int
    attempts: int
    error: str
    retry_at: float
    waiting: bool = True


class PartitionStalls:
    """The stalled partitions of one consumer, keyed by topic-partition."""

    def __init__(
        self,
        *,
        initial_seconds: float,
        max_seconds: float,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._initial = initial_seconds
        self._cap = max_seconds
        self._rand = rand
        self._stalls: dict[TopicPartition, Stall] = {}

    def failed(self, tp: TopicPartition, *, offset: int, error: str, now: float) -> Stall:
        """Record one more failure of the record at ``offset``; returns when to try again."""
        previous = self._stalls.get(tp)
        attempts = previous.attempts + 1 if previous and previous.offset == offset else 1
        delay = backoff_seconds(attempts, initial=self._initial, cap=self._cap, rand=self._rand)
        stall = Stall(offset=offset, attempts=attempts, error=error, retry_at=now + delay)
        self._stalls[tp] = stall
        return stall

    def succeeded(self, tp: TopicPartition) -> bool:
        """The partition moved past its failing record; True if it had been stalled."""
        return self._stalls.pop(tp, None) is not None

    def due(self, now: float) -> list[TopicPartition]:
        """Partitions whose wait is over; each is returned once per failure."""
        ready = [tp for tp, s in self._stalls.items() if s.waiting and s.retry_at <= now]
        for tp in ready:
            self._stalls[tp].waiting = False
        return ready

    def seconds_to_next_retry(self, now: float) -> float | None:
        waits = [s.retry_at - now for s in self._stalls.values() if s.waiting]
        return max(0.0, min(waits)) if waits else None

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        """Partitions this consumer no longer owns: their next owner starts afresh."""
        for tp in partitions:
            self._stalls.pop(tp, None)

    def clear(self) -> None:
        self._stalls.clear()

    def describe(self) -> dict[str, str]:
        """``"topic:partition"`` → the last error, for readiness."""
        return {f"{tp.topic}:{tp.partition}": s.error for tp, s in self._stalls.items()}

    def __len__(self) -> int:
        return len(self._stalls)
