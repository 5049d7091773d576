"""Company records read from a CRM, and the event each change becomes.

HubSpot: a company's ``name``, ``domain`` and ``hs_additional_domains`` (alias domains,
separated by semicolons), ``hs_parent_company_id`` and our custom property
``dealreg_former_names`` (semicolons). Salesforce: an Account's ``Name``, ``Website``,
``ParentId`` and our custom fields ``Dealreg_Alias_Domains__c`` and
``Dealreg_Former_Names__c`` (semicolons). A change is published only when one of the fields the
resolver reads changed (:func:`fingerprint`). Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from schemas.accounts import account_key
from schemas.companies import CrmCompanyUpserted
from schemas.crm import CrmSystem


@dataclass(frozen=True)
class CrmCompanyRecord:
    """A company (HubSpot) or account (Salesforce) as the CRM describes it."""

    crm_id: str
    name: str
    domains: tuple[str, ...]  # the primary domain first, then the aliases
    former_names: tuple[str, ...]
    country: str | None
    parent_id: str | None
    modified_at: datetime


def split_list(raw: str | None) -> tuple[str, ...]:
    """A semicolon-separated CRM field ("a.com; b.com") as its non-empty entries."""
    if not raw:
        return ()
    return tuple(dict.fromkeys(part.strip() for part in raw.split(";") if part.strip()))


def company_account_key(record: CrmCompanyRecord) -> str | None:
    """The company's account key, as a registration naming its primary domain gets it; None
    when it has neither a usable domain nor a name."""
    country = (record.country or "").strip().upper()
    try:
        return account_key(
            name=record.name,
            domain=record.domains[0] if record.domains else None,
            country=country if len(country) == 2 else None,
        )
    except ValueError:
        return None


def fingerprint(record: CrmCompanyRecord) -> str:
    """A digest of what the resolver reads: an unchanged company is not published again."""
    fields = [
        record.name,
        list(record.domains),
        list(record.former_names),
        record.country,
        record.parent_id,
    ]
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()


def upserted(system: CrmSystem, record: CrmCompanyRecord, key: str) -> CrmCompanyUpserted:
    country = (record.country or "").strip().upper()
    return CrmCompanyUpserted(
        crm_system=system,
        company_id=record.crm_id,
        account_key=key,
        name=record.name,
        domains=list(record.domains),
        former_names=list(record.former_names),
        country=country if len(country) == 2 else None,
        parent_company_id=record.parent_id or None,
        changed_at=record.modified_at,
    )
