"""HubSpot connector (CRM v3 objects, private-app bearer token).

Deals are upserted in batches of up to 100 through ``POST /crm/v3/objects/deals/batch/upsert``
keyed by the unique custom property ``dealreg_registration_id``; a new deal's company is found
by domain (search ``IN``) or created, then associated (v4 default association). Changes are
found with ``POST /crm/v3/objects/deals/search`` on ``hs_lastmodifieddate``, in windows
(``hubspot_search``) because one query answers at most 10,000 results.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from crm_sync.adapters.http import CrmHttp, SlidingWindowLimiter, default_classify
from crm_sync.adapters.hubspot_search import modified_between
from crm_sync.domain.companies import CrmCompanyRecord, split_list
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
    # Every partner on the deal and its role, one per line (``domain.partners``).
    "partner_roles": "dealreg_partner_roles",
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
# A company's names and domains (``crm_sync.domain.companies``): alias domains are HubSpot's
# own ``hs_additional_domains``; former names are our custom property.
FORMER_NAMES_PROPERTY = "dealreg_former_names"
COMPANY_PROPERTIES = [
    "name",
    "domain",
    "hs_additional_domains",
    "country",
    "hs_parent_company_id",
    FORMER_NAMES_PROPERTY,
    "hs_lastmodifieddate",
]


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


def hubspot_limiter(
    per_ten_seconds: int,
    per_day: int,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> SlidingWindowLimiter:
    """The general limiter of one HubSpot token: the rolling 10 seconds, the day, and a tenth of
    the 10-second budget in any second (HubSpot's ``X-HubSpot-RateLimit-Secondly``). Without the
    last, a backlog spent the whole 10-second budget in its first seconds on small batches and
    then stalled for the rest of the window (tests/bench/bench_crm_drain.py)."""
    windows = [
        (per_ten_seconds, 10.0),
        (max(1, per_ten_seconds // 10), 1.0),
        (per_day, 86_400.0),
    ]
    return SlidingWindowLimiter(windows, clock=clock, sleep=sleep)


# The windows of ``hubspot_limiter``, in order.
TEN_SECONDLY, SECONDLY, DAILY = 0, 1, 2


def _header_int(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name, "").strip()
    return int(value) if value.isdigit() else None


def learn_rate_limits(limiter: SlidingWindowLimiter, response: httpx.Response) -> None:
    """HubSpot states the token's limits on every answer counted on them (a 429 too):
    ``X-HubSpot-RateLimit-Max`` calls per ``-Interval-Milliseconds``, ``-Secondly`` a second,
    ``-Daily`` a day, each with its ``-Remaining``. The limiter takes them as they are, so the
    configured budget holds only until the first answer (and a raised limit is used at once);
    calls HubSpot counts beyond ours (another app of the token) are counted as made now."""
    most = _header_int(response, "x-hubspot-ratelimit-max")
    if most:
        interval = _header_int(response, "x-hubspot-ratelimit-interval-milliseconds")
        limiter.learn(
            TEN_SECONDLY,
            limit=most,
            period=interval / 1000 if interval else None,
            remaining=_header_int(response, "x-hubspot-ratelimit-remaining"),
        )
    secondly = _header_int(response, "x-hubspot-ratelimit-secondly")
    if secondly or most:
        limiter.learn(
            SECONDLY,
            limit=secondly or max(1, (most or 0) // 10),
            remaining=_header_int(response, "x-hubspot-ratelimit-secondly-remaining"),
        )
    daily = _header_int(response, "x-hubspot-ratelimit-daily")
    if daily:
        limiter.learn(
            DAILY,
            limit=daily,
            remaining=_header_int(response, "x-hubspot-ratelimit-daily-remaining"),
        )


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
        self._limiter = hubspot_limiter(per_ten_seconds, per_day)
        self._http = CrmHttp(
            system=self.system,
            client=client,
            limiter=self._limiter,
            learn=self._learn,
            attempts=attempts,
            initial_backoff=initial_backoff,
            max_backoff=max_backoff,
            classify=default_classify,
        )
        self._search_limiter = SlidingWindowLimiter([(search_per_second, 1.0)])
        self._company_of_domain: dict[str, str] = {}
        # Pushes in flight (``outbound.PushPipeline``) may each need a new domain's company: the
        # first finds or creates it, the others wait for that and find it here.
        self._finding: dict[str, asyncio.Future[None]] = {}

    async def aclose(self) -> None:
        await self._http.client.aclose()

    def _learn(self, limiter: SlidingWindowLimiter, response: httpx.Response) -> None:
        """The general limits, from an answer counted on them (a search counts on its own)."""
        if limiter is self._limiter:
            learn_rate_limits(limiter, response)

    @property
    def limits(self) -> list[tuple[int, float]]:
        """The general limiter's (limit, period) windows, as configured or learnt."""
        return self._limiter.limits

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
        # Until every domain is known or was ours to find: a domain another push was finding is
        # known when that push is done, or, if it failed, taken over by one of its waiters (the
        # first to wake); whoever still waits, waits for that one, however many pushes are in
        # flight. A push whose own find-or-create fails raises: its deals are pushed again.
        while True:
            missing = [domain for domain in domains if domain not in self._company_of_domain]
            others = {self._finding[d] for d in missing if d in self._finding}
            mine = [domain for domain in missing if domain not in self._finding]
            if mine:
                found = asyncio.get_running_loop().create_future()
                self._finding.update(dict.fromkeys(mine, found))
                try:
                    await self._find_or_create_companies(mine, created)
                finally:
                    for domain in mine:
                        del self._finding[domain]
                    found.set_result(None)
            if not others:
                break
            await asyncio.gather(*others)
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

    async def _find_or_create_companies(
        self, missing: list[str], created: list[tuple[str, DealSeed]]
    ) -> None:
        """The companies of these domains, found by domain or created (``_company_of_domain``).
        Only one push at a time looks for a domain (``_finding``): never two companies."""
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

    # --- companies (families and aliases, ``crm_sync.companies``) ----------------------------
    def changed_companies(
        self, since: datetime, until: datetime
    ) -> AsyncIterator[list[CrmCompanyRecord]]:
        return self._changed_companies(since, until)

    async def _changed_companies(
        self, since: datetime, until: datetime
    ) -> AsyncIterator[list[CrmCompanyRecord]]:
        async def search(request: dict[str, Any]) -> dict[str, Any]:
            return await self._search("companies", request)

        async for raw in modified_between(
            search,
            since_ms=int(_ms(since)),
            until_ms=int(_ms(until)),
            properties=COMPANY_PROPERTIES,
        ):
            yield [_to_company(item) for item in raw if not item.get("archived")]

    async def read_companies(self, crm_ids: Sequence[str]) -> list[CrmCompanyRecord]:
        """These companies as they are now; deleted (archived) ones are left out."""
        companies: list[CrmCompanyRecord] = []
        for start in range(0, len(crm_ids), self.batch_size):
            chunk = list(crm_ids[start : start + self.batch_size])
            response = await self._http.call(
                "POST",
                "/crm/v3/objects/companies/batch/read",
                json={"inputs": [{"id": i} for i in chunk], "properties": COMPANY_PROPERTIES},
            )
            results = response.json().get("results", [])
            companies.extend(_to_company(item) for item in results if not item.get("archived"))
        return companies

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


def _to_company(item: dict[str, Any]) -> CrmCompanyRecord:
    props: dict[str, str | None] = item.get("properties", {})
    primary = (props.get("domain") or "").strip()
    aliases = split_list(props.get("hs_additional_domains"))
    return CrmCompanyRecord(
        crm_id=str(item["id"]),
        name=props.get("name") or "",
        domains=tuple(dict.fromkeys(d for d in (primary, *aliases) if d)),
        former_names=split_list(props.get(FORMER_NAMES_PROPERTY)),
        country=props.get("country") or None,
        parent_id=props.get("hs_parent_company_id") or None,
        modified_at=_parse_time(props.get("hs_lastmodifieddate") or item.get("updatedAt")),
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
