"""The direct-sales guard through the real services, Kafka and the CRM sandbox (HubSpot).

Sales create "ACME Inc" in the CRM, naming no product line, while a partner protects
"Acme Corporation": within seconds a ``DIRECT_ENCROACHMENT`` case is open, the CRM deal
carries "partner-protected until <date>", the holder's signed webhook says so naming no one,
and the note written to the CRM does not come back as a change.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest
from standardwebhooks import Webhook

from schemas.topics import CRM
from tests.e2e.crm.conftest import wire_hubspot, wire_salesforce
from tests.support.api import bearer, registration_body
from tests.support.crm_events import EventTail
from tests.support.crm_sandbox import CrmSandbox
from tests.support.databases import only_on
from tests.support.stack import ServiceStack
from tests.support.webhooks import Receiver

pytestmark = pytest.mark.e2e

T = TypeVar("T")
PARTNER = "Northwind Networks"


async def eventually(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], *, within: float
) -> T:
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if done(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)


def deliveries(receiver: Receiver, secret: str, kind: str) -> list[dict[str, Any]]:
    """The partner's deliveries of this type, each signature checked with its secret."""
    verified = [Webhook(secret).verify(body, headers) for headers, body in receiver.received]
    return [payload for payload in verified if payload["type"] == kind]


async def test_sales_opening_acme_inc_raises_a_case_against_acme_corporation(
    stack: ServiceStack, sandbox: CrmSandbox, crm_sync_port: int
) -> None:
    receiver = Receiver()
    receiver.server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    wire_hubspot(
        stack,
        sandbox,
        crm_sync_port,
        DEALREG_WEBHOOK_ALLOW_PRIVATE_ADDRESSES="true",
        DEALREG_WEBHOOK_POLL_INTERVAL_SECONDS="0.2",
    )
    await asyncio.to_thread(stack.start_all)
    admin = bearer(stack.admin_token)
    intake = httpx.AsyncClient(base_url=stack.url("deal_registration"), timeout=10)
    resolver = httpx.AsyncClient(base_url=stack.url("conflict_resolver"), timeout=10)
    try:
        created = await intake.post(
            "/v1/partners",
            json={"name": PARTNER, "tier": "gold", "product_lines": ["network-security"]},
            headers=admin,
        )
        partner = created.json()
        key = bearer(partner["api_key"])
        hook = await intake.put("/v1/webhook", json={"url": receiver.url}, headers=key)
        assert hook.status_code in (200, 201), hook.text
        secret = hook.json()["secret"]
        submitted = await intake.post(
            "/v1/registrations",
            json=registration_body(name="Acme Corporation", domain=None),
            headers=key,
        )
        registration_id = submitted.json()["id"]

        async def view() -> dict[str, Any]:
            answer = await intake.get(f"/v1/registrations/{registration_id}", headers=key)
            return dict(answer.json())

        approved = await eventually(view, lambda v: v["status"] == "approved", within=20)
        assert approved["status"] == "approved", approved
        until = approved["protection_expires_at"][:10]

        async with EventTail(stack.kafka_bootstrap, stack.topic_prefix + CRM.name) as tail:
            started = time.monotonic()
            direct = await asyncio.to_thread(
                sandbox.control,
                "POST",
                "/hubspot/direct-deals",
                json={"name": "ACME Inc firewall", "company_name": "ACME Inc", "country": "US"},
            )

            async def open_cases() -> list[dict[str, Any]]:
                answer = await resolver.get(
                    "/v1/conflicts",
                    params={"state": "open", "reason_code": "DIRECT_ENCROACHMENT"},
                    headers=admin,
                )
                return list(answer.json()["items"])

            # A bound on waiting for a loaded machine; the latency is printed, not asserted.
            [case] = await eventually(open_cases, lambda items: len(items) == 1, within=30)
            print(f"case opened {time.monotonic() - started:.3f}s after the direct deal")
            assert case["registration_id"] == registration_id
            assert case["evidence"]["direct_opportunity"]["opportunity_id"] == direct["id"]
            assert case["evidence"]["direct_opportunity"]["product_line"] == "*"
            assert case["due_at"] > case["opened_at"]

            # The CRM deal carries the protection for its owner.
            def note() -> str | None:
                deals = sandbox.control("GET", "/hubspot/deals")
                [deal] = [d for d in deals if d["id"] == direct["id"]]
                return deal["properties"].get("dealreg_partner_protected_until")

            async def crm_note() -> str | None:
                return await asyncio.to_thread(note)

            written = await eventually(crm_note, lambda n: n is not None, within=30)
            assert written == f"partner-protected until {until}"

            # The holder is told, signed, naming no one.
            async def told() -> list[dict[str, Any]]:
                return deliveries(receiver, secret, "registration.direct_encroachment")

            [payload] = await eventually(told, lambda items: len(items) == 1, within=30)
            assert payload["data"]["registration_id"] == registration_id
            assert payload["data"]["reason_code"] == "DIRECT_ENCROACHMENT"
            assert until in payload["data"]["reason"]
            text = json.dumps(payload)
            for name in ("ACME Inc", PARTNER, direct["id"], "hubspot"):
                assert name not in text
            history = await intake.get(f"/v1/registrations/{registration_id}/history", headers=key)
            assert "DIRECT_ENCROACHMENT" in [e["reason_code"] for e in history.json()["items"]]

            # No echo: our note came back as a webhook and a sweep, and changed nothing.
            await asyncio.sleep(4)  # two reconciliation sweeps
            with contextlib.suppress(TimeoutError):
                await tail.wait_for(lambda _: False, timeout=1)  # read what is there
            opened = [
                e
                for e in tail.events
                if e.type == "dealreg.crm.direct_opportunity_opened"
                and e.data.opportunity_id == direct["id"]
            ]
            assert len(opened) == 1
            assert len(await open_cases()) == 1
            stats = await asyncio.to_thread(sandbox.control, "GET", "/stats")
            assert stats["echo_writes"] == 0

        resolved = await resolver.post(
            f"/v1/conflicts/{case['id']}/resolution",
            json={"resolution": "partner_keeps", "reason": "Registered long before sales."},
            headers=admin,
        )
        assert resolved.status_code == 200, resolved.text
        assert resolved.json()["resolution"] == "partner_keeps"

        async def told_resolved() -> list[dict[str, Any]]:
            return deliveries(receiver, secret, "registration.direct_encroachment_resolved")

        [done] = await eventually(told_resolved, lambda items: len(items) == 1, within=30)
        assert "stands" in done["data"]["reason"]
        assert done["data"]["actor"] == "admin"
    finally:
        await intake.aclose()
        await resolver.aclose()
        receiver.server.close()


# PostgreSQL only: the same path as above in the other dialect (the storage is the same).
@only_on("postgresql")
async def test_a_salesforce_direct_opportunity_is_guarded_the_same_way(
    stack: ServiceStack, sandbox: CrmSandbox, crm_sync_port: int
) -> None:
    wire_salesforce(stack, sandbox, crm_sync_port)
    await asyncio.to_thread(stack.start_all)
    admin = bearer(stack.admin_token)
    intake = httpx.AsyncClient(base_url=stack.url("deal_registration"), timeout=10)
    resolver = httpx.AsyncClient(base_url=stack.url("conflict_resolver"), timeout=10)
    try:
        created = await intake.post(
            "/v1/partners",
            json={"name": PARTNER, "tier": "gold", "product_lines": ["network-security"]},
            headers=admin,
        )
        key = bearer(created.json()["api_key"])
        submitted = await intake.post(
            "/v1/registrations",
            json=registration_body(name="Acme Corporation", domain="acme.com"),
            headers=key,
        )
        registration_id = submitted.json()["id"]

        async def view() -> dict[str, Any]:
            answer = await intake.get(f"/v1/registrations/{registration_id}", headers=key)
            return dict(answer.json())

        approved = await eventually(view, lambda v: v["status"] == "approved", within=20)
        assert approved["status"] == "approved", approved
        direct = await asyncio.to_thread(
            sandbox.control,
            "POST",
            "/salesforce/direct-opportunities",
            json={"name": "ACME renewal", "company_name": "ACME Inc", "domain": "www.acme.com"},
        )

        async def open_cases() -> list[dict[str, Any]]:
            answer = await resolver.get(
                "/v1/conflicts", params={"reason_code": "DIRECT_ENCROACHMENT"}, headers=admin
            )
            return list(answer.json()["items"])

        [case] = await eventually(open_cases, lambda items: len(items) == 1, within=30)
        assert case["registration_id"] == registration_id

        def note() -> str | None:
            opportunities = sandbox.control("GET", "/salesforce/opportunities")
            [opportunity] = [o for o in opportunities if o["Id"] == direct["id"]]
            return opportunity.get("Dealreg_Partner_Protected_Until__c")

        async def crm_note() -> str | None:
            return await asyncio.to_thread(note)

        written = await eventually(crm_note, lambda n: n is not None, within=30)
        assert written == f"partner-protected until {approved['protection_expires_at'][:10]}"
        await asyncio.sleep(4)  # two reconciliation sweeps: the note changes nothing
        assert len(await open_cases()) == 1
        stats = await asyncio.to_thread(sandbox.control, "GET", "/stats")
        assert stats["echo_writes"] == 0
    finally:
        await intake.aclose()
        await resolver.aclose()
