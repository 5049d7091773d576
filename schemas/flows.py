"""Who sends and who receives each event: the services' side of the event contract.

The AsyncAPI document (``schemas.catalogue``) is generated from this table, one operation per
service and event; ``tests/unit/test_catalogue.py`` checks it against the handlers each service
registers, so the document cannot claim a flow the code does not have.

It is also who may speak: each service envelopes its events with its CloudEvents ``source``
(:attr:`ServiceFlows.source`, or a path below it), and a consumer that takes commands from a
control topic (ops keys on ``dealreg.principals``, deals closed on ``dealreg.crm``) accepts an
event only from a service declared here as its sender (:func:`is_trusted_source`,
``services.kafka.sources``). The per-service Kafka ACLs are generated from the same table
(``services.kafka.acls``).
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas import attribution, capacity, companies, cosell, crm, policies, principals, review
from schemas import encroachment as enc
from schemas import registration as reg
from schemas.envelope import EventPayload


@dataclass(frozen=True)
class ServiceFlows:
    name: str
    description: str
    sends: tuple[type[EventPayload], ...]
    receives: tuple[type[EventPayload], ...]
    source: str = ""

    def emits_as(self, source: str) -> bool:
        """Whether ``source`` is this service's (its own, or a component's path below it)."""
        return source == self.source or source.startswith(self.source + "/")


DEAL_REGISTRATION = ServiceFlows(
    name="deal_registration",
    source="/dealreg/deal_registration",
    description="The REST intake for partner portals; owns registrations and what partners see.",
    sends=(
        reg.RegistrationSubmitted,
        reg.RegistrationWithdrawn,
        reg.ExtensionRequested,
        review.RegistrationAppealed,
        review.RegistrationEdited,
        review.RegistrationAmended,
        cosell.CoSellInvited,
        cosell.CoSellAccepted,
        cosell.CoSellDeclined,
        principals.OpsKeyIssued,
        principals.PartnerKeyIssued,
        principals.ApiKeyRevoked,
        principals.PartnerStatusChanged,
    ),
    receives=(
        reg.RegistrationSubmitted,
        reg.RegistrationWithdrawn,
        reg.RegistrationApproved,
        reg.RegistrationRejected,
        reg.RegistrationSentToReview,
        reg.ProtectionExtended,
        reg.ExtensionDenied,
        reg.ProtectionExpired,
        reg.WaitlistLeft,
        review.RegistrationReturnedForEdit,
        reg.ProtectionTransferred,
        reg.ProtectionExpiring,
        capacity.CapacityCapsPublished,
        crm.CrmOpportunityMirrored,
        crm.CrmOpportunityChanged,
        crm.CrmDealClosed,
        enc.DirectEncroachmentRaised,
        enc.DirectEncroachmentResolved,
        cosell.InfluenceAccepted,
        cosell.InfluenceRejected,
        attribution.DealAttributed,
        attribution.ExchangeRatesPublished,
    ),
)
CONFLICT_RESOLVER = ServiceFlows(
    name="conflict_resolver",
    source="/dealreg/conflict_resolver",
    description="Matches customers, applies the rules of engagement, runs the conflict queue.",
    sends=(
        reg.RegistrationApproved,
        reg.RegistrationRejected,
        reg.RegistrationSentToReview,
        reg.ProtectionExtended,
        reg.ExtensionDenied,
        reg.ProtectionExpired,
        reg.WaitlistLeft,
        reg.WaitlistReevaluated,
        reg.ProtectionTransferred,
        reg.ProtectionExpiring,
        capacity.CapacityCapsPublished,
        policies.PolicyPublished,
        policies.HouseAccountsPublished,
        reg.ConflictEscalated,
        reg.ConflictCaseRecorded,
        enc.DirectEncroachmentRaised,
        enc.DirectEncroachmentResolved,
        review.RegistrationReturnedForEdit,
        cosell.InfluenceAccepted,
        cosell.InfluenceRejected,
        attribution.DealAttributed,
        attribution.ExchangeRatesPublished,
    ),
    receives=(
        reg.RegistrationSubmitted,
        reg.RegistrationWithdrawn,
        reg.ExtensionRequested,
        review.RegistrationAppealed,
        review.RegistrationEdited,
        cosell.CoSellAccepted,
        cosell.CoSellDeclined,
        crm.CrmDealClosed,
        crm.DirectOpportunityOpened,
        crm.DirectOpportunityClosed,
        companies.CrmCompanyUpserted,
        companies.CrmCompanyRemoved,
        principals.OpsKeyIssued,
        principals.PartnerKeyIssued,
        principals.ApiKeyRevoked,
        principals.PartnerStatusChanged,
    ),
)
CRM_SYNC = ServiceFlows(
    name="crm_sync",
    source="/dealreg/crm_sync",
    description="Mirrors approved deals into the CRM and takes CRM webhooks back.",
    sends=(
        crm.CrmOpportunityMirrored,
        crm.CrmOpportunityChanged,
        crm.CrmDealClosed,
        crm.DirectOpportunityOpened,
        crm.DirectOpportunityClosed,
        companies.CrmCompanyUpserted,
        companies.CrmCompanyRemoved,
    ),
    receives=(
        review.RegistrationAmended,
        reg.RegistrationApproved,
        reg.ProtectionExtended,
        reg.ProtectionExpired,
        reg.ProtectionTransferred,
        reg.RegistrationWithdrawn,
        enc.DirectEncroachmentRaised,
        cosell.InfluenceAccepted,
        cosell.CoSellAccepted,
        cosell.CoSellDeclined,
        principals.OpsKeyIssued,
        principals.ApiKeyRevoked,
    ),
)

SERVICES: tuple[ServiceFlows, ...] = (DEAL_REGISTRATION, CONFLICT_RESOLVER, CRM_SYNC)


def senders_of(payload_type: type[EventPayload]) -> tuple[ServiceFlows, ...]:
    """The services declared to send ``payload_type``."""
    return tuple(
        service
        for service in SERVICES
        if any(sent.event_type == payload_type.event_type for sent in service.sends)
    )


def is_trusted_source(payload_type: type[EventPayload], source: str) -> bool:
    """Whether an event of ``payload_type`` with CloudEvents ``source`` comes from its sender."""
    return any(service.emits_as(source) for service in senders_of(payload_type))


def sender_source(payload_type: type[EventPayload]) -> str:
    """The source of the (first) service declared to send ``payload_type``."""
    senders = senders_of(payload_type)
    if not senders:
        raise LookupError(f"no service sends {payload_type.event_type}")
    return senders[0].source
