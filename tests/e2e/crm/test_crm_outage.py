"""A CRM outage longer than any attempt budget: deals wait, none is dead-lettered."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from schemas.topics import DECISIONS
from tests.e2e.crm.conftest import wire_hubspot
from tests.support.api import bearer
from tests.support.crm_events import approval, publish, wait_until
from tests.support.crm_sandbox import CrmSandbox
from tests.support.stack import ServiceStack

pytestmark = pytest.mark.e2e

# Far more failed calls than the old budget (8 pushes x 4 HTTP tries = 32 per batch).
OUTAGE_CALLS = 120


async def test_a_long_503_outage_delays_deals_and_dead_letters_none(
    stack: ServiceStack, sandbox: CrmSandbox, crm_sync_port: int
) -> None:
    wire_hubspot(
        stack,
        sandbox,
        crm_sync_port,
        DEALREG_CRM_HTTP_BACKOFF_MAX_SECONDS="0.05",
        DEALREG_CRM_PUSH_BACKOFF_MAX_SECONDS="0.3",
    )
    stack.start("crm_sync")
    stack.wait_ready("crm_sync")
    base, admin = stack.url("crm_sync"), bearer(stack.admin_token)
    sandbox.control("POST", "/faults", json={"status": 503, "count": 10**6, "target": "hubspot"})
    approvals = [approval(i) for i in range(5)]
    await publish(stack.kafka_bootstrap, stack.topic_prefix, DECISIONS.name, approvals)

    await wait_until(
        lambda: sandbox.control("GET", "/stats")["faults_served"] >= OUTAGE_CALLS, timeout=60
    )
    assert httpx.get(f"{base}/v1/sync/dead-letters", headers=admin).json()["items"] == []
    sandbox.control("DELETE", "/faults")  # the CRM is back

    await wait_until(lambda: sandbox.control("GET", "/stats")["hubspot_deals"] == 5, timeout=30)
    deals = sandbox.control("GET", "/hubspot/deals")
    assert sorted(d["properties"]["dealreg_registration_id"] for d in deals) == sorted(
        a.subject for a in approvals
    )
    assert sandbox.control("GET", "/stats")["creations"]["hubspot"] == 5
    status = httpx.get(f"{base}/v1/sync/status", headers=admin).json()["connectors"][0]
    assert status["dead_letters"] == 0


async def test_outage_dead_letters_of_older_versions_are_revived_and_reach_the_crm(
    stack: ServiceStack, sandbox: CrmSandbox, crm_sync_port: int
) -> None:
    wire_hubspot(stack, sandbox, crm_sync_port, DEALREG_CRM_REVIVE_INTERVAL_SECONDS="0.5")
    stack.start("crm_sync")
    stack.wait_ready("crm_sync")
    base, admin = stack.url("crm_sync"), bearer(stack.admin_token)
    event = approval(7)
    sandbox.control("POST", "/faults", json={"fail_item_ids": [event.subject]})
    await publish(stack.kafka_bootstrap, stack.topic_prefix, DECISIONS.name, [event])
    (letter,) = await wait_until(
        lambda: httpx.get(f"{base}/v1/sync/dead-letters", headers=admin).json()["items"],
        timeout=30,
    )
    sandbox.control("DELETE", "/faults")  # the CRM answers again
    # What an older version left behind after an outage: a dead letter that is not about data.
    engine = create_async_engine(stack.database_urls["crm_sync"])
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE crm_dead_letters SET permanent = false WHERE id = :id"),
                {"id": letter["id"]},
            )
    finally:
        await engine.dispose()

    await wait_until(lambda: sandbox.control("GET", "/stats")["hubspot_deals"] == 1, timeout=30)
    (deal,) = sandbox.control("GET", "/hubspot/deals")
    assert deal["properties"]["dealreg_registration_id"] == event.subject
    assert httpx.get(f"{base}/v1/sync/dead-letters", headers=admin).json()["items"] == []
