"""Roles on an opportunity end to end: the processes, Kafka and the CRM sandbox (HubSpot;
Salesforce on PostgreSQL). Reseller R is approved on an account; distributor D is invited and
accepts; consultant C files influence and is accepted without touching R's protection. The CRM
deal lists all three with their roles; each partner sees only its own part; a stranger gets
404; nothing echoes."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from crm_sync.adapters.hubspot import PROPERTY_OF
from crm_sync.adapters.salesforce import FIELD_OF
from tests.e2e.crm.test_crm_transfer import HUBSPOT, SALESFORCE, Crm
from tests.support.api import bearer, create_partner, registration_body, wait_for_status
from tests.support.crm_events import wait_until
from tests.support.crm_sandbox import CrmSandbox
from tests.support.databases import only_on
from tests.support.stack import ServiceStack

pytestmark = pytest.mark.e2e


async def test_reseller_distributor_and_consultant_are_all_on_the_hubspot_deal(
    stack: ServiceStack, sandbox: CrmSandbox, crm_sync_port: int
) -> None:
    deal = await _three_roles(stack, sandbox, crm_sync_port, HUBSPOT)
    raw = _raw(sandbox, HUBSPOT, deal["id"])
    assert raw["properties"][PROPERTY_OF["partner_roles"]] == deal["partner_roles"]


# PostgreSQL only: the same path in the other CRM (the storage is the same).
@only_on("postgresql")
async def test_reseller_distributor_and_consultant_are_salesforce_opportunity_partners(
    stack: ServiceStack, sandbox: CrmSandbox, crm_sync_port: int
) -> None:
    deal = await _three_roles(stack, sandbox, crm_sync_port, SALESFORCE)
    raw = _raw(sandbox, SALESFORCE, deal["id"])
    assert raw[FIELD_OF["partner_roles"]] == deal["partner_roles"]
    partners = {(p["AccountName"], p["Role"], p["IsPrimary"]) for p in raw["OpportunityPartners"]}
    assert partners == {
        ("Rook Resellers", "Sourced", True),
        ("Delta Distribution", "Distributor", False),
        ("Cobalt Consulting", "Influencer", False),
    }


def _raw(sandbox: CrmSandbox, crm: Crm, crm_id: str) -> dict[str, Any]:
    [raw] = [r for r in sandbox.control("GET", crm.path) if r[crm.id_field] == crm_id]
    return dict(raw)


async def _three_roles(
    stack: ServiceStack, sandbox: CrmSandbox, crm_sync_port: int, crm: Crm
) -> dict[str, str]:
    crm.wire(stack, sandbox, crm_sync_port)
    await asyncio.to_thread(stack.start_all)
    body = registration_body(domain="roles-e2e.com", name="Roles Industries")
    with httpx.Client(base_url=stack.url("deal_registration"), timeout=10) as intake:
        admin = stack.admin_token
        reseller = create_partner(intake, admin, name="Rook Resellers")
        distributor = create_partner(intake, admin, name="Delta Distribution")
        consultant = create_partner(intake, admin, name="Cobalt Consulting")
        stranger = create_partner(intake, admin, name="Stray Partners")
        r_key, d_key, c_key = reseller["api_key"], distributor["api_key"], consultant["api_key"]
        s_key = stranger["api_key"]

        held = intake.post("/v1/registrations", json=body, headers=bearer(r_key)).json()
        approved = wait_for_status(intake, r_key, held["id"])
        assert approved["status"] == "approved"
        assert approved["role"] == "sourced"
        expires = approved["protection_expires_at"]
        await wait_until(lambda: crm.deals(sandbox, held["id"]), timeout=30)

        # R invites D as distributor; D accepts.
        invite = intake.post(
            f"/v1/registrations/{held['id']}/co-sell-invitations",
            json={"partner_id": distributor["id"], "role": "distributor"},
            headers=bearer(r_key),
        )
        assert invite.status_code == 201, invite.text
        invitation = invite.json()
        received = intake.get("/v1/co-sell-invitations", headers=bearer(d_key)).json()["items"]
        assert [item["id"] for item in received] == [invitation["id"]]
        assert set(received[0]) == {
            "id",
            "role",
            "status",
            "customer",
            "product_line",
            "invited_at",
            "responded_at",
        }
        accepted = intake.post(
            f"/v1/co-sell-invitations/{invitation['id']}/accept", headers=bearer(d_key)
        )
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["status"] == "accepted"

        # C files influence on the same customer: accepted at once, R untouched.
        filed = intake.post(
            "/v1/registrations", json={**body, "role": "influence"}, headers=bearer(c_key)
        ).json()
        influence = wait_for_status(intake, c_key, filed["id"])
        assert (influence["status"], influence["reason_code"]) == ("accepted", "INFLUENCE_ACCEPTED")
        assert influence["protection_expires_at"] is None
        assert "another partner" not in (influence["reason"] or "")
        still = intake.get(f"/v1/registrations/{held['id']}", headers=bearer(r_key)).json()
        assert (still["status"], still["protection_expires_at"]) == ("approved", expires)

        # Visibility: the holder sees who accepted; D only its own part; C and a stranger
        # nothing of R or D.
        mine = intake.get(
            f"/v1/registrations/{held['id']}/co-sell-invitations", headers=bearer(r_key)
        ).json()["items"]
        assert [(i["partner_id"], i["role"], i["status"]) for i in mine] == [
            (distributor["id"], "distributor", "accepted")
        ]
        for key in (d_key, c_key, s_key):
            assert (
                intake.get(f"/v1/registrations/{held['id']}", headers=bearer(key)).status_code
                == 404
            )
            listed = intake.get(
                f"/v1/registrations/{held['id']}/co-sell-invitations", headers=bearer(key)
            )
            assert listed.status_code == 404
        for key in (r_key, c_key, s_key):
            one = intake.get(f"/v1/co-sell-invitations/{invitation['id']}", headers=bearer(key))
            assert one.status_code == 404
            assert intake.get("/v1/co-sell-invitations", headers=bearer(key)).json() == {
                "items": []
            }
        for key in (r_key, d_key, s_key):
            seen = intake.get(f"/v1/registrations/{filed['id']}", headers=bearer(key))
            assert seen.status_code == 404
        declined = intake.post(
            f"/v1/co-sell-invitations/{invitation['id']}/decline", headers=bearer(s_key)
        )
        assert declined.status_code == 404

    def listed_all_three() -> dict[str, str] | None:
        [deal] = crm.deals(sandbox, held["id"])
        return deal if deal.get("partner_roles", "").count("\n") == 2 else None

    deal = await wait_until(listed_all_three, timeout=30)
    assert deal["partner_roles"].splitlines() == [
        f"sourced: Rook Resellers [{reseller['id']}]",
        f"distributor: Delta Distribution [{distributor['id']}]",
        f"influence: Cobalt Consulting [{consultant['id']}]",
    ]
    assert deal["partner_id"] == reseller["id"]
    assert deal["registration_status"] == "approved"

    # One deal for the customer, and no echo: two reconciliation sweeps change nothing.
    stats = await asyncio.to_thread(sandbox.control, "GET", "/stats")
    await asyncio.sleep(4.5)
    assert await asyncio.to_thread(crm.deals, sandbox, held["id"]) == [deal]
    later = await asyncio.to_thread(sandbox.control, "GET", "/stats")
    assert later["creations"][crm.system] == 1
    assert later["deal_writes"][crm.system] == stats["deal_writes"][crm.system]
    assert later["echo_writes"] == 0
    return deal
