"""Who sends and who receives each event: the services' side of the event contract.

The AsyncAPI document (``schemas.catalogue``) is generated from this table, one operation per
service and event; ``tests/unit/test_catalogue.py`` checks it against the handlers each service
registers, so the document cannot claim a flow the code does not have.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas import crm, principals
from schemas import registration as reg
from schemas.envelope import EventPayload


@dataclass(frozen=True)
class ServiceFlows:
    name: str
    description: str
    sends: tuple[type[EventPayload], ...]
    receives: tuple[type[EventPayload], ...]


DEAL_REGISTRATION = ServiceFlows(
    name="deal_registration",
    description="The REST intake for partner portals; owns registrations and what partners see.",
    sends=(
        reg.RegistrationSubmitted,
        reg.RegistrationWithdrawn,
        reg.ExtensionRequested,
        principals.OpsKeyIssued,
        principals.ApiKeyRevoked,
    ),
    receives=(
        reg.RegistrationApproved,
        reg.RegistrationRejected,
        reg.RegistrationSentToReview,
        reg.ProtectionExtended,
        reg.ExtensionDenied,
        reg.ProtectionExpired,
        crm.CrmOpportunityMirrored,
        crm.CrmOpportunityChanged,
        crm.CrmDealClosed,
    ),
)
CONFLICT_RESOLVER = ServiceFlows(
    name="conflict_resolver",
    description="Matches customers, applies the rules of engagement, runs the conflict queue.",
    sends=(
        reg.RegistrationApproved,
        reg.RegistrationRejected,
        reg.RegistrationSentToReview,
        reg.ProtectionExtended,
        reg.ExtensionDenied,
        reg.ProtectionExpired,
        reg.ConflictEscalated,
    ),
    receives=(
        reg.RegistrationSubmitted,
        reg.RegistrationWithdrawn,
        reg.ExtensionRequested,
        crm.CrmDealClosed,
        crm.DirectOpportunityOpened,
        crm.DirectOpportunityClosed,
        principals.OpsKeyIssued,
        principals.ApiKeyRevoked,
    ),
)
CRM_SYNC = ServiceFlows(
    name="crm_sync",
    description="Mirrors approved deals into the CRM and takes CRM webhooks back.",
    sends=(
        crm.CrmOpportunityMirrored,
        crm.CrmOpportunityChanged,
        crm.CrmDealClosed,
        crm.DirectOpportunityOpened,
        crm.DirectOpportunityClosed,
    ),
    receives=(
        reg.RegistrationApproved,
        reg.ProtectionExtended,
        reg.ProtectionExpired,
        reg.RegistrationWithdrawn,
        principals.OpsKeyIssued,
        principals.ApiKeyRevoked,
    ),
)

SERVICES: tuple[ServiceFlows, ...] = (DEAL_REGISTRATION, CONFLICT_RESOLVER, CRM_SYNC)
