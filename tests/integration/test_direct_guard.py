"""The direct-sales guard in the resolver, on its database: a direct CRM deal is matched
against live claims by the matcher ('*' counting for every line), an encroachment opens one
``DIRECT_ENCROACHMENT`` case and tells the holder and the CRM, and ops resolve it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from conflict_resolver import handlers
from conflict_resolver.adapters.tables import conflicts
from conflict_resolver.domain.policy import DEFAULT_POLICY
from conflict_resolver.handlers import transfers
from conflict_resolver.queue import handlers as queue_handlers
from conflict_resolver.queue.domain import CaseFilters, QueueError
from conflict_resolver.queue.handlers.reading import list_cases
from schemas.accounts import account_key
from schemas.crm import DirectOpportunityOpened
from schemas.registration import CustomerData, RegistrationWithdrawn
from services.db import create_engine
from services.migrations import upgrade
from services.principals import ADMIN
from tests.support.resolver import (
    START,
    HandClock,
    deliver,
    envelope_of,
    outbox_events,
    recorded,
    resolver_context,
    submitted,
)

pytestmark = pytest.mark.integration

ACME_INC_KEY = account_key(name="ACME Inc", domain=None, country="US")


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await asyncio.to_thread(upgrade, "conflict_resolver", database_url)
    subject = create_engine(database_url)
    yield subject
    await subject.dispose()


def acme_inc_direct_deal(opportunity_id: str = "9001", product_line: str = "*") -> Any:
    """Sales created "ACME Inc" in the CRM and named no product line."""
    opened = DirectOpportunityOpened(
        crm_system="hubspot",
        opportunity_id=opportunity_id,
        account_key=ACME_INC_KEY,
        customer=CustomerData(name="ACME Inc", domain=None, country="US"),
        product_line=product_line,
        opened_at=START,
    )
    return envelope_of(opened, key=ACME_INC_KEY, subject=opportunity_id)


async def cases(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        rows = (await connection.execute(select(conflicts))).mappings().all()
    return [dict(row) for row in rows]


async def test_a_registration_behind_a_direct_deal_naming_no_line_goes_to_review(
    engine: AsyncEngine,
) -> None:
    """Failed before: the deal was filed under '*' and compared with '==', and matched only by
    its exact account key ("ACME Inc" is not "d:acme.com"): the registration was approved."""
    ctx = resolver_context(engine, HandClock())
    await deliver(ctx, acme_inc_direct_deal())
    registration = submitted(partner="p1", name="Acme Corporation", domain="acme.com")
    await deliver(ctx, registration)

    claim = (await recorded(engine))[registration.data.registration_id]
    assert claim.reason_code == "DIRECT_OPPORTUNITY_CONFLICT"
    assert claim.evidence is not None
    assert claim.evidence["direct_opportunity"]["opportunity_id"] == "9001"


async def test_a_direct_deal_on_a_protected_account_opens_one_encroachment_case(
    engine: AsyncEngine,
) -> None:
    ctx = resolver_context(engine, HandClock())
    holder = submitted(partner="p1", name="Acme Corporation", domain=None)
    await deliver(ctx, holder)
    holder_id = holder.data.registration_id
    assert (await recorded(engine))[holder_id].status == "approved"

    await deliver(ctx, acme_inc_direct_deal())
    await deliver(ctx, acme_inc_direct_deal())  # delivered again (a new event id): one case

    [case] = await cases(engine)
    assert case["reason_code"] == "DIRECT_ENCROACHMENT"
    assert case["registration_id"] == holder_id
    assert case["state"] == "open"
    assert case["due_at"] == START + DEFAULT_POLICY.review_sla
    assert case["evidence"]["direct_opportunity"]["opportunity_id"] == "9001"
    assert case["evidence"]["direct_opportunity"]["customer"]["name"] == "ACME Inc"
    assert case["evidence"]["matches"][0]["registration_id"] == holder_id
    raised = [e for e in await outbox_events(engine) if e["type"].endswith("encroachment_raised")]
    assert len(raised) == 1
    [event] = raised
    assert event["registration_id"] == holder_id
    assert event["opportunity_id"] == "9001"
    expires = START + timedelta(days=90)
    assert event["crm_note"] == f"partner-protected until {expires.date().isoformat()}"
    assert "Partner p1" not in event["partner_reason"]


async def test_two_direct_deals_on_one_protection_are_two_cases(engine: AsyncEngine) -> None:
    """One case per deal and protection, beside the registration's one review case (a
    partner's edit reopens that one; an encroachment never takes its place)."""
    ctx = resolver_context(engine, HandClock())
    holder = submitted(partner="p1", name="Acme Corporation", domain=None)
    await deliver(ctx, holder)

    await deliver(ctx, acme_inc_direct_deal("9001"))
    await deliver(ctx, acme_inc_direct_deal("9002"))

    opened = sorted(
        case["evidence"]["direct_opportunity"]["opportunity_id"] for case in await cases(engine)
    )
    assert opened == ["9001", "9002"]


async def test_a_direct_deal_on_an_unprotected_or_other_line_account_opens_nothing(
    engine: AsyncEngine,
) -> None:
    ctx = resolver_context(engine, HandClock())
    await deliver(ctx, submitted(partner="p1", name="Acme Corporation", domain=None))
    await deliver(ctx, acme_inc_direct_deal(product_line="endpoint"))
    await deliver(ctx, submitted(partner="p2", name="Globex", domain="globex.com"))
    assert await cases(engine) == []


async def test_ops_resolve_an_encroachment_case_once(engine: AsyncEngine) -> None:
    clock = HandClock()
    ctx = resolver_context(engine, clock)
    holder = submitted(partner="p1", name="Acme Corporation", domain=None)
    await deliver(ctx, holder)
    await deliver(ctx, acme_inc_direct_deal())
    [case] = await cases(engine)
    queue = queue_handlers.QueueContext(
        transactions=ctx.transactions, clock=clock, policy=DEFAULT_POLICY, admin_token="t" * 32
    )

    with pytest.raises(QueueError) as refused:
        await queue_handlers.decide(queue, ADMIN, case["id"], approve=None, reason="no")
    assert refused.value.kind == "conflict"

    clock.advance(hours=1)
    view = await queue_handlers.resolve_encroachment(
        queue, ADMIN, case["id"], resolution="partner_keeps", reason="Partner found it first."
    )
    assert view["state"] == "decided"
    assert view["resolution"] == "partner_keeps"
    assert view["history"][-1]["action"] == "decided"
    assert (await recorded(engine))[holder.data.registration_id].status == "approved"
    resolved = [e for e in await outbox_events(engine) if e["type"].endswith("resolved")]
    assert [e["resolution"] for e in resolved] == ["partner_keeps"]

    with pytest.raises(QueueError) as again:
        await queue_handlers.resolve_encroachment(
            queue, ADMIN, case["id"], resolution="direct_proceeds", reason="changed my mind"
        )
    assert again.value.kind == "conflict"


async def test_an_encroachment_case_closes_when_the_protection_ends(engine: AsyncEngine) -> None:
    clock = HandClock()
    ctx = resolver_context(engine, clock)
    holder = submitted(partner="p1", name="Acme Corporation", domain=None)
    await deliver(ctx, holder)
    await deliver(ctx, acme_inc_direct_deal())
    clock.advance(hours=1)
    withdrawn = RegistrationWithdrawn(
        registration_id=holder.data.registration_id,
        account_key=holder.data.account_key,
        product_line=holder.data.product_line,
        withdrawn_at=clock.now(),
        previous_status="approved",
    )
    await deliver(
        ctx, envelope_of(withdrawn, key=holder.data.account_key, subject=withdrawn.registration_id)
    )
    [case] = await cases(engine)
    assert case["state"] == "decided"
    assert case["decided_by"] == "rules"
    assert case["decision_reason"] == "The partner's protection ended."


async def test_an_encroachment_case_leaves_the_queue_when_its_protection_is_transferred(
    engine: AsyncEngine,
) -> None:
    """Ops move the holder's protection to a waitlisted registration: the holder's
    ``DIRECT_ENCROACHMENT`` case has nothing left to protect and leaves the queue, as when a
    protection expires or is withdrawn (through the one protection path)."""
    clock = HandClock()
    ctx = resolver_context(engine, clock)
    await handlers.publish_policy(ctx, DEFAULT_POLICY, created_by="test")
    holder = submitted(partner="p1", name="Acme Corporation", domain=None)
    await deliver(ctx, holder)
    waiting = submitted(partner="p2", name="Acme Corporation", domain=None)
    await deliver(ctx, waiting)
    waiter = (await recorded(engine))[waiting.data.registration_id]
    assert (waiter.status, waiter.reason_code) == ("rejected", "ALREADY_REGISTERED")
    await deliver(ctx, acme_inc_direct_deal())
    [before] = [c for c in await cases(engine) if c["reason_code"] == "DIRECT_ENCROACHMENT"]
    assert before["state"] == "open"

    clock.advance(hours=1)
    await transfers.transfer(
        ctx,
        from_registration_id=holder.data.registration_id,
        to_registration_id=waiting.data.registration_id,
        reason="customer_request",
        note="The customer asked for p2.",
        actor="ops:u1",
    )
    [case] = [c for c in await cases(engine) if c["id"] == before["id"]]
    assert case["state"] == "decided"
    assert case["decided_by"] == "rules"
    assert case["decided_at"] is not None
    queue = queue_handlers.QueueContext(
        transactions=ctx.transactions, clock=clock, policy=DEFAULT_POLICY, admin_token="x" * 32
    )
    listed, _ = await list_cases(
        queue, CaseFilters(state="open"), sort="due", cursor=None, limit=50
    )
    assert before["id"] not in [item["id"] for item in listed]
