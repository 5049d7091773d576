"""What the resolver and crm_sync publish reaches the partner's view, once, through Kafka."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.crm import CrmDealClosed, CrmOpportunityChanged, CrmOpportunityMirrored
from schemas.registration import (
    ExtensionDenied,
    ProtectionExpired,
    ProtectionExtended,
    RegistrationApproved,
    RegistrationRejected,
    RegistrationSentToReview,
    RegistrationSummary,
)
from tests.support.api import bearer, registration_body
from tests.support.databases import Databases
from tests.support.intake import IntakeApp, eventually, in_days, intake_app

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def intake(kafka_bootstrap: str, databases: Databases) -> AsyncIterator[IntakeApp]:
    async with intake_app(
        kafka_bootstrap=kafka_bootstrap,
        databases=databases,
        topic_prefix=f"t-intake-ev-{databases.kind}.",
    ) as app:
        yield app


@pytest.fixture
async def partner(intake: IntakeApp) -> dict[str, Any]:
    return await intake.new_partner()


async def submitted(intake: IntakeApp, partner: dict[str, Any], name: str) -> dict[str, Any]:
    payload = registration_body(name=name, domain=None)
    payload["expected_close_date"] = in_days(90)
    response = await intake.register(partner["api_key"], payload)
    assert response.status_code == 202, response.text
    view = dict(response.json())
    view["account_key"] = f"n:{name.lower()}|US"
    return view


def now() -> datetime:
    return datetime.now(UTC)


def approved(reg: dict[str, Any], *, reason_code: str | None = None) -> RegistrationApproved:
    decided = now()
    return RegistrationApproved(
        registration_id=reg["id"],
        account_key=reg["account_key"],
        product_line=reg["product_line"],
        decided_at=decided,
        protection_expires_at=decided + timedelta(days=90),
        policy_version=1,
        rule="approve",
        reason="Approved: protected for 90 days.",
        reason_code=reason_code,
        registration=RegistrationSummary(
            partner_id=reg["partner_id"],
            partner_name="Northwind Networks",
            customer=reg["customer"],
            product_line=reg["product_line"],
            deal_type=reg["deal_type"],
            amount=reg["amount"],
            expected_close_date=reg["expected_close_date"],
            submitted_at=reg["submitted_at"],
        ),
    )


def common(reg: dict[str, Any]) -> dict[str, Any]:
    return {
        "registration_id": reg["id"],
        "account_key": reg["account_key"],
        "product_line": reg["product_line"],
    }


async def history(intake: IntakeApp, key: str, registration_id: str) -> list[dict[str, Any]]:
    response = await intake.client.get(
        f"/v1/registrations/{registration_id}/history", headers=bearer(key)
    )
    return list(response.json()["items"])


async def test_approval_shows_once_even_when_redelivered(
    intake: IntakeApp, partner: dict[str, Any]
) -> None:
    reg = await submitted(intake, partner, "Redelivered Inc")
    event = approved(reg)
    event_id = await intake.publish(event, registration=reg)
    await intake.publish(event, registration=reg, event_id=event_id)

    view = await intake.wait_for(
        partner["api_key"], reg["id"], lambda v: v["status"] != "submitted"
    )
    assert view["status"] == "approved"
    assert view["reason"] == "Approved: protected for 90 days."
    assert datetime.fromisoformat(view["protection_expires_at"]) == event.protection_expires_at
    marker = await submitted(intake, partner, "Marker Ltd")  # published after: once seen, both were
    await intake.publish(approved(marker), registration=marker)
    await intake.wait_for(partner["api_key"], marker["id"], lambda v: v["status"] == "approved")
    steps = await history(intake, partner["api_key"], reg["id"])
    assert [step["status"] for step in steps] == ["submitted", "approved"]


async def test_review_then_rejection_then_waitlist_promotion(
    intake: IntakeApp, partner: dict[str, Any]
) -> None:
    reg = await submitted(intake, partner, "Waitlisted GmbH")
    key = partner["api_key"]
    await intake.publish(
        RegistrationSentToReview(
            **common(reg),
            decided_at=now(),
            policy_version=1,
            rule="possible_duplicate",
            reason_code="POSSIBLE_DUPLICATE",
            reason="Sent to review: it may be the same customer as another registration.",
            conflict_id="c-1",
            due_at=now() + timedelta(hours=48),
        ),
        registration=reg,
    )
    view = await intake.wait_for(key, reg["id"], lambda v: v["status"] == "pending_review")
    assert view["reason_code"] == "POSSIBLE_DUPLICATE"
    until = (now() + timedelta(days=30)).date().isoformat()
    await intake.publish(
        RegistrationRejected(
            **common(reg),
            decided_at=now(),
            policy_version=1,
            rule="already_registered",
            reason_code="ALREADY_REGISTERED",
            reason=f"Already registered by another partner until {until}.",
            blocking_registration_id="someone-elses",
            waitlisted=True,
        ),
        registration=reg,
    )
    view = await intake.wait_for(key, reg["id"], lambda v: v["status"] == "rejected")
    assert view["protection_expires_at"] is None
    assert "someone-elses" not in str(await history(intake, key, reg["id"]))
    await intake.publish(approved(reg, reason_code="WAITLIST_PROMOTED"), registration=reg)
    view = await intake.wait_for(key, reg["id"], lambda v: v["status"] == "approved")
    assert view["reason_code"] == "WAITLIST_PROMOTED"
    steps = await history(intake, key, reg["id"])
    assert [(s["status"], s["reason_code"]) for s in steps] == [
        ("submitted", None),
        ("pending_review", "POSSIBLE_DUPLICATE"),
        ("rejected", "ALREADY_REGISTERED"),
        ("approved", "WAITLIST_PROMOTED"),
    ]


async def test_extension_is_requested_once_and_granted_by_the_resolver(
    intake: IntakeApp, partner: dict[str, Any]
) -> None:
    reg = await submitted(intake, partner, "Extended Corp")
    key = partner["api_key"]
    await intake.publish(approved(reg), registration=reg)
    await intake.wait_for(key, reg["id"], lambda v: v["status"] == "approved")

    url = f"/v1/registrations/{reg['id']}/extension"
    first = await intake.client.post(url, headers=bearer(key))
    second = await intake.client.post(url, headers=bearer(key))
    assert first.status_code == 202
    assert first.json()["extension"] == "requested"
    assert second.status_code == 409
    assert "only once" in second.json()["detail"]

    new_expiry = now() + timedelta(days=120)
    await intake.publish(
        ProtectionExtended(
            **common(reg),
            extended_at=now(),
            protection_expires_at=new_expiry,
            reason="Extended by 30 days.",
        ),
        registration=reg,
    )
    view = await intake.wait_for(key, reg["id"], lambda v: v["extension"] == "granted")
    assert view["status"] == "approved"
    assert datetime.fromisoformat(view["protection_expires_at"]) == new_expiry
    codes = [s["reason_code"] for s in await history(intake, key, reg["id"])]
    assert codes[-2:] == ["EXTENSION_REQUESTED", "PROTECTION_EXTENDED"]


async def test_a_second_extension_is_asked_after_the_first_was_granted(
    intake: IntakeApp, partner: dict[str, Any]
) -> None:
    """The policy may allow several extensions (``max_extensions``): intake forwards the
    request and the resolver's answer (granted or denied with a reason) decides."""
    reg = await submitted(intake, partner, "Twice Extended Corp")
    key = partner["api_key"]
    await intake.publish(approved(reg), registration=reg)
    await intake.wait_for(key, reg["id"], lambda v: v["status"] == "approved")
    url = f"/v1/registrations/{reg['id']}/extension"
    assert (await intake.client.post(url, headers=bearer(key))).status_code == 202
    await intake.publish(
        ProtectionExtended(
            **common(reg),
            extended_at=now(),
            protection_expires_at=now() + timedelta(days=120),
            reason="Extended by 30 days.",
        ),
        registration=reg,
    )
    await intake.wait_for(key, reg["id"], lambda v: v["extension"] == "granted")
    again = await intake.client.post(url, headers=bearer(key))
    assert again.status_code == 202, again.text
    assert again.json()["extension"] == "requested"
    await intake.publish(
        ExtensionDenied(
            **common(reg),
            decided_at=now(),
            reason_code="ALREADY_EXTENDED",
            reason="This registration has already been extended.",
        ),
        registration=reg,
    )
    view = await intake.wait_for(key, reg["id"], lambda v: v["extension"] == "denied")
    assert view["status"] == "approved"
    codes = [s["reason_code"] for s in await history(intake, key, reg["id"])]
    assert codes[-2:] == ["EXTENSION_REQUESTED", "ALREADY_EXTENDED"]


async def test_denied_extension_and_expiry(intake: IntakeApp, partner: dict[str, Any]) -> None:
    reg = await submitted(intake, partner, "Denied Extension Co")
    key = partner["api_key"]
    await intake.publish(approved(reg), registration=reg)
    await intake.wait_for(key, reg["id"], lambda v: v["status"] == "approved")
    assert (
        await intake.client.post(f"/v1/registrations/{reg['id']}/extension", headers=bearer(key))
    ).status_code == 202

    await intake.publish(
        ExtensionDenied(
            **common(reg),
            decided_at=now(),
            reason_code="EXTENSION_NOT_ALLOWED",
            reason="The deal is not open any more.",
        ),
        registration=reg,
    )
    await intake.wait_for(key, reg["id"], lambda v: v["extension"] == "denied")
    await intake.publish(ProtectionExpired(**common(reg), expired_at=now()), registration=reg)
    view = await intake.wait_for(key, reg["id"], lambda v: v["status"] == "expired")
    assert view["reason_code"] == "PROTECTION_EXPIRED"
    again = await intake.client.post(f"/v1/registrations/{reg['id']}/withdraw", headers=bearer(key))
    assert again.status_code == 409


async def test_crm_link_stage_and_outcome(intake: IntakeApp, partner: dict[str, Any]) -> None:
    reg = await submitted(intake, partner, "Mirrored LLC")
    key = partner["api_key"]
    await intake.publish(approved(reg), registration=reg)
    await intake.wait_for(key, reg["id"], lambda v: v["status"] == "approved")
    crm = {"crm_system": "hubspot", "opportunity_id": "opp-77"}
    await intake.publish(
        CrmOpportunityMirrored(
            registration_id=reg["id"],
            account_key=reg["account_key"],
            stage="appointmentscheduled",
            mirrored_at=now(),
            **crm,
        ),
        registration=reg,
    )
    view = await intake.wait_for(key, reg["id"], lambda v: v["crm"] is not None)
    assert view["crm"] == {
        "system": "hubspot",
        "opportunity_id": "opp-77",
        "stage": "appointmentscheduled",
    }

    later, earlier = now(), now() - timedelta(minutes=5)
    for stage, changed_at in (("contractsent", later), ("qualifiedtobuy", earlier)):
        await intake.publish(
            CrmOpportunityChanged(
                registration_id=reg["id"],
                account_key=reg["account_key"],
                stage=stage,
                changed_at=changed_at,
                **crm,
            ),
            registration=reg,
        )
    await intake.publish(
        CrmDealClosed(**common(reg), outcome="won", closed_at=now(), **crm), registration=reg
    )
    view = await intake.wait_for(key, reg["id"], lambda v: v["status"] == "won")
    assert view["crm"]["stage"] == "contractsent"  # the older change came late and was ignored
    assert view["reason_code"] == "WON"


async def test_withdrawn_approval_ends_protection_and_ignores_late_events(
    intake: IntakeApp, partner: dict[str, Any]
) -> None:
    reg = await submitted(intake, partner, "Withdrawn SA")
    key = partner["api_key"]
    await intake.publish(approved(reg), registration=reg)
    await intake.wait_for(key, reg["id"], lambda v: v["status"] == "approved")

    withdrawn = await intake.client.post(
        f"/v1/registrations/{reg['id']}/withdraw", headers=bearer(key)
    )
    assert withdrawn.status_code == 202
    expires = datetime.fromisoformat(withdrawn.json()["protection_expires_at"])
    assert expires <= now()
    await intake.publish(ProtectionExpired(**common(reg), expired_at=now()), registration=reg)
    marker = await submitted(intake, partner, "Marker Two")
    await intake.publish(approved(marker), registration=marker)
    await intake.wait_for(key, marker["id"], lambda v: v["status"] == "approved")
    assert (await intake.view(key, reg["id"]))["status"] == "withdrawn"


async def test_an_event_for_an_unknown_registration_goes_to_dead_letters(
    intake: IntakeApp, partner: dict[str, Any]
) -> None:
    ghost = {
        "id": "00000000-0000-4000-8000-000000000000",
        "account_key": "n:ghost|US",
        "product_line": "network-security",
    }
    await intake.publish(ProtectionExpired(**common(ghost), expired_at=now()), registration=ghost)
    reg = await submitted(intake, partner, "After The Ghost")
    await intake.publish(approved(reg), registration=reg)
    view = await eventually(
        lambda: intake.view(partner["api_key"], reg["id"]), lambda v: v["status"] == "approved"
    )
    assert view["status"] == "approved"  # the poison event did not block the consumer
