"""The sandbox's control API (tests, the page): faults, counters, and acting as a salesperson."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from crm_sync.sandbox import hubspot as hs
from crm_sync.sandbox import salesforce as sf
from crm_sync.sandbox.settings import SandboxSettings
from crm_sync.sandbox.store import Faults, Notice, Record, Sandbox, iso


class FaultRequest(BaseModel):
    status: int | None = None
    count: int = 0
    target: str = "any"
    retry_after: float | None = None
    latency_ms: int = 0
    drop_webhooks: int = 0
    fail_item_ids: list[str] = []


class SalesChange(BaseModel):
    stage: str | None = None
    amount: str | None = None
    close_date: str | None = None


class DirectDeal(BaseModel):
    name: str
    company_name: str
    domain: str | None = None
    country: str = "US"
    stage: str | None = None
    product_line: str | None = None


class SeedRequest(BaseModel):
    """Deals put straight into the store (a large portal without thousands of HTTP calls)."""

    count: int
    modified_from_ms: int
    modified_to_ms: int | None = None
    registration_prefix: str = "other-environment-"
    stage: str = "qualifiedtobuy"


def build_router(sandbox: Sandbox, settings: SandboxSettings, sender: Any) -> APIRouter:
    router = APIRouter(prefix="/_sandbox")
    sales_user = ("CRM_UI", "9001")

    @router.get("/credentials")
    def credentials() -> dict[str, Any]:
        return {
            "hubspot_token": settings.hubspot_token,
            "hubspot_app_id": settings.hubspot_app_id,
            "hubspot_client_secret": settings.hubspot_client_secret,
            "hubspot_user_token": settings.hubspot_user_token,
            "salesforce_client_id": settings.salesforce_client_id,
            "salesforce_client_secret": settings.salesforce_client_secret,
            "salesforce_webhook_secret": settings.salesforce_webhook_secret,
            "salesforce_integration_user_id": sf.INTEGRATION_USER,
        }

    @router.post("/faults")
    def set_faults(request: FaultRequest) -> dict[str, Any]:
        sandbox.faults = Faults(
            status=request.status,
            count=request.count,
            target=request.target,
            retry_after=request.retry_after,
            latency_ms=request.latency_ms,
            drop_webhooks=request.drop_webhooks,
            fail_item_ids=set(request.fail_item_ids),
        )
        return {"ok": True}

    @router.delete("/faults")
    def clear_faults() -> dict[str, Any]:
        sandbox.faults = Faults()
        return {"ok": True}

    @router.post("/reset")
    def reset() -> dict[str, Any]:
        sandbox.reset()
        return {"ok": True}

    @router.get("/stats")
    def stats() -> dict[str, Any]:
        return {
            **asdict(sandbox.counters),
            **sender.stats(),
            "hubspot_deals": len(sandbox.hubspot["deals"].live()),
            "salesforce_opportunities": len(sandbox.salesforce["Opportunity"].live()),
        }

    @router.get("/hubspot/deals")
    def hubspot_deals() -> list[dict[str, Any]]:
        return [
            {
                "id": r.id,
                "properties": r.properties,
                "updatedAt": iso(r.updated_ms),
                "archived": r.archived,
            }
            for r in sandbox.hubspot["deals"].records.values()
        ]

    def hubspot_write(record: Record, changes: dict[str, str]) -> None:
        deals = sandbox.hubspot["deals"]
        changed = {k: v for k, v in changes.items() if record.properties.get(k) != v}
        if not changed:
            return
        record.properties.update(changed)
        record.updated_ms = deals.tick()
        record.modified_by = sales_user[1]
        for name, value in changed.items():
            if (
                name in {p.strip() for p in settings.hubspot_subscribed.split(",")}
                and settings.hubspot_webhook_url
            ):
                sandbox.outbox.append(
                    Notice(
                        "hubspot",
                        {
                            "eventId": record.updated_ms % 1_000_000,
                            "subscriptionId": 1,
                            "portalId": settings.hubspot_portal_id,
                            "appId": int(settings.hubspot_app_id),
                            "occurredAt": record.updated_ms,
                            "attemptNumber": 0,
                            "objectId": int(record.id),
                            "subscriptionType": "deal.propertyChange",
                            "propertyName": name,
                            "propertyValue": value,
                            "changeSource": sales_user[0],
                            "sourceId": sales_user[1],
                        },
                    )
                )

    @router.post("/hubspot/deals/{deal_id}")
    def hubspot_sales_change(deal_id: str, change: SalesChange) -> dict[str, Any]:
        record = sandbox.hubspot["deals"].records[deal_id]
        changes = {}
        if change.stage is not None:
            changes["dealstage"] = change.stage
        if change.amount is not None:
            changes["amount"] = change.amount
        if change.close_date is not None:
            changes["closedate"] = f"{change.close_date}T00:00:00.000Z"
        hubspot_write(record, changes)
        return {"id": record.id, "properties": record.properties}

    @router.post("/hubspot/direct-deals")
    def hubspot_direct(deal: DirectDeal) -> dict[str, Any]:
        deals, companies = sandbox.hubspot["deals"], sandbox.hubspot["companies"]
        ms = companies.tick()
        company = Record(
            companies.new_id(),
            {"name": deal.company_name, "domain": deal.domain or "", "country": deal.country},
            ms,
            ms,
        )
        companies.records[company.id] = company
        ms = deals.tick()
        props = {
            "dealname": deal.name,
            "dealstage": deal.stage or "qualifiedtobuy",
            "pipeline": "default",
        }
        if deal.product_line:
            props["dealreg_product_line"] = deal.product_line
        record = Record(deals.new_id(), props, ms, ms, modified_by=sales_user[1])
        deals.records[record.id] = record
        sandbox.hubspot_assoc.setdefault(record.id, set()).add(company.id)
        if settings.hubspot_webhook_url:
            sandbox.outbox.append(
                Notice(
                    "hubspot",
                    {
                        "eventId": ms % 1_000_000,
                        "subscriptionId": 2,
                        "portalId": settings.hubspot_portal_id,
                        "appId": int(settings.hubspot_app_id),
                        "occurredAt": ms,
                        "attemptNumber": 0,
                        "objectId": int(record.id),
                        "subscriptionType": "deal.creation",
                        "changeSource": sales_user[0],
                        "sourceId": sales_user[1],
                    },
                )
            )
        return {"id": record.id}

    @router.post("/hubspot/seed")
    def hubspot_seed(seed: SeedRequest) -> dict[str, Any]:
        """``count`` deals modified evenly from ``modified_from_ms`` to ``modified_to_ms``."""
        deals = sandbox.hubspot["deals"]
        last = seed.modified_to_ms or deals.tick()
        step = (last - seed.modified_from_ms) / max(seed.count - 1, 1)
        for index in range(seed.count):
            ms = seed.modified_from_ms + int(index * step)
            record = Record(
                deals.new_id(),
                {
                    "dealname": f"Seeded deal {index}",
                    "dealstage": seed.stage,
                    "pipeline": "default",
                    "dealreg_registration_id": f"{seed.registration_prefix}{index}",
                },
                ms,
                ms,
                modified_by=sales_user[1],
            )
            deals.records[record.id] = record
        return {"created": seed.count, "modified_to_ms": last}

    @router.post("/salesforce/direct-opportunities")
    def sf_direct(deal: DirectDeal) -> dict[str, Any]:
        """An opportunity sales create by hand (no registration id), with its account."""
        accounts, opps = sandbox.salesforce["Account"], sandbox.salesforce["Opportunity"]
        ms = accounts.tick()
        account = Record(
            accounts.new_id(),
            {
                "Name": deal.company_name,
                "Website": deal.domain,
                "BillingCountryCode": deal.country,
            },
            ms,
            ms,
            modified_by=sf.SALES_USER,
        )
        accounts.records[account.id] = account
        ms = opps.tick()
        fields: dict[str, Any] = {
            "Name": deal.name,
            "StageName": deal.stage or "Prospecting",
            "AccountId": account.id,
        }
        if deal.product_line:
            fields["Dealreg_Product_Line__c"] = deal.product_line
        record = Record(opps.new_id(), fields, ms, ms, modified_by=sf.SALES_USER)
        opps.records[record.id] = record
        if settings.salesforce_webhook_url:
            sandbox.outbox.append(
                Notice(
                    "salesforce",
                    {
                        "id": record.id,
                        "changeType": "created",
                        "lastModifiedDate": sf.sf_time(record.updated_ms),
                        "lastModifiedById": sf.SALES_USER,
                    },
                )
            )
        return {"id": record.id}

    def sf_partners(opportunity_id: str) -> list[dict[str, Any]]:
        """The opportunity's OpportunityPartner records, with each partner account's name."""
        accounts = sandbox.salesforce["Account"].records
        return [
            {
                "Id": p.id,
                "AccountToId": p.properties.get("AccountToId"),
                "AccountName": getattr(
                    accounts.get(str(p.properties.get("AccountToId"))), "properties", {}
                ).get("Name"),
                "Role": p.properties.get("Role"),
                "IsPrimary": p.properties.get("IsPrimary", False),
            }
            for p in sandbox.salesforce["OpportunityPartner"].live()
            if p.properties.get("OpportunityId") == opportunity_id
        ]

    @router.get("/salesforce/opportunities")
    def sf_opportunities() -> list[dict[str, Any]]:
        return [
            {
                "Id": r.id,
                **r.properties,
                "LastModifiedDate": sf.sf_time(r.updated_ms),
                "IsDeleted": r.archived,
                "OpportunityPartners": sf_partners(r.id),
            }
            for r in sandbox.salesforce["Opportunity"].records.values()
        ]

    @router.post("/salesforce/opportunities/{opp_id}")
    def sf_sales_change(opp_id: str, change: SalesChange) -> dict[str, Any]:
        opps = sandbox.salesforce["Opportunity"]
        record = opps.records[opp_id]
        changes: dict[str, Any] = {}
        if change.stage is not None:
            changes["StageName"] = change.stage
        if change.amount is not None:
            changes["Amount"] = float(change.amount)
        if change.close_date is not None:
            changes["CloseDate"] = change.close_date
        changed = {k: v for k, v in changes.items() if record.properties.get(k) != v}
        if changed:
            record.properties.update(changed)
            record.updated_ms = opps.tick()
            record.modified_by = sf.SALES_USER
            if settings.salesforce_webhook_url:
                sandbox.outbox.append(
                    Notice(
                        "salesforce",
                        {
                            "id": record.id,
                            "changeType": "updated",
                            "lastModifiedDate": sf.sf_time(record.updated_ms),
                            "lastModifiedById": sf.SALES_USER,
                        },
                    )
                )
        return {"Id": record.id, **record.properties}

    _ = hs  # the HubSpot dialect module is used by the app; kept for symmetry
    return router
