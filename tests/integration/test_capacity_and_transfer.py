"""Capacity caps, protection transfers and expiry notices through the real services (issue 15,
items 4, 5 and the notices of 1):
deal_registration and the real conflict_resolver on one Kafka, read back as the partner reads
it (view, history, signed webhook)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from tests.integration.test_partner_outcomes import (
    World,
    history,
    partner_with_webhook,
    register,
    says_nothing_of,
    told,
    until,
    webhooks_of,
    world,
)
from tests.support.api import bearer

pytestmark = pytest.mark.integration

__all__ = ["world"]  # the module's own resolver and intake (a module-scoped fixture)


async def test_the_gold_cap_of_three_refuses_the_fourth(world: World) -> None:
    """The policy caps gold partners at three live protections: three registrations on three
    customers are approved, the fourth is rejected CAPACITY_LIMIT, and the partner is told."""
    policy = (await world.resolver.get("/v1/policy", headers=bearer(world.ops_key))).json()
    document = {**policy["policy"], "capacity": {"tiers": {"gold": {"overall": 3}}}}
    published = await world.resolver.put("/v1/policy", json=document, headers=bearer(world.ops_key))
    assert published.status_code == 200, published.text
    gold = await partner_with_webhook(world, "Gold Capacity Partners")
    for number in range(3):
        reg = await register(world, gold, f"Capacity Customer {number}", f"capacity{number}.com")
        await until(world, gold, reg, "approved")
    fourth = await register(world, gold, "Capacity Customer Four", "capacityfour.com")
    view = await until(world, gold, fourth, "rejected")
    assert view["reason_code"] == "CAPACITY_LIMIT"
    assert "(3)" in view["reason"]
    deliveries = await told(world, gold, fourth["id"], "registration.rejected")
    assert deliveries[-1]["data"]["reason_code"] == "CAPACITY_LIMIT"
    says_nothing_of(json.dumps(view) + json.dumps(deliveries))
    capacity = await world.intake.client.get("/v1/capacity", headers=bearer(gold.key))
    assert capacity.status_code == 200, capacity.text
    assert {k: capacity.json()[k] for k in ("tier", "held", "limit", "remaining")} == {
        "tier": "gold",
        "held": 3,
        "limit": 3,
        "remaining": 0,
    }


async def test_a_transfer_tells_both_partners_without_naming_either(world: World) -> None:
    """A holds the protection, B waits on the waitlist; at the customer's request sales ops
    move the protection to B: A reads transferred, B reads approved, each by view, history
    and signed webhook, and neither learns who the other is."""
    a = await partner_with_webhook(world, "Alpha Transfer Partners")
    b = await partner_with_webhook(world, "Bravo Transfer Partners")
    customer, domain = "Transfer Request Holdings", "transferrequest.com"
    reg_a = await register(world, a, customer, domain)
    await until(world, a, reg_a, "approved")
    reg_b = await register(world, b, customer, domain)
    assert (await until(world, b, reg_b, "rejected"))["reason_code"] == "ALREADY_REGISTERED"

    moved = await world.resolver.post(
        "/v1/protections/transfer",
        json={
            "from_registration_id": reg_a["id"],
            "to_registration_id": reg_b["id"],
            "reason": "customer_request",
            "note": "The customer's CIO asked for Bravo in writing.",
        },
        headers=bearer(world.ops_key),
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["from_status"], moved.json()["to_status"]) == ("transferred", "approved")

    view_a = await until(world, a, reg_a, "transferred")
    view_b = await until(world, b, reg_b, "approved")
    assert view_a["reason_code"] == view_b["reason_code"] == "PROTECTION_TRANSFERRED"
    steps_a = await history(world, a.key, reg_a["id"])
    steps_b = await history(world, b.key, reg_b["id"])
    assert (steps_a[-1]["status"], steps_a[-1]["actor"]) == ("transferred", "ops")
    assert (steps_b[-1]["status"], steps_b[-1]["actor"]) == ("approved", "ops")
    told_a = await told(world, a, reg_a["id"], "registration.transferred")
    told_b = await told(world, b, reg_b["id"], "registration.approved")
    says_nothing_of(json.dumps([view_a, steps_a, told_a]), b)
    says_nothing_of(json.dumps([view_b, steps_b, told_b]), a)
    assert reg_b["id"] not in json.dumps([view_a, steps_a, told_a])
    assert reg_a["id"] not in json.dumps([view_b, steps_b, told_b])
    assert "CIO" not in json.dumps([view_a, steps_a, told_a, view_b, steps_b, told_b])

    again = await world.resolver.post(
        "/v1/protections/transfer",
        json={
            "from_registration_id": reg_a["id"],
            "to_registration_id": reg_b["id"],
            "reason": "customer_request",
            "note": "Twice.",
        },
        headers=bearer(world.ops_key),
    )
    assert again.status_code == 409, again.text


async def test_an_expiry_notice_reaches_the_partner_s_webhook_once(world: World) -> None:
    """Thirteen days before the end of a 90-day protection, the holder's webhook is told
    once that it expires in 14 days; its history says so; the registration stays approved."""
    holder = await partner_with_webhook(world, "Notice Holder Partners")
    reg = await register(world, holder, "Expiry Notice Systems", "expirynotice.com")
    await until(world, holder, reg, "approved")
    world.clock.offset = timedelta(days=77)
    try:
        deliveries = await told(world, holder, reg["id"], "registration.protection_expiring")
        await asyncio.sleep(2)  # the expiry loop runs every 0.2 s: time to send it again
        notices = [
            d
            for d in webhooks_of(world, holder, reg["id"])
            if d["type"] == "registration.protection_expiring"
        ]
    finally:
        world.clock.offset = timedelta()
    assert len(notices) == 1, deliveries
    assert notices[0]["data"]["reason_code"] == "PROTECTION_EXPIRING"
    assert "14 days" in notices[0]["data"]["reason"]
    steps = await history(world, holder.key, reg["id"])
    assert (steps[-1]["status"], steps[-1]["reason_code"]) == ("approved", "PROTECTION_EXPIRING")
    assert (await world.intake.view(holder.key, reg["id"]))["status"] == "approved"
