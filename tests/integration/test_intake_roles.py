"""Roles through deal_registration (SQLite and PostgreSQL, Kafka for its outbox and consumers):
influence registrations and co-sell invitations, what each partner may see and do, and the
events each step emits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.accounts import account_key
from schemas.cosell import InfluenceAccepted
from schemas.registration import AmountData, CustomerData, RegistrationApproved, RegistrationSummary
from schemas.topics import REGISTRATIONS
from services.clock import new_id
from tests.support.api import bearer, registration_body
from tests.support.databases import Databases
from tests.support.intake import IntakeApp, eventually, in_days, intake_app
from tests.support.kafka_reader import read_all

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def intake(kafka_bootstrap: str, databases: Databases) -> AsyncIterator[IntakeApp]:
    async with intake_app(
        kafka_bootstrap=kafka_bootstrap,
        databases=databases,
        topic_prefix=f"t-intake-roles-{databases.kind}-{new_id()[:6]}.",
    ) as app:
        yield app


def body(domain: str, **overrides: Any) -> dict[str, Any]:
    payload = registration_body(name=domain.split(".")[0].title(), domain=domain)
    payload["expected_close_date"] = in_days(120)
    return payload | overrides


async def registered(intake: IntakeApp, key: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = await intake.register(key, payload)
    assert response.status_code == 202, response.text
    return dict(response.json())


async def approve(intake: IntakeApp, key: str, reg: dict[str, Any]) -> None:
    decided = datetime.now(UTC)
    customer = reg["customer"]
    await intake.publish(
        RegistrationApproved(
            registration_id=reg["id"],
            account_key=account_key(
                name=customer["name"], domain=customer["domain"], country=customer["country"]
            ),
            product_line=reg["product_line"],
            decided_at=decided,
            protection_expires_at=decided + timedelta(days=90),
            policy_version=1,
            rule="approve",
            reason="Approved.",
            registration=RegistrationSummary(
                partner_id=reg["partner_id"],
                partner_name="Holder",
                customer=CustomerData(**customer),
                product_line=reg["product_line"],
                deal_type=reg["deal_type"],
                amount=AmountData(**reg["amount"]),
                expected_close_date=reg["expected_close_date"],
                submitted_at=reg["submitted_at"],
            ),
        ),
        registration=reg,
    )
    await intake.wait_for(key, reg["id"], lambda v: v["status"] == "approved")


async def test_an_influence_registration_is_accepted_never_protected_and_filed_once(
    intake: IntakeApp,
) -> None:
    consultant = await intake.new_partner("Cobalt Consulting")
    key, domain = consultant["api_key"], f"infl-{new_id()[:8]}.com"
    claim = await registered(intake, key, body(domain, role="influence"))
    assert (claim["role"], claim["status"]) == ("influence", "submitted")

    again = await intake.register(key, body(domain, role="influence"))
    assert again.status_code == 409, again.text
    assert claim["id"] in again.json()["detail"]
    # Its own sourced claim on the same customer is another matter: the rules decide it.
    assert (await intake.register(key, body(domain))).status_code == 202

    await intake.publish(
        InfluenceAccepted(
            registration_id=claim["id"],
            account_key=f"d:{domain}",
            product_line=claim["product_line"],
            partner_id=consultant["id"],
            partner_name="Cobalt Consulting",
            decided_at=datetime.now(UTC),
            policy_version=1,
            reason="Recorded.",
        ),
        registration=claim,
    )
    view = await intake.wait_for(key, claim["id"], lambda v: v["status"] != "submitted")
    assert (view["status"], view["reason_code"]) == ("accepted", "INFLUENCE_ACCEPTED")
    assert view["protection_expires_at"] is None
    listed = await intake.client.get(
        "/v1/registrations", params={"status": "accepted"}, headers=bearer(key)
    )
    assert [item["id"] for item in listed.json()["items"]] == [claim["id"]]
    extension = await intake.client.post(
        f"/v1/registrations/{claim['id']}/extension", headers=bearer(key)
    )
    assert extension.status_code == 409
    withdrawn = await intake.client.post(
        f"/v1/registrations/{claim['id']}/withdraw", headers=bearer(key)
    )
    assert withdrawn.json()["status"] == "withdrawn"
    # Withdrawn, it is no longer live: the partner may declare influence again.
    assert (await intake.register(key, body(domain, role="influence"))).status_code == 202


async def test_co_sell_invitations_each_step_and_who_may_see_it(
    intake: IntakeApp, kafka_bootstrap: str
) -> None:
    holder = await intake.new_partner("Rook Resellers")
    invitee = await intake.new_partner("Delta Distribution")
    stranger = await intake.new_partner("Stray Partners")
    h_key, i_key, s_key = holder["api_key"], invitee["api_key"], stranger["api_key"]
    domain = f"cosell-{new_id()[:8]}.com"
    reg = await registered(intake, h_key, body(domain))
    path = f"/v1/registrations/{reg['id']}/co-sell-invitations"
    invite = {"partner_id": invitee["id"], "role": "distributor"}

    async def post(url: str, key: str, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        return await intake.client.post(url, headers={**bearer(key), **(headers or {})}, **kwargs)

    assert (await post(path, h_key, json=invite)).status_code == 409  # not approved yet
    await approve(intake, h_key, reg)
    assert (await post(path, s_key, json=invite)).status_code == 404  # not its registration
    for bad in ({"partner_id": holder["id"]}, {"partner_id": new_id()}, {"partner_id": "x"}):
        refused = await post(path, h_key, json={**invite, **bad})
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == ["partner_id"]
    assert (await post(path, h_key, json={**invite, "role": "vendor"})).status_code == 422

    first = await post(path, h_key, json=invite, headers={"Idempotency-Key": "inv-1"})
    assert first.status_code == 201, first.text
    replay = await post(path, h_key, json=invite, headers={"Idempotency-Key": "inv-1"})
    assert replay.json() == first.json()
    assert (await post(path, h_key, json=invite)).status_code == 409  # one live invitation
    first_id = first.json()["id"]
    declined = await post(f"/v1/co-sell-invitations/{first_id}/decline", i_key)
    assert declined.json()["status"] == "declined"
    assert (await post(f"/v1/co-sell-invitations/{first_id}/accept", i_key)).status_code == 409

    second = (await post(path, h_key, json={**invite, "role": "reseller"})).json()
    for key in (h_key, s_key):
        assert (
            await post(f"/v1/co-sell-invitations/{second['id']}/accept", key)
        ).status_code == 404
    accepted = await post(f"/v1/co-sell-invitations/{second['id']}/accept", i_key)
    assert (accepted.json()["status"], accepted.json()["role"]) == ("accepted", "reseller")

    mine = (await intake.client.get(path, headers=bearer(h_key))).json()["items"]
    assert [(i["role"], i["status"], i["partner_name"]) for i in mine] == [
        ("distributor", "declined", "Delta Distribution"),
        ("reseller", "accepted", "Delta Distribution"),
    ]
    received = (await intake.client.get("/v1/co-sell-invitations", headers=bearer(i_key))).json()[
        "items"
    ]
    assert [i["id"] for i in received] == [first_id, second["id"]]
    assert all(
        set(i) == {"id", "role", "status", "customer", "product_line", "invited_at", "responded_at"}
        for i in received
    )
    assert (await intake.client.get(path, headers=bearer(i_key))).status_code == 404
    assert (await intake.client.get(path, headers=bearer(s_key))).status_code == 404
    ops_view = await intake.admin("GET", path)
    assert [i["status"] for i in ops_view.json()["items"]] == ["declined", "accepted"]

    def co_sell_events(events: list[Any]) -> list[tuple[str, str]]:
        return [
            (e.type.removeprefix("dealreg.cosell."), e.data.invitation_id)
            for e in events
            if e.type.startswith("dealreg.cosell.") and e.subject == reg["id"]
        ]

    events = await eventually(
        lambda: read_all(kafka_bootstrap, intake.topic_prefix + REGISTRATIONS.name),
        lambda es: len(co_sell_events(es)) == 4,
    )
    assert co_sell_events(events) == [
        ("invited", first_id),
        ("declined", first_id),
        ("invited", second["id"]),
        ("accepted", second["id"]),
    ]
    assert {e.partitionkey for e in events if e.subject == reg["id"]} == {f"d:{domain}"}
