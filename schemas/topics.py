"""Every Kafka topic dealreg uses, declared once.

The services create these idempotently at start (``services.kafka.admin``), with the replication
factor and ``min.insync.replicas`` of the settings. Registration and decision topics keep their
events forever, by time and by size: they are the log a resolver can be rebuilt from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas import (
    attribution,
    capacity,
    companies,
    cosell,
    crm,
    encroachment,
    policies,
    principals,
    registration,
    review,
)
from schemas.envelope import EventPayload


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict, hash=False)
    description: str = ""


# Kept forever by time AND by size: a broker-wide `log.retention.bytes` would otherwise delete
# the oldest registrations once a partition grew past it.
_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}

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
CRM = TopicSpec(
    name="dealreg.crm",
    partitions=12,
    config=_FOREVER,
    description="What happened in the CRM: mirrored, changed, closed, direct opportunities.",
)
PRINCIPALS = TopicSpec(
    name="dealreg.principals",
    partitions=3,
    config=_FOREVER,
    description=(
        "Ops and partner keys issued and keys revoked (hashes only), partners suspended and "
        "reinstated. Keyed by principal id (a key's, or the partner's)."
    ),
)
DEAD_LETTERS = TopicSpec(
    name="dealreg.dead-letters",
    partitions=3,
    config={"retention.ms": str(30 * 24 * 3600 * 1000), "retention.bytes": "-1"},
    description="Records a consumer could not process (bad data, never bad luck), with the "
    "reason in `dlq_*` headers; `python -m services.kafka.dead_letters` lists and replays them.",
)

TOPICS: tuple[TopicSpec, ...] = (REGISTRATIONS, DECISIONS, CRM, PRINCIPALS, DEAD_LETTERS)

_EVENTS_BY_TOPIC: dict[TopicSpec, tuple[type[EventPayload], ...]] = {
    REGISTRATIONS: (
        registration.RegistrationSubmitted,
        registration.RegistrationWithdrawn,
        registration.ExtensionRequested,
        review.RegistrationAppealed,
        review.RegistrationEdited,
        review.RegistrationAmended,
        cosell.CoSellInvited,
        cosell.CoSellAccepted,
        cosell.CoSellDeclined,
    ),
    DECISIONS: (
        registration.RegistrationApproved,
        registration.RegistrationRejected,
        registration.RegistrationSentToReview,
        registration.ProtectionExtended,
        registration.ExtensionDenied,
        registration.ProtectionExpired,
        registration.WaitlistLeft,
        registration.WaitlistReevaluated,
        registration.ProtectionTransferred,
        registration.ProtectionExpiring,
        capacity.CapacityCapsPublished,
        policies.PolicyPublished,
        policies.HouseAccountsPublished,
        registration.ConflictEscalated,
        registration.ConflictCaseRecorded,
        encroachment.DirectEncroachmentRaised,
        encroachment.DirectEncroachmentResolved,
        review.RegistrationReturnedForEdit,
        cosell.InfluenceAccepted,
        cosell.InfluenceRejected,
        attribution.DealAttributed,
        attribution.ExchangeRatesPublished,
    ),
    CRM: (
        crm.CrmOpportunityMirrored,
        crm.CrmOpportunityChanged,
        crm.CrmDealClosed,
        crm.DirectOpportunityOpened,
        crm.DirectOpportunityClosed,
        companies.CrmCompanyUpserted,
        companies.CrmCompanyRemoved,
    ),
    PRINCIPALS: (
        principals.OpsKeyIssued,
        principals.PartnerKeyIssued,
        principals.ApiKeyRevoked,
        principals.PartnerStatusChanged,
    ),
}
_TOPIC_OF_EVENT: dict[str, TopicSpec] = {
    payload.event_type: topic
    for topic, payloads in _EVENTS_BY_TOPIC.items()
    for payload in payloads
}


def topic_for(payload_type: type[EventPayload]) -> TopicSpec:
    """The topic an event type is published to."""
    return _TOPIC_OF_EVENT[payload_type.event_type]


def events_on(topic: TopicSpec) -> tuple[type[EventPayload], ...]:
    return _EVENTS_BY_TOPIC.get(topic, ())
