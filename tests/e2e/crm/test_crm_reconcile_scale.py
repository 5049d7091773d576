"""Reconciliation on a HubSpot portal of 25,000 deals, with the search cap and index lag."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest

from schemas.crm import CrmOpportunityChanged
from schemas.topics import CRM, DECISIONS
from tests.e2e.conftest import artifacts_dir
from tests.e2e.crm.conftest import HUBSPOT_SECRET, wire_hubspot
from tests.support.api import bearer
from tests.support.crm_events import EventTail, approval, publish, wait_until
from tests.support.crm_sandbox import CrmSandbox
from tests.support.stack import ServiceStack

pytestmark = pytest.mark.e2e

PORTAL_DEALS = 25_000
INDEX_DELAY_SECONDS = 2


@pytest.fixture
def portal(request: pytest.FixtureRequest) -> Iterator[CrmSandbox]:
    """A sandbox with HubSpot's 10,000-result cap, a lagging index and no webhooks at all:
    only the reconciliation sweep can notice what sales changes."""
    box = CrmSandbox(artifacts=artifacts_dir(request))
    box.start(
        hubspot_client_secret=HUBSPOT_SECRET,
        hubspot_search_index_delay_seconds=INDEX_DELAY_SECONDS,
        search_per_second=100,
    )
    yield box
    box.stop()


def _sync(stack: ServiceStack, path: str, method: str = "GET") -> dict[str, object]:
    answer = httpx.request(
        method, f"{stack.url('crm_sync')}{path}", headers=bearer(stack.admin_token), timeout=10
    )
    return dict(answer.json())


async def test_the_sweep_finds_every_sales_change_among_25000_deals(
    stack: ServiceStack, portal: CrmSandbox, crm_sync_port: int
) -> None:
    wire_hubspot(
        stack,
        portal,
        crm_sync_port,
        DEALREG_CRM_RECONCILE_INTERVAL_SECONDS="3600",  # sweeps only when the test asks
        DEALREG_CRM_HUBSPOT_SEARCH_PER_SECOND="50",
        DEALREG_CRM_RECONCILE_INDEX_LAG_SECONDS=str(INDEX_DELAY_SECONDS + 1),
    )
    stack.start("crm_sync")
    stack.wait_ready("crm_sync")
    approvals = [approval(i) for i in range(20)]
    await publish(stack.kafka_bootstrap, stack.topic_prefix, DECISIONS.name, approvals)
    await wait_until(lambda: portal.control("GET", "/stats")["hubspot_deals"] == 20, timeout=30)
    await wait_until(lambda: _sync(stack, "/v1/sync/status")["connectors"][0]["pending"] == 0, 30)
    ours = {
        d["properties"]["dealreg_registration_id"]: d
        for d in portal.control("GET", "/hubspot/deals")
    }
    first_written = min(_ms(d["updatedAt"]) for d in ours.values())
    # Sales imported or edited 25,000 other deals after our first mirror...
    portal.control(
        "POST", "/hubspot/seed", json={"count": PORTAL_DEALS, "modified_from_ms": first_written}
    )
    # ...and then moved ten of ours along the pipeline.
    changed = [a.subject for a in approvals[::2]]
    for registration_id in changed:
        portal.control(
            "POST",
            f"/hubspot/deals/{ours[registration_id]['id']}",
            json={"stage": "qualifiedtobuy"},
        )
    last_change = max(
        _ms(d["updatedAt"])
        for d in portal.control("GET", "/hubspot/deals")
        if d["properties"].get("dealreg_registration_id") in changed
    )

    async with EventTail(stack.kafka_bootstrap, stack.topic_prefix + CRM.name) as tail:
        deadline = time.monotonic() + 180
        found: set[str] = set()
        while found != set(changed):
            assert time.monotonic() < deadline, f"found {len(found)} of {len(changed)} changes"
            _sync(stack, "/v1/sync/reconcile", method="POST")
            for _ in range(10):
                await tail.poll()
            found = {
                e.subject
                for e in tail.of_type(CrmOpportunityChanged.event_type)
                if e.data.stage == "qualification"
            }
    status = _sync(stack, "/v1/sync/status")["connectors"][0]
    assert status["watermark"] is not None
    assert _ms(str(status["watermark"])) >= last_change
    assert status["dead_letters"] == 0


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)
