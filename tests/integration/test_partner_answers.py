"""A partner acts on a reviewer's answer, through deal_registration and the real resolver on
one Kafka: a coded rejection and its one appeal (the case reopens and escalates at its own
deadline), and a return for edit (only the fields returned may change; the edit goes through
the rules again)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from conflict_resolver.adapters.tables import direct_opportunities
from schemas.accounts import account_key
from schemas.crm import DirectOpportunityOpened
from schemas.registration import CustomerData
from schemas.review_reasons import rejection_sentence
from tests.integration.test_partner_outcomes import (
    LINE,
    Partner,
    World,
    history,
    partner_with_webhook,
    poll_until,
    register,
    resolver_count,
    says_nothing_of,
    told,
    until,
    world,
)
from tests.support.api import bearer, registration_body
from tests.support.intake import eventually

pytestmark = pytest.mark.integration
__all__ = ["world"]  # the module's fixture, shared with test_partner_outcomes


async def case_of(world: World, registration_id: str) -> dict[str, Any]:
    cases = (await world.resolver.get("/v1/conflicts", headers=bearer(world.ops_key))).json()
    listed = next(c for c in cases["items"] if c["registration_id"] == registration_id)
    answer = await world.resolver.get(
        f"/v1/conflicts/{listed['id']}", headers=bearer(world.ops_key)
    )
    return dict(answer.json())


async def in_review_behind_direct_sales(world: World, partner: Partner) -> dict[str, Any]:
    customer, domain = "Appeal Dynamics Corporation", "appealdynamics.com"
    opened = DirectOpportunityOpened(
        crm_system="hubspot",
        opportunity_id="direct-appeal-1",
        account_key=account_key(name=customer, domain=domain, country="US"),
        customer=CustomerData(name=customer, domain=domain, country="US"),
        product_line=LINE,
        opened_at=datetime.now(UTC),
    )
    await world.intake.publish(opened, registration={"id": "direct-appeal-1"})
    count = select(func.count()).select_from(direct_opportunities)

    async def recorded() -> bool:
        return await resolver_count(world, count) > 0

    assert await poll_until(recorded)
    reg = await register(world, partner, customer, domain)
    await until(world, partner, reg, "pending_review")
    return reg


async def test_a_coded_rejection_is_appealed_once_and_the_reopened_case_escalates(
    world: World,
) -> None:
    b = await partner_with_webhook(world, "Bravo Appealing Partners")
    reg = await in_review_behind_direct_sales(world, b)
    case = await case_of(world, reg["id"])
    decided = await world.resolver.post(
        f"/v1/conflicts/{case['id']}/decision",
        json={
            "approve": None,
            "reason": "Sales has owned this account since March (Alpha's rep confirmed).",
            "reason_code": "VENDOR_ENGAGED_DIRECTLY",
        },
        headers=bearer(world.ops_key),
    )
    assert decided.status_code == 200, decided.text
    rejected = await until(world, b, reg, "rejected")
    assert rejected["reason_code"] == "VENDOR_ENGAGED_DIRECTLY"
    assert rejected["reason"] == rejection_sentence("VENDOR_ENGAGED_DIRECTLY")
    deliveries = await told(world, b, reg["id"], "registration.rejected")
    assert deliveries[-1]["data"]["reason_code"] == "VENDOR_ENGAGED_DIRECTLY"
    assert "Alpha" not in json.dumps(deliveries) + json.dumps(rejected)

    empty = await world.intake.client.post(
        f"/v1/registrations/{reg['id']}/appeal", json={}, headers=bearer(b.key)
    )
    assert empty.status_code == 422
    assert "note" in json.dumps(empty.json()["errors"])
    appealed = await world.intake.client.post(
        f"/v1/registrations/{reg['id']}/appeal",
        json={"note": "The customer asked us to lead: see their e-mail of 1 December."},
        headers=bearer(b.key),
    )
    assert appealed.status_code == 202, appealed.text
    again = await world.intake.client.post(
        f"/v1/registrations/{reg['id']}/appeal",
        json={"note": "Again."},
        headers=bearer(b.key),
    )
    assert again.status_code == 409, again.text
    assert again.headers["content-type"].startswith("application/problem+json")

    view = await until(world, b, reg, "pending_review")
    assert view["reason_code"] == "APPEALED"
    steps = await history(world, b.key, reg["id"])
    assert [(s["status"], s["reason_code"]) for s in steps][-3:] == [
        ("rejected", "VENDOR_ENGAGED_DIRECTLY"),
        ("rejected", "APPEALED"),
        ("pending_review", "APPEALED"),
    ]
    reopened = await case_of(world, reg["id"])
    assert reopened["id"] == case["id"]
    assert reopened["state"] == "open"
    assert reopened["evidence"] == case["evidence"]
    assert reopened["reason_code"] == case["reason_code"]
    due = datetime.fromisoformat(reopened["due_at"])
    assert due > datetime.fromisoformat(case["due_at"])
    assert [h["action"] for h in reopened["history"]][-1] == "appealed"
    says_nothing_of(json.dumps(steps) + json.dumps(view))

    world.clock.offset = due - datetime.now(UTC) + timedelta(minutes=1)
    try:
        escalated = await eventually(
            lambda: case_of(world, reg["id"]), lambda c: bool(c.get("escalated_at")), within=30
        )
    finally:
        world.clock.offset = timedelta()
    assert escalated["escalated_at"], escalated
    assert escalated["state"] == "open"


async def test_a_possible_duplicate_is_returned_for_its_domain_and_the_edit_is_approved(
    world: World,
) -> None:
    a = await partner_with_webhook(world, "Alpha Borealis Partners")
    b = await partner_with_webhook(world, "Bravo Borealis Partners")
    reg_a = await register(world, a, "Borealis Data Systems", "borealisdata.com")
    await until(world, a, reg_a, "approved")
    body = registration_body(name="Borealis Data", domain=None, product_line=LINE)
    answer = await world.intake.register(b.key, body)
    assert answer.status_code == 202, answer.text
    reg_b = answer.json()
    view = await until(world, b, reg_b, "pending_review")
    assert view["reason_code"] == "POSSIBLE_DUPLICATE"

    case = await case_of(world, reg_b["id"])
    refused = await world.resolver.post(
        f"/v1/conflicts/{case['id']}/return",
        json={"comments": "Which company?", "fields": ["product_line"]},
        headers=bearer(world.ops_key),
    )
    assert refused.status_code == 422, refused.text
    returned = await world.resolver.post(
        f"/v1/conflicts/{case['id']}/return",
        json={"comments": "Please give the customer's web domain.", "fields": ["customer.domain"]},
        headers=bearer(world.ops_key),
    )
    assert returned.status_code == 200, returned.text
    assert returned.json()["state"] == "decided"
    view = await until(world, b, reg_b, "action_required")
    assert view["reason"] == "Please give the customer's web domain."
    assert view["editable_fields"] == ["customer.domain"]
    deliveries = await told(world, b, reg_b["id"], "registration.action_required")
    assert deliveries[-1]["data"]["actor"] == "ops"

    wrong = await world.intake.client.patch(
        f"/v1/registrations/{reg_b['id']}",
        json={"product_line": "endpoint-security"},
        headers=bearer(b.key),
    )
    assert wrong.status_code == 422, wrong.text
    assert [e["field"] for e in wrong.json()["errors"]] == ["product_line"]
    customer = {"name": "Borealis Data", "domain": "borealis-labs.io", "country": "US"}
    edited = await world.intake.client.patch(
        f"/v1/registrations/{reg_b['id']}", json={"customer": customer}, headers=bearer(b.key)
    )
    assert edited.status_code == 202, edited.text
    approved = await until(world, b, reg_b, "approved")
    assert approved["customer"]["domain"] == "borealis-labs.io"
    steps = await history(world, b.key, reg_b["id"])
    assert [(s["status"], s["actor"]) for s in steps] == [
        ("submitted", "partner"),
        ("pending_review", "rules"),
        ("action_required", "ops"),
        ("submitted", "partner"),
        ("approved", "rules"),
    ]
    says_nothing_of(json.dumps(steps) + json.dumps(approved), a)
    assert (await world.intake.view(a.key, reg_a["id"]))["status"] == "approved"


async def test_intake_refuses_an_extension_past_the_policys_limit(world: World) -> None:
    """The default policy allows one extension: the resolver grants it, and intake itself
    answers the second request with 409 (it was told the limit with the approval)."""
    a = await partner_with_webhook(world, "Alpha Extending Partners")
    reg = await register(world, a, "Extension Limit Works", "extensionlimit.com")
    await until(world, a, reg, "approved")
    path = f"/v1/registrations/{reg['id']}/extension"
    first = await world.intake.client.post(path, headers=bearer(a.key))
    assert first.status_code == 202, first.text
    await eventually(
        lambda: world.intake.view(a.key, reg["id"]),
        lambda v: v["extension"] == "granted",
        within=30,
    )
    second = await world.intake.client.post(path, headers=bearer(a.key))
    assert second.status_code == 409, second.text
    assert "policy allows no more extensions" in second.json()["detail"]


async def test_the_policy_sends_an_extension_request_to_review_and_a_reviewer_grants_it(
    world: World,
) -> None:
    ops = bearer(world.ops_key)
    published = await world.resolver.put(
        "/v1/policy", json={"extension": {"review": True}}, headers=ops
    )
    assert published.status_code == 200, published.text
    try:
        a = await partner_with_webhook(world, "Alpha Reviewed Extensions")
        reg = await register(world, a, "Reviewed Extension Labs", "reviewedext.com")
        approved = await until(world, a, reg, "approved")
        asked = await world.intake.client.post(
            f"/v1/registrations/{reg['id']}/extension", headers=bearer(a.key)
        )
        assert asked.status_code == 202, asked.text

        async def extension_case() -> dict[str, Any] | None:
            cases = (await world.resolver.get("/v1/conflicts?state=open", headers=ops)).json()
            return next((c for c in cases["items"] if c["registration_id"] == reg["id"]), None)

        case = await eventually(extension_case, lambda c: c is not None, within=30)
        assert case is not None
        assert case["reason_code"] == "EXTENSION_REVIEW"
        assert (await world.intake.view(a.key, reg["id"]))["extension"] == "requested"
        decided = await world.resolver.post(
            f"/v1/conflicts/{case['id']}/decision",
            json={"approve": reg["id"], "reason": "The customer's board meets next month."},
            headers=ops,
        )
        assert decided.status_code == 200, decided.text
        view = await eventually(
            lambda: world.intake.view(a.key, reg["id"]),
            lambda v: v["extension"] == "granted",
            within=30,
        )
        assert view["protection_expires_at"] > approved["protection_expires_at"]
        steps = await history(world, a.key, reg["id"])
        assert (steps[-1]["reason_code"], steps[-1]["actor"]) == ("PROTECTION_EXTENDED", "ops")
        await told(world, a, reg["id"], "registration.extended")
    finally:
        restored = await world.resolver.put("/v1/policy", json={}, headers=ops)
        assert restored.status_code == 200, restored.text


async def test_an_amendment_is_checked_like_a_registration(world: World) -> None:
    """An approved registration's amendment of its close date to a past date is refused,
    naming the field, as it would be at submission; a sound one is accepted."""
    a = await partner_with_webhook(world, "Alpha Amending Partners")
    reg = await register(world, a, "Amendment Checks Inc", "amendmentchecks.com")
    await until(world, a, reg, "approved")
    path = f"/v1/registrations/{reg['id']}"
    past = await world.intake.client.patch(
        path, json={"expected_close_date": "2020-01-31"}, headers=bearer(a.key)
    )
    assert past.status_code == 422, past.text
    assert [e["field"] for e in past.json()["errors"]] == ["expected_close_date"]
    later = (datetime.now(UTC) + timedelta(days=200)).date().isoformat()
    fine = await world.intake.client.patch(
        path, json={"expected_close_date": later}, headers=bearer(a.key)
    )
    assert fine.status_code == 202, fine.text
    assert fine.json()["expected_close_date"] == later
    deliveries = await told(world, a, reg["id"], "registration.amended")
    assert deliveries[-1]["data"]["reason_code"] == "AMENDED"
