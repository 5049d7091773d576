"""Events crm_sync emits about the CRM side (Salesforce, HubSpot).

The CRM is the system of record for sales fields (stage, amount, close date, won/lost); these
events carry those changes back. ``account_key`` is the Kafka key, as for every event.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, Field

from schemas.envelope import EventPayload, register
from schemas.registration import AmountData, CustomerData

CrmSystem = Literal["hubspot", "salesforce"]


@register
class CrmOpportunityMirrored(EventPayload):
    """An approved registration now exists in the CRM as this opportunity."""

    event_type = "dealreg.crm.opportunity_mirrored"

    registration_id: str
    account_key: str
    crm_system: CrmSystem
    opportunity_id: str
    stage: str | None = None
    mirrored_at: AwareDatetime


@register
class CrmOpportunityChanged(EventPayload):
    """Sales changed a mirrored opportunity in the CRM (stage, amount, close date)."""

    event_type = "dealreg.crm.opportunity_changed"

    registration_id: str
    account_key: str
    crm_system: CrmSystem
    opportunity_id: str
    stage: str | None = None
    amount: AmountData | None = None
    close_date: date | None = None
    changed_at: AwareDatetime = Field(description="The CRM's own last-modified time.")


@register
class CrmDealClosed(EventPayload):
    """The mirrored opportunity closed in the CRM: the registration is ``won`` or ``lost``."""

    event_type = "dealreg.crm.deal_closed"

    registration_id: str
    account_key: str
    product_line: str
    crm_system: CrmSystem
    opportunity_id: str
    outcome: Literal["won", "lost"]
    closed_at: AwareDatetime
    amount: AmountData | None = Field(
        default=None, description="The CRM's amount at closing (what attribution credits)."
    )


@register
class DirectOpportunityOpened(EventPayload):
    """Direct sales holds an open opportunity (not from a registration) for an account."""

    event_type = "dealreg.crm.direct_opportunity_opened"

    crm_system: CrmSystem
    opportunity_id: str
    account_key: str
    customer: CustomerData
    product_line: str
    opened_at: AwareDatetime


@register
class DirectOpportunityClosed(EventPayload):
    """A direct opportunity closed (won, lost or deleted): it no longer conflicts."""

    event_type = "dealreg.crm.direct_opportunity_closed"

    crm_system: CrmSystem
    opportunity_id: str
    account_key: str
    product_line: str
    closed_at: AwareDatetime
