"""Capacity caps and protection transfers through the real services (issue 15, items 4-5):
deal_registration and the real conflict_resolver on one Kafka, read back as the partner reads
it (view, history, signed webhook)."""

from __future__ import annotations

import json

import pytest

from tests.integration.test_partner_outcomes import (
    World,
    partner_with_webhook,
    register,
    says_nothing_of,
    told,
    until,
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
