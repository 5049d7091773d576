"""Partners never see each other; retries with an Idempotency-Key register once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from deal_registration.adapters.tables import outbox, registrations
from tests.support.api import bearer, registration_body
from tests.support.databases import Databases
from tests.support.intake import IntakeApp, in_days, intake_app

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def intake(kafka_bootstrap: str, databases: Databases) -> AsyncIterator[IntakeApp]:
    async with intake_app(
        kafka_bootstrap=kafka_bootstrap,
        databases=databases,
        topic_prefix=f"t-intake-iso-{databases.kind}.",
    ) as app:
        yield app


def body(name: str = "Acme Corporation", **overrides: Any) -> dict[str, Any]:
    payload = registration_body(name=name)
    payload["expected_close_date"] = in_days(60)
    payload["description"] = "Secret notes of partner A"
    payload.update(overrides)
    return payload


async def count(intake: IntakeApp, partner_id: str) -> tuple[int, int]:
    async with intake.ctx.transactions.transaction() as session:
        ids = select(registrations.c.id).where(registrations.c.partner_id == partner_id)
        regs = (
            await session.execute(select(func.count()).select_from(ids.subquery()))
        ).scalar_one()
        events = (
            await session.execute(
                select(func.count()).where(outbox.c.envelope["subject"].as_string().in_(ids))
            )
        ).scalar_one()
    return int(regs), int(events)


async def test_a_partner_cannot_reach_another_partners_registration(intake: IntakeApp) -> None:
    partner_a = await intake.new_partner("Partner A")
    partner_b = await intake.new_partner("Partner B")
    mine = (await intake.register(partner_a["api_key"], body())).json()
    b = bearer(partner_b["api_key"])
    missing = "00000000-0000-4000-8000-000000000000"

    for target in (mine["id"], missing):
        calls = [
            await intake.client.get(f"/v1/registrations/{target}", headers=b),
            await intake.client.get(f"/v1/registrations/{target}/history", headers=b),
            await intake.client.post(f"/v1/registrations/{target}/withdraw", headers=b),
            await intake.client.post(f"/v1/registrations/{target}/extension", headers=b),
        ]
        assert [call.status_code for call in calls] == [404, 404, 404, 404]
        if target == mine["id"]:
            others = [call.json() for call in calls]
        else:
            absent = [call.json() for call in calls]
    assert others == absent  # exactly as for a registration that does not exist

    listed = await intake.client.get("/v1/registrations", headers=b)
    by_partner = await intake.client.get(
        "/v1/registrations", params={"partner_id": partner_a["id"]}, headers=b
    )
    assert listed.json()["items"] == []
    assert by_partner.json()["items"] == []
    everything_b_saw = " ".join(r.text for r in (listed, by_partner))
    for secret in (partner_a["id"], "Secret notes", "Partner A", mine["id"]):
        assert secret not in everything_b_saw
    assert (await intake.view(partner_a["api_key"], mine["id"]))["status"] == "submitted"


async def test_partner_keys_cannot_use_admin_calls(intake: IntakeApp) -> None:
    partner = await intake.new_partner("Curious Partner")
    key = bearer(partner["api_key"])
    calls = [
        await intake.client.post(
            "/v1/partners", json={"name": "x", "tier": "gold", "product_lines": ["a"]}, headers=key
        ),
        await intake.client.get(f"/v1/partners/{partner['id']}", headers=key),
        await intake.client.patch(
            f"/v1/partners/{partner['id']}", json={"status": "active"}, headers=key
        ),
        await intake.client.get(f"/v1/partners/{partner['id']}/api-keys", headers=key),
        await intake.client.post(f"/v1/partners/{partner['id']}/api-keys", headers=key),
        await intake.client.delete(f"/v1/api-keys/{partner['api_key_id']}", headers=key),
        await intake.client.post("/v1/ops-users", json={"name": "me"}, headers=key),
    ]
    assert [call.status_code for call in calls] == [403] * len(calls)


async def test_a_retry_returns_the_original_response(intake: IntakeApp) -> None:
    partner = await intake.new_partner("Retrying Partner")
    headers = {"Idempotency-Key": "retry-1"}
    first = await intake.register(partner["api_key"], body(), **headers)
    second = await intake.register(partner["api_key"], body(), **headers)
    other_body = await intake.register(
        partner["api_key"], body(amount={"value": "1.00", "currency": "USD"}), **headers
    )
    other_partner = await intake.new_partner("Same Key Other Partner")
    same_key_elsewhere = await intake.register(other_partner["api_key"], body(), **headers)

    assert (first.status_code, second.status_code) == (202, 202)
    assert second.json() == first.json()
    assert second.headers["location"] == first.headers["location"]
    assert other_body.status_code == 422
    assert other_body.json()["errors"][0]["field"] == "header.idempotency-key"
    assert same_key_elsewhere.status_code == 202  # keys are per caller
    assert await count(intake, partner["id"]) == (1, 1)


async def test_a_failed_request_does_not_burn_its_key(intake: IntakeApp) -> None:
    partner = await intake.new_partner("Correcting Partner")
    headers = {"Idempotency-Key": "fix-and-retry"}
    bad = await intake.register(partner["api_key"], body(product_line="not-mine"), **headers)
    good = await intake.register(partner["api_key"], body(), **headers)
    assert (bad.status_code, good.status_code) == (422, 202)


async def test_concurrent_retries_with_one_key_register_once(intake: IntakeApp) -> None:
    partner = await intake.new_partner("Impatient Partner")
    headers = {"Idempotency-Key": "same-instant"}
    responses = await asyncio.gather(
        *(intake.register(partner["api_key"], body(), **headers) for _ in range(12))
    )

    assert {response.status_code for response in responses} == {202}
    assert len({response.json()["id"] for response in responses}) == 1
    assert await count(intake, partner["id"]) == (1, 1)


async def test_concurrent_withdraw_retries_answer_alike(intake: IntakeApp) -> None:
    partner = await intake.new_partner("Withdrawing Partner")
    created = (await intake.register(partner["api_key"], body())).json()
    headers = {**bearer(partner["api_key"]), "Idempotency-Key": "withdraw-once"}
    url = f"/v1/registrations/{created['id']}/withdraw"
    responses = await asyncio.gather(*(intake.client.post(url, headers=headers) for _ in range(6)))

    assert {response.status_code for response in responses} == {202}
    assert await count(intake, partner["id"]) == (1, 2)  # submitted + one withdrawn
