"""An approved registration's amendment reaches the CRM: the processes, the sandbox, Kafka."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.crm.conftest import wire_hubspot
from tests.support.api import bearer, create_partner, registration_body, wait_for_status
from tests.support.crm_events import wait_until
from tests.support.crm_sandbox import CrmSandbox
from tests.support.stack import ServiceStack

pytestmark = pytest.mark.e2e


def _deal_of(sandbox: CrmSandbox, registration_id: str) -> dict[str, object] | None:
    for deal in sandbox.control("GET", "/hubspot/deals"):
        if deal["properties"].get("dealreg_registration_id") == registration_id:
            return dict(deal)
    return None


def _amended(sandbox: CrmSandbox, registration_id: str) -> dict[str, object] | None:
    deal = _deal_of(sandbox, registration_id)
    props = dict(deal["properties"]) if deal else {}  # type: ignore[call-overload]
    return props if props.get("amount") == "150000.00" else None


async def test_an_approved_registrations_amendment_reaches_the_crm_and_key_fields_do_not(
    stack: ServiceStack, sandbox: CrmSandbox, crm_sync_port: int
) -> None:
    wire_hubspot(stack, sandbox, crm_sync_port)
    stack.start_all()
    with httpx.Client(base_url=stack.url("deal_registration"), timeout=10) as client:
        partner = create_partner(client, stack.admin_token, name="Northwind Networks")
        key = partner["api_key"]
        created = client.post(
            "/v1/registrations",
            json=registration_body(domain="amendable.com", name="Amendable Corporation"),
            headers=bearer(key),
        ).json()
        approved = wait_for_status(client, key, created["id"])
        assert approved["status"] == "approved"
        await wait_until(lambda: _deal_of(sandbox, created["id"]), timeout=30)

        refused = client.patch(
            f"/v1/registrations/{created['id']}",
            json={
                "customer": {"name": "Other Corporation", "domain": "other.com", "country": "US"}
            },
            headers=bearer(key),
        )
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == [
            "customer.name",
            "customer.domain",
        ]
        amended = client.patch(
            f"/v1/registrations/{created['id']}",
            json={
                "amount": {"value": "150000.00", "currency": "USD"},
                "expected_close_date": "2027-04-30",
            },
            headers=bearer(key),
        )
        assert amended.status_code == 202, amended.text
        assert amended.json()["amount"]["value"] == "150000.00"
        history = client.get(f"/v1/registrations/{created['id']}/history", headers=bearer(key))
        assert history.json()["items"][-1]["reason_code"] == "AMENDED"
    props = await wait_until(lambda: _amended(sandbox, created["id"]), timeout=30)
    assert str(props["closedate"]).startswith("2027-04-30")
    assert props["dealreg_registration_status"] == "approved"
