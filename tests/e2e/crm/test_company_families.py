"""Company families and aliases from the CRM, through the real services, Kafka and the CRM
sandbox (HubSpot).

Sales keep companies in HubSpot: "Acme Corporation" (acme.com, alias domain
acme-widgets.io, formerly "Roadrunner Supplies"), and "Globex Holdings" with its subsidiary
"Initech". crm_sync publishes them; the resolver keeps them. A registration naming the former
name or the alias domain is the same account as one naming the current name; parent and
subsidiary are one account on a product line whose policy says ``one_account`` and two
separate accounts on the others (``separate``, the default).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import select

from conflict_resolver.adapters.tables import crm_companies
from services.db import create_engine
from tests.e2e.crm.conftest import wire_hubspot
from tests.support.api import bearer, registration_body
from tests.support.crm_sandbox import CrmSandbox
from tests.support.stack import ServiceStack

pytestmark = pytest.mark.e2e

T = TypeVar("T")
LINES = ["network-security", "endpoint"]


async def eventually(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], *, within: float
) -> T:
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if done(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.2)


async def test_aliases_former_names_and_families_from_the_crm(
    stack: ServiceStack, sandbox: CrmSandbox, crm_sync_port: int
) -> None:
    wire_hubspot(stack, sandbox, crm_sync_port)
    await asyncio.to_thread(stack.start_all)
    admin = bearer(stack.admin_token)
    user = bearer(sandbox.credentials()["hubspot_user_token"])
    hubspot = httpx.AsyncClient(base_url=sandbox.url, timeout=10, headers=user)
    intake = httpx.AsyncClient(base_url=stack.url("deal_registration"), timeout=10)
    resolver = httpx.AsyncClient(base_url=stack.url("conflict_resolver"), timeout=10)
    engine = create_engine(stack.database_urls["conflict_resolver"])
    try:

        async def company(**properties: str) -> str:
            created = await hubspot.post(
                "/crm/v3/objects/companies", json={"properties": properties}
            )
            assert created.status_code == 201, created.text
            return str(created.json()["id"])

        await company(
            name="Acme Corporation",
            domain="acme.com",
            hs_additional_domains="acme-widgets.io; acme.co.uk",
            dealreg_former_names="Roadrunner Supplies",
            country="US",
        )
        globex = await company(name="Globex Holdings", domain="globex.com", country="US")
        await company(
            name="Initech", domain="initech.com", country="US", hs_parent_company_id=globex
        )

        async def known() -> list[str]:
            async with engine.connect() as connection:
                rows = await connection.execute(select(crm_companies.c.name))
                return sorted(rows.scalars())

        names = await eventually(known, lambda n: len(n) == 3, within=30)
        assert names == ["Acme Corporation", "Globex Holdings", "Initech"]

        document = (await resolver.get("/v1/policy", headers=admin)).json()["policy"]
        document["company_families"] = {
            "mode": "separate",
            "product_lines": {"endpoint": "one_account"},
        }
        published = await resolver.put("/v1/policy", json=document, headers=admin)
        assert published.status_code == 200, published.text

        async def partner(name: str) -> dict[str, str]:
            body = {"name": name, "tier": "gold", "product_lines": LINES}
            created = await intake.post("/v1/partners", json=body, headers=admin)
            assert created.status_code == 201, created.text
            return bearer(created.json()["api_key"])

        first, second = await partner("Northwind Networks"), await partner("Contoso Partners")

        async def register(key: dict[str, str], **customer: Any) -> dict[str, Any]:
            answer = await intake.post(
                "/v1/registrations", json=registration_body(**customer), headers=key
            )
            assert answer.status_code == 202, answer.text
            registration_id = answer.json()["id"]

            async def view() -> dict[str, Any]:
                got = await intake.get(f"/v1/registrations/{registration_id}", headers=key)
                return dict(got.json())

            return await eventually(view, lambda v: v["status"] != "submitted", within=20)

        # An alias domain and a former name are the CRM account of the current name.
        holder = await register(first, name="Acme Corporation", domain="acme.com")
        assert holder["status"] == "approved", holder
        by_former_name = await register(second, name="Roadrunner Supplies Inc", domain=None)
        assert by_former_name["status"] == "rejected", by_former_name
        assert by_former_name["reason_code"] == "ALREADY_REGISTERED"
        by_alias = await register(
            second, name="Acme Widgets", domain="acme-widgets.io", product_line="endpoint"
        )
        assert by_alias["status"] == "approved", by_alias  # the first on this line
        again = await register(
            first, name="ACME Corp", domain="shop.acme.co.uk", product_line="endpoint"
        )
        assert again["reason_code"] == "ALREADY_REGISTERED", again

        # Parent and subsidiary: two accounts by default, one where the policy says so.
        parent = await register(first, name="Globex Holdings", domain="globex.com")
        subsidiary = await register(second, name="Initech", domain="initech.com")
        assert (parent["status"], subsidiary["status"]) == ("approved", "approved")
        parent_line = await register(
            first, name="Globex Holdings", domain="globex.com", product_line="endpoint"
        )
        subsidiary_line = await register(
            second, name="Initech", domain="initech.com", product_line="endpoint"
        )
        assert parent_line["status"] == "approved", parent_line
        assert subsidiary_line["status"] == "rejected", subsidiary_line
        assert subsidiary_line["reason_code"] == "ALREADY_REGISTERED"

        # Reviewers see why: the CRM company, how it was recognised, and the family.
        record = await resolver.get(f"/v1/decisions/{subsidiary_line['id']}", headers=admin)
        assert record.status_code == 200, record.text
        evidence = record.json()["evidence"]["crm_company"]
        assert evidence["relation"] == "subsidiary of Globex Holdings"
        assert evidence["family_policy"] == "one_account"
        former = await resolver.get(f"/v1/decisions/{by_former_name['id']}", headers=admin)
        assert former.json()["evidence"]["crm_company"]["matched_by"] == "former_name"
    finally:
        await engine.dispose()
        for client in (hubspot, intake, resolver):
            await client.aclose()
