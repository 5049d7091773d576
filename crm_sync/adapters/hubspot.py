"""HubSpot connector (CRM v3 objects, private-app bearer token).

Deals are upserted in batches of up to 100 through ``POST /crm/v3/objects/deals/batch/upsert``
keyed by the unique custom property ``dealreg_registration_id``; a new deal's company is found
by domain (search ``IN``) or created, then associated (v4 default association). Changes are
found with ``POST /crm/v3/objects/deals/search`` on ``hs_lastmodifieddate``, in windows
(``hubspot_search``) because one query answers at most 10,000 results.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from crm_sync.adapters.http import CrmHttp, SlidingWindowLimiter, default_classify
from crm_sync.adapters.hubspot_search import modified_between
from crm_sync.domain.model import (
    CrmDeal,
    DealSeed,
    DealWrite,
    SalesState,
    StageTable,
    WriteResult,
)
from crm_sync.ports import CrmRejectedError
from schemas.crm import CrmSystem

PROPERTY_OF: dict[str, str] = {
    "registration_id": "dealreg_registration_id",
    "partner_id": "dealreg_partner_id",
    "partner_name": "dealreg_partner_name",
    "product_line": "dealreg_product_line",
    "protection_expires_at": "dealreg_protection_expires_at",
    "registration_status": "dealreg_registration_status",
}
ID_PROPERTY = PROPERTY_OF["registration_id"]
# On a direct deal (not ours): "partner-protected until <date>" (crm_sync.protection_notes).
PROTECTED_UNTIL_PROPERTY = "dealreg_partner_protected_until"
SALES_PROPERTIES = (
    "dealname",
    "dealstage",
    "pipeline",
    "amount",
    "deal_currency_code",
    "closedate",
    "hubspot_owner_id",
    "hs_lastmodifieddate",
)
READ_PROPERTIES = [*PROPERTY_OF.values(), *SALES_PROPERTIES]


def _parse_time(raw: str | None) -> datetime:
    if not raw:
        return datetime.min.replace(tzinfo=UTC)
    if raw.isdigit():
        return datetime.fromtimestamp(int(raw) / 1000, UTC)
    return datetime.fromisoformat(raw.replace("Z", "+00:00"))


def _parse_amount(raw: str | None) -> Decimal | None:
    if raw in (None, ""):
        return None
    try:
        return Decimal(raw).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None


def _ms(moment: datetime) -> str:
    return str(max(0, int(moment.timestamp() * 1000)))


class HubSpotConnector:
    system: CrmSystem = "hubspot"
    batch_size = 100

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        stages: StageTable,
        pipeline: str,
        per_ten_seconds: int,
        per_day: int,
        search_per_second: int,
        attempts: int,
        initial_backoff: float,
        max_backoff: float,
        timeout: float = 10,
    ) -> None:
        self.stages = stages
        self._pipeline = pipeline
        client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            trust_env=False,
        )
        self._http = CrmHttp(
            system=self.system,
            client=client,
            limiter=SlidingWindowLimiter([(per_ten_seconds, 10.0), (per_day, 86_400.0)]),
            attempts=attempts,
            initial_backoff=initial_backoff,
            max_backoff=max_backoff,
            classify=default_classify,
        )
        self._search_limiter = SlidingWindowLimiter([(search_per_second, 1.0)])
        self._company_of_domain: dict[str, str] = {}

    async def aclose(self) -> None:
        await self._http.client.aclose()

    # --- writes -------------------------------------------------------------------------
    async def upsert(self, writes: Sequence[DealWrite]) -> list[WriteResult]:
        keyed = [write for write in writes if write.crm_id is None]
        results = {r.registration_id: r for r in (await self._upsert(keyed) if keyed else [])}
        for write in writes:
            if write.crm_id is not None:  # handed over: the CRM knows it by another key
                results[write.registration_id] = await self._update(write.crm_id, write)
        return [results[write.registration_id] for write in writes]

    async def _update(self, crm_id: str, write: DealWrite) -> WriteResult:
        response = await self._http.call(
            "PATCH",
            f"/crm/v3/objects/deals/{crm_id}",
            json={"properties": self._properties(write)},
        )
        body = response.json()
        return WriteResult(
            registration_id=write.registration_id,
            crm_id=str(body.get("id", crm_id)),
            modified_at=_parse_time(body.get("updatedAt")),
        )

    async def _upsert(self, writes: Sequence[DealWrite]) -> list[WriteResult]:
        inputs = [
            {
                "idProperty": ID_PROPERTY,
                "id": write.registration_id,
                "properties": self._properties(write),
            }
            for write in writes
        ]
        response = await self._http.call(
            "POST", "/crm/v3/objects/deals/batch/upsert", json={"inputs": inputs}
        )
        body = response.json()
        results: dict[str, WriteResult] = {}
        for item in body.get("results", []):
            registration_id = item.get("properties", {}).get(ID_PROPERTY)
            if registration_id:
                results[registration_id] = WriteResult(
                    registration_id=registration_id,
                    crm_id=str(item["id"]),
                    created=bool(item.get("new")),
                    modified_at=_parse_time(item.get("updatedAt")),
                )
        errors = "; ".join(str(error.get("message")) for error in body.get("errors", []))
        out = [
            results.get(write.registration_id)
            or WriteResult(
                registration_id=write.registration_id,
                crm_id=None,
                error=errors or "missing from the batch response",
                retryable=response.status_code != 207,
            )
            for write in writes
        ]
        created = {
            write.registration_id: write.seed
            for write in writes
            if write.seed is not None
            and results.get(write.registration_id) is not None
            and results[write.registration_id].created
        }
        if created:
            await self._associate_companies(
                [(results[rid].crm_id or "", seed) for rid, seed in created.items()]
            )
        return out

    def _properties(self, write: DealWrite) -> dict[str, str]:
        properties = {PROPERTY_OF[name]: value for name, value in write.changes.items()}
        properties[ID_PROPERTY] = write.registration_id
        if write.seed is not None:
            seed = write.seed
            properties.update(
                {
                    "dealname": seed.deal_name,
                    "amount": str(seed.amount),
                    "deal_currency_code": seed.currency,
                    "closedate": f"{seed.close_date.isoformat()}T00:00:00.000Z",
                    "pipeline": self._pipeline,
                    "dealstage": self.stages.initial,
                }
            )
        if write.amendment is not None:
            amended = write.amendment
            properties.update(
                {
                    "amount": str(amended.amount),
                    "deal_currency_code": amended.currency,
                    "closedate": f"{amended.close_date.isoformat()}T00:00:00.000Z",
                }
            )
        return properties

    async def _associate_companies(self, created: list[tuple[str, DealSeed]]) -> None:
        domains = sorted({seed.customer_domain for _, seed in created if seed.customer_domain})
        missing = [domain for domain in domains if domain not in self._company_of_domain]
        for start in range(0, len(missing), 100):
            chunk = missing[start : start + 100]
            found = await self._search(
                "companies",
                {
                    "filterGroups": [
                        {"filters": [{"propertyName": "domain", "operator": "IN", "values": chunk}]}
                    ],
                    "properties": ["domain"],
                    "limit": 100,
                },
            )
            for company in found.get("results", []):
                self._company_of_domain[company["properties"]["domain"]] = str(company["id"])
        to_create = [domain for domain in missing if domain not in self._company_of_domain]
        if to_create:
            names = {seed.customer_domain: seed for _, seed in created}
            response = await self._http.call(
                "POST",
                "/crm/v3/objects/companies/batch/create",
                json={
                    "inputs": [
                        {
                            "properties": {
                                "domain": domain,
                                "name": names[domain].customer_name,
                                "country": names[domain].customer_country,
                            }
                        }
                        for domain in to_create
                    ]
                },
            )
            for company in response.json().get("results", []):
                self._company_of_domain[company["properties"]["domain"]] = str(company["id"])
        pairs = [
            {"from": {"id": deal_id}, "to": {"id": self._company_of_domain[seed.customer_domain]}}
            for deal_id, seed in created
            if seed.customer_domain and seed.customer_domain in self._company_of_domain
        ]
        if pairs:
            await self._http.call(
                "POST",
                "/crm/v4/associations/deals/companies/batch/associate/default",
                json={"inputs": pairs},
            )

    async def note_protection(self, crm_id: str, note: str) -> None:
        """Write the protection note onto a direct deal (one property, by its id)."""
        await self._http.call(
            "PATCH",
            f"/crm/v3/objects/deals/{crm_id}",
            json={"properties": {PROTECTED_UNTIL_PROPERTY: note}},
        )

    # --- reads --------------------------------------------------------------------------
    async def read(self, crm_ids: Sequence[str]) -> list[CrmDeal]:
        deals: list[CrmDeal] = []
        for start in range(0, len(crm_ids), 100):
            chunk = list(crm_ids[start : start + 100])
            response = await self._http.call(
                "POST",
                "/crm/v3/objects/deals/batch/read",
                json={
                    "inputs": [{"id": crm_id} for crm_id in chunk],
                    "properties": READ_PROPERTIES,
                },
            )
            deals.extend(await self._to_deals(response.json().get("results", [])))
        return deals

    async def read_by_registration(self, registration_id: str) -> CrmDeal | None:
        try:
            response = await self._http.call(
                "GET",
                f"/crm/v3/objects/deals/{registration_id}",
                params={"idProperty": ID_PROPERTY, "properties": ",".join(READ_PROPERTIES)},
            )
        except CrmRejectedError:
            return None
        deals = await self._to_deals([response.json()])
        return deals[0] if deals else None

    async def changed_pages(self, since: datetime, until: datetime) -> AsyncIterator[list[CrmDeal]]:
        async def search(request: dict[str, Any]) -> dict[str, Any]:
            return await self._search("deals", request)

        async for raw in modified_between(
            search, since_ms=int(_ms(since)), until_ms=int(_ms(until)), properties=READ_PROPERTIES
        ):
            yield await self._to_deals(raw)

    async def _search(self, object_type: str, request: dict[str, Any]) -> dict[str, Any]:
        response = await self._http.call(
            "POST",
            f"/crm/v3/objects/{object_type}/search",
            json=request,
            limiter=self._search_limiter,
        )
        return dict(response.json())

    async def _to_deals(self, raw: list[dict[str, Any]]) -> list[CrmDeal]:
        deals = [self._to_deal(item) for item in raw]
        direct = [deal for deal in deals if deal.is_direct and not deal.archived]
        if not direct:
            return deals
        companies = await self._companies_of([deal.crm_id for deal in direct])
        return [
            _with_company(deal, companies.get(deal.crm_id)) if deal.is_direct else deal
            for deal in deals
        ]

    async def _companies_of(self, deal_ids: list[str]) -> dict[str, dict[str, str]]:
        response = await self._http.call(
            "POST",
            "/crm/v4/associations/deals/companies/batch/read",
            json={"inputs": [{"id": deal_id} for deal_id in deal_ids]},
        )
        company_of_deal: dict[str, str] = {}
        for row in response.json().get("results", []):
            targets = row.get("to", [])
            if targets:
                company_of_deal[str(row["from"]["id"])] = str(targets[0]["toObjectId"])
        if not company_of_deal:
            return {}
        companies = await self._http.call(
            "POST",
            "/crm/v3/objects/companies/batch/read",
            json={
                "inputs": [{"id": cid} for cid in sorted(set(company_of_deal.values()))],
                "properties": ["domain", "name", "country"],
            },
        )
        by_id = {str(c["id"]): c.get("properties", {}) for c in companies.json().get("results", [])}
        return {deal: by_id[cid] for deal, cid in company_of_deal.items() if cid in by_id}

    def _to_deal(self, item: dict[str, Any]) -> CrmDeal:
        props: dict[str, str | None] = item.get("properties", {})
        stage = props.get("dealstage")
        close = props.get("closedate")
        return CrmDeal(
            crm_id=str(item["id"]),
            registration_id=props.get(ID_PROPERTY) or None,
            owned={
                name: value
                for name, prop in PROPERTY_OF.items()
                if (value := props.get(prop)) is not None
            },
            sales=SalesState(
                stage=self.stages.name_of(stage),
                amount=_parse_amount(props.get("amount")),
                currency=props.get("deal_currency_code"),
                close_date=date.fromisoformat(close[:10]) if close else None,
                owner=props.get("hubspot_owner_id") or None,
                outcome=self.stages.outcome_of(stage),
            ),
            modified_at=_parse_time(props.get("hs_lastmodifieddate") or item.get("updatedAt")),
            archived=bool(item.get("archived", False)),
            name=props.get("dealname") or "",
            extra={"product_line": props.get(PROPERTY_OF["product_line"]) or ""},
        )


def _with_company(deal: CrmDeal, company: dict[str, str] | None) -> CrmDeal:
    if not company:
        return deal
    return replace(
        deal,
        company_name=company.get("name"),
        company_domain=company.get("domain"),
        company_country=company.get("country"),
    )
