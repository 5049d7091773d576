"""Salesforce mirroring end to end, and dead letters replayed by an operator."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from schemas.crm import CrmDealClosed
from schemas.topics import CRM, DECISIONS
from tests.e2e.crm.conftest import wire_hubspot, wire_salesforce
from tests.support.api import bearer
from tests.support.crm_events import EventTail, approval, publish, wait_until
from tests.support.crm_sandbox import CrmSandbox
from tests.support.databases import only_on
from tests.support.stack import ServiceStack

pytestmark = pytest.mark.e2e


def _opportunity(sandbox: CrmSandbox, registration_id: str) -> dict[str, object] | None:
    for opp in sandbox.control("GET", "/salesforce/opportunities"):
        if opp.get("Dealreg_Registration_Id__c") == registration_id:
            return dict(opp)
    return None


# PostgreSQL only: the Salesforce dialect is under test; its storage paths are those of the
# HubSpot round trip and of the dead-letter test below, which run on both databases.
@only_on("postgresql")
async def test_salesforce_opportunity_is_upserted_and_closed_won_comes_back(
    stack: ServiceStack, sandbox: CrmSandbox, crm_sync_port: int
) -> None:
    wire_salesforce(stack, sandbox, crm_sync_port)
    stack.start("crm_sync")
    stack.wait_ready("crm_sync")
    sandbox.control("POST", "/faults", json={"status": 500, "count": 3, "target": "salesforce"})
    event = approval(1)
    await publish(stack.kafka_bootstrap, stack.topic_prefix, DECISIONS.name, [event])
    opp = await wait_until(lambda: _opportunity(sandbox, event.subject), timeout=30)
    assert opp["Dealreg_Partner_Name__c"] == "Northwind Networks"
    assert opp["Dealreg_Registration_Status__c"] == "approved"
    assert opp["StageName"] == "Prospecting"
    async with EventTail(stack.kafka_bootstrap, stack.topic_prefix + CRM.name) as tail:
        await tail.wait_for(lambda e: e.subject == event.subject, timeout=30)
        sandbox.control(
            "POST", f"/salesforce/opportunities/{opp['Id']}", json={"stage": "Closed Won"}
        )
        closed = await tail.wait_for(
            lambda e: e.type == CrmDealClosed.event_type and e.subject == event.subject,
            timeout=30,
        )
    assert closed.data.outcome == "won"
    assert closed.data.crm_system == "salesforce"
    stats = sandbox.control("GET", "/stats")
    assert stats["echo_writes"] == 0
    assert stats["creations"]["salesforce"] == 1


async def test_a_deal_whose_data_the_crm_refuses_is_dead_lettered_shown_and_replayed(
    stack: ServiceStack, sandbox: CrmSandbox, crm_sync_port: int
) -> None:
    wire_hubspot(stack, sandbox, crm_sync_port)
    stack.start("crm_sync")
    stack.wait_ready("crm_sync")
    event = approval(2)
    sandbox.control("POST", "/faults", json={"fail_item_ids": [event.subject]})
    await publish(stack.kafka_bootstrap, stack.topic_prefix, DECISIONS.name, [event])
    base, admin = stack.url("crm_sync"), bearer(stack.admin_token)

    def dead() -> list[dict[str, object]]:
        return list(httpx.get(f"{base}/v1/sync/dead-letters", headers=admin).json()["items"])

    (letter,) = await wait_until(dead, timeout=20)
    assert letter["registration_id"] == event.subject
    assert "failing by request" in str(letter["reason"])
    status = httpx.get(f"{base}/v1/sync/status", headers=admin).json()["connectors"][0]
    assert status["dead_letters"] == 1
    assert status["failures"] >= 1
    shown = httpx.get(f"{base}/v1/sync/dead-letters/{letter['id']}", headers=admin).json()
    assert shown["permanent"] is True
    assert shown["deal"]["sync_state"] == "dead"
    async with EventTail(
        stack.kafka_bootstrap, stack.topic_prefix + "dealreg.dead-letters"
    ) as tail:
        await tail_raw(tail)
    sandbox.control("DELETE", "/faults")
    replay = httpx.post(f"{base}/v1/sync/dead-letters/replay", headers=admin, json={})
    assert replay.status_code == 202
    assert replay.json() == {"replayed": 1}
    await wait_until(lambda: sandbox.control("GET", "/stats")["hubspot_deals"] == 1, timeout=30)
    assert (
        httpx.get(f"{base}/v1/sync/status", headers=admin).json()["connectors"][0]["dead_letters"]
        == 0
    )
    assert httpx.get(f"{base}/v1/sync/status").status_code == 401


async def tail_raw(tail: EventTail) -> None:
    """The dead letter is also on the dead-letter topic (raw JSON, reason in headers).

    crm_sync sends it there after it commits the dead letter the API lists: read until it
    arrives (a bound, not a speed goal), not one fetch."""
    consumer = tail._consumer
    deadline = time.monotonic() + 30
    found: list[Any] = []
    while not any(dict(r.headers).get("dlq_reason") for r in found):
        assert time.monotonic() < deadline, f"no dead letter on the topic: {found}"
        records = await consumer.getmany(timeout_ms=500)
        found.extend(r for batch in records.values() for r in batch)
