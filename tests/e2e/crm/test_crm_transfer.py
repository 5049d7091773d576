"""A protection transfer moves the CRM opportunity's partner fields to the new holder: the
processes, Kafka and the CRM sandbox (HubSpot; Salesforce on PostgreSQL). One opportunity for
the customer, before and after; no second deal, no echo."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from crm_sync.adapters.hubspot import PROPERTY_OF
from crm_sync.adapters.salesforce import FIELD_OF
from tests.e2e.crm.conftest import wire_hubspot, wire_salesforce
from tests.support.api import bearer, create_partner, registration_body, wait_for_status
from tests.support.crm_events import wait_until
from tests.support.crm_sandbox import CrmSandbox
from tests.support.databases import only_on
from tests.support.stack import ServiceStack

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Crm:
    """How a test reads one CRM of the sandbox in dealreg's canonical field names."""

    system: str
    wire: Callable[..., None]
    path: str
    id_field: str
    fields: dict[str, str]
    stage: str

    def deals(self, sandbox: CrmSandbox, *registration_ids: str) -> list[dict[str, str]]:
        """The live deals that carry one of these registration ids, canonical names first."""
        found = []
        for raw in sandbox.control("GET", self.path):
            record = raw.get("properties", raw)
            if raw.get("archived") or raw.get("IsDeleted"):
                continue
            canonical = {name: record.get(field) for name, field in self.fields.items()}
            if canonical["registration_id"] in registration_ids:
                found.append({**canonical, "id": raw[self.id_field], "stage": record[self.stage]})
        return found


HUBSPOT = Crm("hubspot", wire_hubspot, "/hubspot/deals", "id", PROPERTY_OF, "dealstage")
SALESFORCE = Crm(
    "salesforce", wire_salesforce, "/salesforce/opportunities", "Id", FIELD_OF, "StageName"
)


async def test_a_transfer_moves_the_crm_opportunity_to_the_new_holder_once(
    stack: ServiceStack, sandbox: CrmSandbox, crm_sync_port: int
) -> None:
    await _moves_once(stack, sandbox, crm_sync_port, HUBSPOT)


# PostgreSQL only: the same path as above in the other CRM (the storage is the same).
@only_on("postgresql")
async def test_a_transfer_moves_the_salesforce_opportunity_to_the_new_holder_once(
    stack: ServiceStack, sandbox: CrmSandbox, crm_sync_port: int
) -> None:
    await _moves_once(stack, sandbox, crm_sync_port, SALESFORCE)


async def _moves_once(
    stack: ServiceStack, sandbox: CrmSandbox, crm_sync_port: int, crm: Crm
) -> None:
    crm.wire(stack, sandbox, crm_sync_port)
    await asyncio.to_thread(stack.start_all)
    body = registration_body(domain="handover.com", name="Handover Industries")
    with httpx.Client(base_url=stack.url("deal_registration"), timeout=10) as intake:
        alpha = create_partner(intake, stack.admin_token, name="Alpha Handover Partners")
        bravo = create_partner(intake, stack.admin_token, name="Bravo Handover Partners")
        held = intake.post("/v1/registrations", json=body, headers=bearer(alpha["api_key"]))
        source = held.json()["id"]
        assert wait_for_status(intake, alpha["api_key"], source)["status"] == "approved"
        [before] = await wait_until(lambda: crm.deals(sandbox, source), timeout=30)
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

        def handed_over() -> dict[str, str] | None:
            deals = crm.deals(sandbox, source, target)
            moved_to = [d for d in deals if d["registration_id"] == target]
            return moved_to[0] if moved_to else None

        after = await wait_until(handed_over, timeout=30)

        # The partner's view follows the same event through deal_registration's own consumer,
        # which may land after the CRM write: wait for it as a partner polling would.
        old_view = wait_for_status(intake, alpha["api_key"], source, leaving="approved")
        assert old_view["status"] == "transferred"

    # The same opportunity, now carrying the new holder's partner and protection.
    assert after["id"] == before["id"]
    assert after["partner_id"] == bravo["id"]
    assert after["partner_name"] == "Bravo Handover Partners"
    assert after["registration_status"] == "approved"
    assert after["stage"] == before["stage"]

    # Exactly once, and no echo: two reconciliation sweeps and the webhooks change nothing.
    stats = await asyncio.to_thread(sandbox.control, "GET", "/stats")
    await asyncio.sleep(4.5)
    assert await asyncio.to_thread(crm.deals, sandbox, source, target) == [after]
    later = await asyncio.to_thread(sandbox.control, "GET", "/stats")
    assert later["creations"][crm.system] == stats["creations"][crm.system] == 1
    assert later["deal_writes"][crm.system] == stats["deal_writes"][crm.system]
    assert later["echo_writes"] == 0
