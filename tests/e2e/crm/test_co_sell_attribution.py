"""Issue 16's proof end to end: roles, attribution and the figures joined, through the three
services as processes, Kafka and the CRM sandbox (HubSpot).

Reseller R is approved on an account; distributor D is invited and accepts; consultant C files
influence and is accepted without touching R. Sales ops' account view lists all three. The
deal is closed-won in the sandbox under a published ``role_weights`` policy: the resolver's
``DealAttributed`` credits R, D and C by the weights (amounts computed here by hand); the CRM
deal lists all three; R's, D's and C's figures match by hand (C's and D's as influenced
revenue); each partner's key sees only its own figures.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from schemas.attribution import DealAttributed
from schemas.topics import DECISIONS
from tests.e2e.crm.conftest import wire_hubspot
from tests.e2e.crm.test_partner_value import _deal_of, _figures, _won_figures
from tests.support.api import bearer, create_partner, registration_body, wait_for_status
from tests.support.crm_events import EventTail, wait_until
from tests.support.crm_sandbox import CrmSandbox
from tests.support.stack import ServiceStack

pytestmark = pytest.mark.e2e

# Weights 5 : 3 : 2 of 120,000.00 -> 60,000.00, 36,000.00 and 24,000.00 (by hand).
WEIGHTS = {"sourced": "5", "distributor": "3", "influence": "2", "reseller": "1"}
WON = "120000.00"
CUSTOMER = {"name": "Proof Industries", "domain": "proof16-e2e.com"}


async def test_a_co_sold_and_influenced_win_credits_every_partner_by_the_role_weights(
    stack: ServiceStack, sandbox: CrmSandbox, crm_sync_port: int
) -> None:
    wire_hubspot(stack, sandbox, crm_sync_port)
    stack.start_all()
    admin = stack.admin_token
    with httpx.Client(base_url=stack.url("conflict_resolver"), timeout=10) as resolver:
        draft = {"attribution": {"model": "role_weights", "role_weights": WEIGHTS}}
        put = resolver.put("/v1/policy", json=draft, headers=bearer(admin))
        assert put.status_code == 200, put.text

    with httpx.Client(base_url=stack.url("deal_registration"), timeout=10) as intake:
        reseller = create_partner(intake, admin, name="Rook Resellers")
        distributor = create_partner(intake, admin, name="Delta Distribution")
        consultant = create_partner(intake, admin, name="Cobalt Consulting")
        r_key, d_key, c_key = reseller["api_key"], distributor["api_key"], consultant["api_key"]
        body = registration_body(**CUSTOMER)
        held = intake.post("/v1/registrations", json=body, headers=bearer(r_key)).json()
        assert wait_for_status(intake, r_key, held["id"])["status"] == "approved"

        invite = intake.post(
            f"/v1/registrations/{held['id']}/co-sell-invitations",
            json={"partner_id": distributor["id"], "role": "distributor"},
            headers=bearer(r_key),
        )
        assert invite.status_code == 201, invite.text
        accepted = intake.post(
            f"/v1/co-sell-invitations/{invite.json()['id']}/accept", headers=bearer(d_key)
        )
        assert accepted.status_code == 200, accepted.text

        # C's influence goes through the resolver after D's acceptance (one account, one
        # partition, in order): once it is decided, the resolver knows D too.
        filed = intake.post(
            "/v1/registrations", json={**body, "role": "influence"}, headers=bearer(c_key)
        ).json()
        assert wait_for_status(intake, c_key, filed["id"])["status"] == "accepted"
        still = intake.get(f"/v1/registrations/{held['id']}", headers=bearer(r_key)).json()
        assert still["status"] == "approved"

        # Sales ops see every partner active on the customer; a partner may not look. The
        # holder (and so its co-seller) comes from the figures' own consumer group, which may
        # lag behind the partner's view waited for above: wait for all three.
        def all_three() -> dict[str, Any] | None:
            view = intake.get(
                "/v1/analytics/accounts",
                params={**CUSTOMER, "country": "US"},
                headers=bearer(admin),
            )
            assert view.status_code == 200, view.text
            return dict(view.json()) if len(view.json()["partners"]) == 3 else None

        account = await wait_until(all_three, timeout=30)
        assert [(p["partner_id"], p["role"]) for p in account["partners"]] == [
            (reseller["id"], "sourced"),
            (distributor["id"], "distributor"),
            (consultant["id"], "influence"),
        ]
        forbidden = intake.get(
            "/v1/analytics/accounts", params=CUSTOMER, headers=bearer(r_key)
        ).status_code
        assert forbidden == 403

    def lists_all_three() -> dict[str, Any] | None:
        deal = _deal_of(sandbox, held["id"])
        roles = (deal or {}).get("properties", {}).get("dealreg_partner_roles") or ""
        return deal if roles.count("\n") == 2 else None

    deal = await wait_until(lists_all_three, timeout=30)
    assert deal["properties"]["dealreg_partner_roles"].splitlines() == [
        f"sourced: Rook Resellers [{reseller['id']}]",
        f"distributor: Delta Distribution [{distributor['id']}]",
        f"influence: Cobalt Consulting [{consultant['id']}]",
    ]

    async with EventTail(stack.kafka_bootstrap, stack.topic_prefix + DECISIONS.name) as tail:
        sandbox.control(
            "POST", f"/hubspot/deals/{deal['id']}", json={"stage": "closedwon", "amount": WON}
        )
        credited = await tail.wait_for(
            lambda e: e.type == DealAttributed.event_type and e.subject == held["id"], timeout=30
        )
    attributed = credited.data
    assert (attributed.model, str(attributed.amount.value)) == ("role_weights", WON)
    assert {
        (line.partner_id, line.role, str(line.amount.value), str(line.share))
        for line in attributed.lines
    } == {
        (reseller["id"], "sourced", "60000.00", "0.500000"),
        (distributor["id"], "distributor", "36000.00", "0.300000"),
        (consultant["id"], "influence", "24000.00", "0.200000"),
    }
    assert all(line.joined_at is not None for line in attributed.lines)
    # The CRM deal still lists all three after the win.
    after = _deal_of(sandbox, held["id"])
    assert after is not None
    assert after["properties"]["dealreg_partner_roles"].count("\n") == 2

    with httpx.Client(base_url=stack.url("deal_registration"), timeout=10) as intake:
        # The win (CrmDealClosed, from crm_sync) and the credit (DealAttributed, from the
        # resolver) reach the figures on two topics, in either order: wait for both.
        mine = await wait_until(lambda: _won_figures(intake, r_key), timeout=30)
        # By hand: R registered once, approved, won; 60,000 sourced, nothing influenced,
        # nothing still protected.
        (rook,) = mine["partners"]
        assert rook["partner_id"] == reseller["id"]
        assert (rook["registrations"], rook["approved"], rook["decided"]) == (1, 1, 1)
        assert (rook["won"], rook["registration_to_won"], rook["win_rate"]) == (1, 1.0, 1.0)
        assert rook["sourced_revenue"]["value"] == "60000.00"
        assert rook["influenced_revenue"]["value"] == "0.00"
        assert rook["protected_pipeline"]["value"] == "0.00"

        # C: one influence registration, never won by itself; 24,000 influenced.
        theirs = await wait_until(
            lambda: _credited(intake, c_key, "influenced_revenue"), timeout=30
        )
        (cobalt,) = theirs["partners"]
        assert cobalt["partner_id"] == consultant["id"]
        assert (cobalt["registrations"], cobalt["won"]) == (1, 0)
        assert cobalt["sourced_revenue"]["value"] == "0.00"
        assert cobalt["influenced_revenue"]["value"] == "24000.00"

        # D: no registration of its own; 36,000 influenced as distributor.
        (delta,) = _figures(intake, d_key)["partners"]
        assert delta["partner_id"] == distributor["id"]
        assert delta["registrations"] == 0
        assert delta["influenced_revenue"]["value"] == "36000.00"

        # Ops see all three with the same figures.
        everyone = {p["partner_id"]: p for p in _figures(intake, admin)["partners"]}
        assert everyone[reseller["id"]]["sourced_revenue"]["value"] == "60000.00"
        assert everyone[consultant["id"]]["influenced_revenue"]["value"] == "24000.00"
        assert everyone[distributor["id"]]["influenced_revenue"]["value"] == "36000.00"


def _credited(client: httpx.Client, key: str, figure: str) -> dict[str, Any] | None:
    figures = _figures(client, key)
    (partner,) = figures["partners"]
    return figures if partner[figure]["value"] != "0.00" else None
