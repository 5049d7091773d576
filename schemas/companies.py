"""Company records from the CRM: names, domains (aliases included), former names and parent.

crm_sync reads them from the CRM (HubSpot companies, Salesforce accounts) and publishes one
event per change; conflict_resolver keeps its own copy, so that a registration naming a known
domain alias or a former name maps to the CRM account, and parent and subsidiary are known as
a family. The Kafka key is the company's ``account_key`` (its name, primary domain and
country, as ``schemas.accounts.account_key`` computes it for a registration).
"""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from schemas.crm import CrmSystem
from schemas.envelope import EventPayload, register


@register
class CrmCompanyUpserted(EventPayload):
    """A company exists in the CRM as described (created, or any of these fields changed)."""

    event_type = "dealreg.crm.company_upserted"

    crm_system: CrmSystem
    company_id: str
    account_key: str
    name: str
    domains: list[str] = Field(
        default_factory=list,
        description="The primary domain first, then the alias domains (HubSpot "
        "`hs_additional_domains`).",
    )
    former_names: list[str] = Field(default_factory=list)
    country: str | None = Field(default=None, description="ISO 3166-1 alpha-2 when known.")
    parent_company_id: str | None = Field(
        default=None,
        description="The parent company in the same CRM (HubSpot `hs_parent_company_id`, "
        "Salesforce `Account.ParentId`).",
    )
    changed_at: AwareDatetime = Field(description="The CRM's own last-modified time.")


@register
class CrmCompanyRemoved(EventPayload):
    """The company was deleted (archived) or merged away in the CRM."""

    event_type = "dealreg.crm.company_removed"

    crm_system: CrmSystem
    company_id: str
    account_key: str
    removed_at: AwareDatetime
