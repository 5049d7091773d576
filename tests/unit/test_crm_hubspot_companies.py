"""Pushes in flight (``outbound.PushPipeline``) that all create deals of a new customer domain
create its HubSpot company once: the others wait for the first's find-or-create, and when that
fails, one of them takes it over, however many pushes wait."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import date
from decimal import Decimal

import httpx

from crm_sync.adapters.hubspot import HubSpotConnector
from crm_sync.domain.model import HUBSPOT_DEFAULT_STAGES, DealSeed, DealWrite


class _HubSpot:
    """Just enough of HubSpot: deals upserted as new, companies searched, created, associated;
    every answer a little late, so the two pushes interleave."""

    def __init__(self, *, failing_creates: int = 0) -> None:
        self.failing_creates = failing_creates  # the first creates answer 503 (an outage)
        self.companies: dict[str, str] = {}
        self.created: Counter[str] = Counter()
        self.associated: list[tuple[str, str]] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.01)
        body = json.loads(request.content or b"{}")
        path = request.url.path
        if path.endswith("/deals/batch/upsert"):
            return httpx.Response(200, json={"results": [self._deal(i) for i in body["inputs"]]})
        if path.endswith("/companies/search"):
            wanted = body["filterGroups"][0]["filters"][0]["values"]
            found = [self._company(d) for d in wanted if d in self.companies]
            return httpx.Response(200, json={"results": found})
        if path.endswith("/companies/batch/create"):
            if self.failing_creates:
                self.failing_creates -= 1
                return httpx.Response(503, json={"message": "try again"})
            results = []
            for item in body["inputs"]:
                domain = item["properties"]["domain"]
                self.created[domain] += 1
                self.companies[domain] = f"company-{domain}-{self.created[domain]}"
                results.append(self._company(domain))
            return httpx.Response(201, json={"results": results})
        if path.endswith("/batch/associate/default"):
            self.associated += [(p["from"]["id"], p["to"]["id"]) for p in body["inputs"]]
            return httpx.Response(200, json={"results": []})
        return httpx.Response(404)

    @staticmethod
    def _deal(item: dict[str, object]) -> dict[str, object]:
        return {"id": f"deal-{item['id']}", "new": True, "properties": item["properties"]}

    def _company(self, domain: str) -> dict[str, object]:
        return {"id": self.companies[domain], "properties": {"domain": domain}}


def _write(registration_id: str, domain: str) -> DealWrite:
    seed = DealSeed(
        deal_name=registration_id,
        amount=Decimal("100.00"),
        currency="EUR",
        close_date=date(2027, 1, 31),
        customer_name=domain,
        customer_domain=domain,
        customer_country="DE",
    )
    return DealWrite(registration_id=registration_id, changes={}, seed=seed)


def _connector(hubspot: _HubSpot) -> HubSpotConnector:
    connector = HubSpotConnector(
        base_url="http://hubspot.test",
        token="token",
        stages=HUBSPOT_DEFAULT_STAGES,
        pipeline="default",
        per_ten_seconds=100,
        per_day=1000,
        search_per_second=5,
        attempts=1,
        initial_backoff=0.01,
        max_backoff=0.01,
    )
    connector._http.client = httpx.AsyncClient(
        base_url="http://hubspot.test", transport=httpx.MockTransport(hubspot)
    )
    return connector


def test_two_pushes_of_one_new_domain_create_its_company_once() -> None:
    hubspot = _HubSpot()

    async def run() -> None:
        connector = _connector(hubspot)
        await asyncio.gather(
            connector.upsert([_write("r1", "shared.example"), _write("r2", "one.example")]),
            connector.upsert([_write("r3", "shared.example"), _write("r4", "two.example")]),
        )
        await connector.aclose()

    asyncio.run(run())
    assert hubspot.created == Counter({"shared.example": 1, "one.example": 1, "two.example": 1})
    shared = hubspot.companies["shared.example"]
    assert sorted(hubspot.associated) == sorted(
        [
            ("deal-r1", shared),
            ("deal-r3", shared),
            ("deal-r2", hubspot.companies["one.example"]),
            ("deal-r4", hubspot.companies["two.example"]),
        ]
    )


def test_a_push_waiting_on_two_failed_company_steps_finds_or_creates_the_company_itself() -> None:
    """Three pushes in flight need one new domain; the first two fail to create its company
    (an outage: their deals wait and are pushed again). The third must not end without the
    company: it creates it and associates its deal (it used to give up after two rounds and
    leave its new deal without a company, never associated later)."""
    hubspot = _HubSpot(failing_creates=2)

    async def run() -> list[object]:
        connector = _connector(hubspot)
        outcomes = await asyncio.gather(
            connector.upsert([_write("r1", "shared.example")]),
            connector.upsert([_write("r2", "shared.example")]),
            connector.upsert([_write("r3", "shared.example")]),
            return_exceptions=True,
        )
        await connector.aclose()
        return list(outcomes)

    outcomes = asyncio.run(run())
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(failed) == 2  # their deals are pushed again later
    assert hubspot.created == Counter({"shared.example": 1})
    assert hubspot.associated == [("deal-r3", hubspot.companies["shared.example"])]
