"""HubSpot mirroring end to end: the services, the sandbox, Kafka and a database as they run."""

from __future__ import annotations

import time

import httpx
import pytest

from schemas.crm import CrmDealClosed, CrmOpportunityChanged
from schemas.topics import CRM, DECISIONS
from tests.e2e.crm.conftest import wire_hubspot
from tests.support.api import bearer, create_partner, registration_body, wait_for_status
from tests.support.crm_events import EventTail, approval, publish, wait_until
from tests.support.crm_sandbox import CrmSandbox
from tests.support.databases import only_on
from tests.support.stack import ServiceStack

pytestmark = pytest.mark.e2e


def _deal_of(sandbox: CrmSandbox, registration_id: str) -> dict[str, object] | None:
    for deal in sandbox.control("GET", "/hubspot/deals"):
        if deal["properties"].get("dealreg_registration_id") == registration_id:
            return dict(deal)
    return None


async def test_approved_registration_reaches_hubspot_and_closed_won_comes_back(
    stack: ServiceStack, sandbox: CrmSandbox, crm_sync_port: int
) -> None:
    wire_hubspot(stack, sandbox, crm_sync_port)
    stack.start_all()
    with httpx.Client(base_url=stack.url("deal_registration"), timeout=10) as client:
        partner = create_partner(client, stack.admin_token, name="Northwind Networks")
        created = client.post(
            "/v1/registrations",
            json=registration_body(domain="acme.com"),
            headers=bearer(partner["api_key"]),
        ).json()
        approved = wait_for_status(client, partner["api_key"], created["id"])
    assert approved["status"] == "approved"
    seen_approved = time.monotonic()
    # The latencies are printed, not asserted: the bounds on waiting are for a loaded machine.
    deal = await wait_until(lambda: _deal_of(sandbox, created["id"]), timeout=30)
    mirror_latency = time.monotonic() - seen_approved
    props = deal["properties"]
    assert props["dealreg_partner_name"] == "Northwind Networks"
    assert props["dealreg_partner_id"] == partner["id"]
    assert props["dealreg_product_line"] == "network-security"
    assert props["dealreg_registration_status"] == "approved"
    assert props["amount"] == "125000.00"
    assert props["dealstage"] == "appointmentscheduled"
    assert props["dealreg_protection_expires_at"].startswith(approved["protection_expires_at"][:19])

    async with EventTail(stack.kafka_bootstrap, stack.topic_prefix + CRM.name) as tail:
        await tail.wait_for(lambda e: e.subject == created["id"], timeout=30)  # mirrored
        closed_at = time.monotonic()
        sandbox.control("POST", f"/hubspot/deals/{deal['id']}", json={"stage": "closedwon"})
        closed = await tail.wait_for(
            lambda e: e.type == CrmDealClosed.event_type and e.subject == created["id"],
            timeout=30,
        )
        close_latency = time.monotonic() - closed_at
        assert closed.data.outcome == "won"
        assert closed.correlationid == approved.get("correlation_id", closed.correlationid)
        await tail.poll()
        changes = [e for e in tail.of_type(CrmOpportunityChanged.event_type)]
        assert [c.data.stage for c in changes] == ["closed_won"]
    with httpx.Client(base_url=stack.url("deal_registration"), timeout=10) as client:
        won = await wait_until(
            lambda: _view_if(client, partner["api_key"], created["id"], status="won"),
            timeout=30,
        )
    won_latency = time.monotonic() - closed_at
    assert won["crm"] == {"system": "hubspot", "opportunity_id": deal["id"], "stage": "closed_won"}
    stats = sandbox.control("GET", "/stats")
    assert stats["echo_writes"] == 0
    assert stats["creations"]["hubspot"] == 1
    print(
        f"mirror latency {mirror_latency:.3f}s, close latency {close_latency:.3f}s, "
        f"registration won {won_latency:.3f}s after closed-won"
    )


def _view_if(
    client: httpx.Client, key: str, registration_id: str, *, status: str
) -> dict[str, object] | None:
    view = client.get(f"/v1/registrations/{registration_id}", headers=bearer(key)).json()
    return dict(view) if view["status"] == status else None


async def test_a_dropped_webhook_is_repaired_by_reconciliation(
    stack: ServiceStack, sandbox: CrmSandbox, crm_sync_port: int
) -> None:
    wire_hubspot(stack, sandbox, crm_sync_port, DEALREG_CRM_RECONCILE_INTERVAL_SECONDS="1")
    stack.start("crm_sync")
    stack.wait_ready("crm_sync")
    event = approval(1)
    await publish(stack.kafka_bootstrap, stack.topic_prefix, DECISIONS.name, [event])
    deal = await wait_until(lambda: _deal_of(sandbox, event.subject), timeout=30)
    async with EventTail(stack.kafka_bootstrap, stack.topic_prefix + CRM.name) as tail:
        await tail.wait_for(lambda e: e.subject == event.subject, timeout=30)
        sandbox.control("POST", "/faults", json={"drop_webhooks": 1000})
        sandbox.control("POST", f"/hubspot/deals/{deal['id']}", json={"stage": "closedlost"})
        closed = await tail.wait_for(
            lambda e: e.type == CrmDealClosed.event_type and e.subject == event.subject,
            timeout=30,
        )
    assert closed.data.outcome == "lost"
    assert sandbox.control("GET", "/stats")["webhooks_dropped"] >= 1

    # The sweep publishes what it found before it records that it ran: wait for the record.
    def connector() -> dict[str, object] | None:
        status = httpx.get(
            f"{stack.url('crm_sync')}/v1/sync/status", headers=bearer(stack.admin_token)
        ).json()
        (hubspot,) = status["connectors"]
        return dict(hubspot) if hubspot["last_reconciled_at"] is not None else None

    hubspot = await wait_until(connector, timeout=30)
    assert hubspot["dead_letters"] == 0


async def test_direct_opportunity_is_reported_open_then_closed(
    stack: ServiceStack, sandbox: CrmSandbox, crm_sync_port: int
) -> None:
    wire_hubspot(stack, sandbox, crm_sync_port)
    stack.start("crm_sync")
    stack.wait_ready("crm_sync")
    direct = sandbox.control(
        "POST",
        "/hubspot/direct-deals",
        json={
            "name": "Globex renewal",
            "company_name": "Globex",
            "domain": "globex.com",
            "product_line": "network-security",
        },
    )
    async with EventTail(stack.kafka_bootstrap, stack.topic_prefix + CRM.name) as tail:
        opened = await tail.wait_for(
            lambda e: e.type == "dealreg.crm.direct_opportunity_opened", timeout=30
        )
        assert opened.data.account_key == "d:globex.com"
        assert opened.data.opportunity_id == direct["id"]
        sandbox.control("POST", f"/hubspot/deals/{direct['id']}", json={"stage": "closedwon"})
        closed = await tail.wait_for(
            lambda e: e.type == "dealreg.crm.direct_opportunity_closed", timeout=30
        )
    assert closed.data.opportunity_id == direct["id"]


# PostgreSQL only (over a minute): the storm tests the CRM client's retries and idempotent
# creates; its storage paths are the ones the round trip above covers on both databases.
@only_on("postgresql")
async def test_storm_of_429s_and_500s_ends_with_exactly_one_deal_per_approval(
    stack: ServiceStack, sandbox: CrmSandbox, crm_sync_port: int
) -> None:
    wire_hubspot(
        stack,
        sandbox,
        crm_sync_port,
        DEALREG_CRM_PUSH_MAX_ATTEMPTS="50",
        DEALREG_CRM_HUBSPOT_SEARCH_PER_SECOND="4",
    )
    stack.start("crm_sync")
    stack.wait_ready("crm_sync")
    approvals = [approval(i) for i in range(1000)]
    sandbox.control("POST", "/faults", json={"status": 429, "count": 15, "target": "hubspot"})
    await publish(stack.kafka_bootstrap, stack.topic_prefix, DECISIONS.name, approvals[:500])
    await wait_until(lambda: sandbox.control("GET", "/stats")["hubspot_deals"] >= 100, timeout=60)
    sandbox.control("POST", "/faults", json={"status": 500, "count": 15, "target": "hubspot"})
    await publish(stack.kafka_bootstrap, stack.topic_prefix, DECISIONS.name, approvals[500:])
    await publish(
        stack.kafka_bootstrap, stack.topic_prefix, DECISIONS.name, approvals[:100]
    )  # redelivery
    await wait_until(
        lambda: sandbox.control("GET", "/stats")["hubspot_deals"] >= 1000, timeout=100, interval=0.5
    )
    deals = sandbox.control("GET", "/hubspot/deals")
    ids = [d["properties"]["dealreg_registration_id"] for d in deals]
    assert len(ids) == 1000
    assert set(ids) == {a.subject for a in approvals}
    stats = sandbox.control("GET", "/stats")
    assert stats["faults_served"] == 30
    assert stats["echo_writes"] == 0
    assert stats["creations"]["hubspot"] == 1000
