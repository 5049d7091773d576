"""Every Kafka topic dealreg uses, declared once.

The services create these idempotently at start (``services.kafka.admin``). Registration and
decision topics keep their events forever: they are the log a resolver can be rebuilt from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.envelope import EventPayload
from schemas.registration import RegistrationApproved, RegistrationRejected, RegistrationSubmitted


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)
    description: str = ""


_FOREVER = {"retention.ms": "-1", "cleanup.policy": "delete"}

REGISTRATIONS = TopicSpec(
    name="dealreg.registrations",
    partitions=12,
    config=_FOREVER,
    description="What partners did: submitted, withdrawn, extension requested. Keyed by account.",
)
DECISIONS = TopicSpec(
    name="dealreg.decisions",
    partitions=12,
    config=_FOREVER,
    description="What the rules decided and the lifecycle the resolver owns. Keyed by account.",
)
DEAD_LETTERS = TopicSpec(
    name="dealreg.dead-letters",
    partitions=3,
    config={"retention.ms": str(30 * 24 * 3600 * 1000)},
    description="Records a consumer could not process, with the reason in `dlq_*` headers.",
)

TOPICS: tuple[TopicSpec, ...] = (REGISTRATIONS, DECISIONS, DEAD_LETTERS)

_TOPIC_OF_EVENT: dict[str, TopicSpec] = {
    RegistrationSubmitted.event_type: REGISTRATIONS,
    RegistrationApproved.event_type: DECISIONS,
    RegistrationRejected.event_type: DECISIONS,
}


def topic_for(payload_type: type[EventPayload]) -> TopicSpec:
    """The topic an event type is published to."""
    return _TOPIC_OF_EVENT[payload_type.event_type]


def event_types_on(topic: TopicSpec) -> list[str]:
    return sorted(name for name, spec in _TOPIC_OF_EVENT.items() if spec == topic)
