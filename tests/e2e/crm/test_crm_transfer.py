"""A protection transfer moves the CRM opportunity's partner fields to the new holder: the
processes, Kafka and the CRM sandbox (HubSpot). One opportunity for the customer, before and
after; no second deal, no echo."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.e2e.crm.conftest import wire_hubspot
from tests.support.api import bearer, create_partner, registration_body, wait_for_status
from tests.support.crm_events import wait_until
from tests.support.crm_sandbox import CrmSandbox
from tests.support.stack import ServiceStack

pytestmark = pytest.mark.e2e


def _ours(sandbox: CrmSandbox, *registration_ids: str) -> list[dict[str, Any]]:
    """The live sandbox deals that carry one of these registration ids."""
    return [
        deal
        for deal in sandbox.control("GET", "/hubspot/deals")
        if not deal["archived"]
        and deal["properties"].get("dealreg_registration_id") in registration_ids
    ]


async def test_a_transfer_moves_the_crm_opportunity_to_the_new_holder_once(
    stack: ServiceStack, sandbox: CrmSandbox, crm_sync_port: int
) -> None:
    wire_hubspot(stack, sandbox, crm_sync_port)
    await asyncio.to_thread(stack.start_all)
    body = registration_body(domain="handover.com", name="Handover Industries")
    with httpx.Client(base_url=stack.url("deal_registration"), timeout=10) as intake:
        alpha = create_partner(intake, stack.admin_token, name="Alpha Handover Partners")
        bravo = create_partner(intake, stack.admin_token, name="Bravo Handover Partners")
        held = intake.post("/v1/registrations", json=body, headers=bearer(alpha["api_key"]))
        source = held.json()["id"]
        assert wait_for_status(intake, alpha["api_key"], source)["status"] == "approved"
        [before] = await wait_until(lambda: _ours(sandbox, source), timeout=10)
        waiting = intake.post("/v1/registrations", json=body, headers=bearer(bravo["api_key"]))
        target = waiting.json()["id"]
        assert wait_for_status(intake, bravo["api_key"], target)["status"] == "rejected"

        with httpx.Client(base_url=stack.url("conflict_resolver"), timeout=10) as resolver:
            moved = resolver.post(
                "/v1/protections/transfer",
                json={
                    "from_registration_id": source,
                    "to_registration_id": target,
                    "reason": "partner_merger",
                    "note": "Alpha merged into Bravo.",
                },
                headers=bearer(stack.admin_token),
            )
        assert moved.status_code == 200, moved.text

        def handed_over() -> dict[str, Any] | None:
            deals = _ours(sandbox, source, target)
            moved_to = [d for d in deals if d["properties"]["dealreg_registration_id"] == target]
            return moved_to[0] if moved_to else None

        after = await wait_until(handed_over, timeout=15)
        old_view = intake.get(f"/v1/registrations/{source}", headers=bearer(alpha["api_key"]))
        assert old_view.json()["status"] == "transferred"

    # The same opportunity, now carrying the new holder's partner and protection.
    assert after["id"] == before["id"]
    props = after["properties"]
    assert props["dealreg_partner_id"] == bravo["id"]
    assert props["dealreg_partner_name"] == "Bravo Handover Partners"
    assert props["dealreg_registration_status"] == "approved"
    assert props["dealstage"] == before["properties"]["dealstage"]

    # Exactly once, and no echo: two reconciliation sweeps and the webhooks change nothing.
    stats = await asyncio.to_thread(sandbox.control, "GET", "/stats")
    await asyncio.sleep(4.5)
    assert await asyncio.to_thread(_ours, sandbox, source, target) == [after]
    later = await asyncio.to_thread(sandbox.control, "GET", "/stats")
    assert later["creations"]["hubspot"] == stats["creations"]["hubspot"] == 1
    assert later["deal_writes"]["hubspot"] == stats["deal_writes"]["hubspot"]
    assert later["echo_writes"] == 0
