"""Deciding in batches decides the same as one event at a time: the same registrations, one
database fed event by event and another fed the same events in batches (as the batched
consumer hands a partition's run over), record the same claims and stage the same events."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from conflict_resolver import handlers
from schemas.accounts import account_key
from schemas.companies import CrmCompanyUpserted
from schemas.crm import CrmDealClosed, DirectOpportunityOpened
from schemas.envelope import EventEnvelope
from schemas.registration import CustomerData, RegistrationSubmitted, RegistrationWithdrawn
from services.db import create_engine
from services.migrations import upgrade
from tests.support.databases import Databases
from tests.support.resolver import (
    START,
    HandClock,
    Recorded,
    deliver,
    deliver_batch,
    envelope_of,
    outbox_events,
    recorded,
    resolver_context,
    submitted,
)

pytestmark = pytest.mark.integration

NAMES = (
    ("Acme Corporation", "acme.com"),
    ("ACME Corp", "acme.com"),
    ("Acme Inc", None),
    ("Globex Holdings", "globex.example"),
    ("Globex", None),
    ("Initech Systems", "initech.example"),
    ("Umbrella Health", "umbrella.example"),
    ("Umbrella Health Group", None),
)


def scenario() -> list[EventEnvelope[Any]]:
    """Submissions over a few accounts spelled several ways, two product lines, repeats by the
    same partner, and withdrawals of earlier ones: approvals, rejections, reviews, waitlists."""
    rng = random.Random(12)
    events: list[EventEnvelope[Any]] = []
    for seq in range(1, 61):
        name, domain = rng.choice(NAMES)
        events.append(
            submitted(
                partner=f"p{rng.randrange(5)}",
                name=name,
                domain=domain,
                product_line=rng.choice(["network-security", "endpoint"]),
                seq=seq,
            )
        )
        if seq % 9 == 0:
            earlier = rng.choice(
                [event for event in events[:-1] if isinstance(event.data, RegistrationSubmitted)]
            ).data
            withdrawn = RegistrationWithdrawn(
                registration_id=earlier.registration_id,
                account_key=earlier.account_key,
                product_line=earlier.product_line,
                withdrawn_at=START,
                previous_status="submitted",
            )
            events.append(
                envelope_of(withdrawn, key=earlier.account_key, subject=earlier.registration_id)
            )
    return events


Feed = Callable[[handlers.Context, list[EventEnvelope[Any]]], Coroutine[Any, Any, None]]


async def one_at_a_time(ctx: handlers.Context, events: list[EventEnvelope[Any]]) -> None:
    for event in events:
        await deliver(ctx, event)


async def in_batches(ctx: handlers.Context, events: list[EventEnvelope[Any]]) -> None:
    for start in range(0, len(events), 7):
        await deliver_batch(ctx, events[start : start + 7])
    await deliver_batch(ctx, events[:20])  # redelivered: the inbox makes it a no-op


async def decided(
    databases: Databases, events: list[EventEnvelope[Any]], feed: Feed
) -> tuple[dict[str, Recorded], list[str]]:
    async with databases.fresh() as url:
        await asyncio.to_thread(upgrade, "conflict_resolver", url)
        engine: AsyncEngine = create_engine(url)
        try:
            await feed(resolver_context(engine, HandClock()), events)
            staged = [event["type"] for event in await outbox_events(engine)]
            return await recorded(engine), staged
        finally:
            await engine.dispose()


async def test_batches_decide_exactly_as_one_event_at_a_time(databases: Databases) -> None:
    events = scenario()
    one_by_one, staged_one_by_one = await decided(databases, events, one_at_a_time)
    batched, staged_batched = await decided(databases, events, in_batches)

    assert len(one_by_one) == 60
    assert {claim.decision for claim in one_by_one.values()} >= {"approved", "rejected"}
    assert batched == one_by_one
    assert staged_batched == staged_one_by_one


async def one_batch(ctx: handlers.Context, events: list[EventEnvelope[Any]]) -> None:
    await deliver_batch(ctx, events)


async def test_one_batch_holding_one_account_twice_decides_as_one_at_a_time(
    databases: Databases,
) -> None:
    """The second registration of an account in the same batch sees the first one's claim and
    keys (filed earlier in the same transaction, counted in the batch's key sizes read before
    either was decided), exactly as when the first was decided in a transaction of its own."""
    events = [
        submitted(partner="p1", name="Acme Corporation", domain="acme.com", seq=1),
        submitted(partner="p2", name="ACME Corp", domain="acme.com", seq=2),
        submitted(partner="p3", name="Acme Inc", domain=None, seq=3),
        submitted(partner="p4", name="Globex Holdings", domain="globex.example", seq=4),
    ]
    one_by_one, staged_one_by_one = await decided(databases, events, one_at_a_time)
    batched, staged_batched = await decided(databases, events, one_batch)

    decisions = [one_by_one[event.data.registration_id].decision for event in events]
    assert decisions[0] == "approved"
    assert decisions[1] != "approved"  # the same account, second: never a second protection
    assert batched == one_by_one
    assert staged_batched == staged_one_by_one


def crm_history() -> list[EventEnvelope[Any]]:
    """Before the batch, one at a time: a direct deal on "ACME Inc" naming no product line,
    and Globex registered, approved and won (its partner the incumbent)."""
    opened = DirectOpportunityOpened(
        crm_system="hubspot",
        opportunity_id="9001",
        account_key=account_key(name="ACME Inc", domain=None, country="US"),
        customer=CustomerData(name="ACME Inc", domain=None, country="US"),
        product_line="*",
        opened_at=START,
    )
    globex = submitted(partner="p1", name="Globex Holdings", domain="globex.example", seq=1)
    won = CrmDealClosed(
        registration_id=globex.data.registration_id,
        account_key=globex.data.account_key,
        product_line=globex.data.product_line,
        crm_system="hubspot",
        opportunity_id="opp-globex",
        outcome="won",
        closed_at=START,
    )
    return [
        envelope_of(opened, key=opened.account_key, subject="9001"),
        globex,
        envelope_of(won, key=won.account_key, subject=won.registration_id),
    ]


async def test_a_batch_sees_direct_deals_and_incumbents_as_one_at_a_time_does(
    databases: Databases,
) -> None:
    """A batch reads once whether its product line has any incumbent or open direct deal at
    all; in a line that has them, each decision still finds its own."""
    history = crm_history()
    events = [
        submitted(partner="p2", name="Acme Corporation", domain="acme.com", seq=2),
        submitted(partner="p3", name="Globex", domain="globex.example", seq=3),
        submitted(partner="p4", name="Initech Systems", domain="initech.example", seq=4),
    ]

    async def history_then(feed: Feed) -> Feed:
        async def fed(ctx: handlers.Context, batch: list[EventEnvelope[Any]]) -> None:
            await one_at_a_time(ctx, history)
            await feed(ctx, batch)

        return fed

    one_by_one, staged_one_by_one = await decided(
        databases, events, await history_then(one_at_a_time)
    )
    batched, staged_batched = await decided(databases, events, await history_then(one_batch))

    acme = one_by_one[events[0].data.registration_id]
    assert acme.reason_code == "DIRECT_OPPORTUNITY_CONFLICT"
    assert batched == one_by_one
    assert staged_batched == staged_one_by_one


def acme_company() -> EventEnvelope[Any]:
    """The CRM's Acme, known by a former name that shares no blocking key with its own."""
    payload = CrmCompanyUpserted(
        crm_system="hubspot",
        company_id="1",
        account_key="d:acme.com",
        name="Acme Corporation",
        domains=["acme.com", "acme.co.uk"],
        former_names=["Roadrunner Supplies"],
        country="US",
        changed_at=START,
    )
    return envelope_of(payload, key=payload.account_key, subject="1")


async def test_a_batch_sees_a_protection_taken_earlier_in_it_under_the_company_key(
    databases: Databases,
) -> None:
    """A registration naming the CRM company's former name finds the holder only through the
    company's account key (no blocking key in common): in one batch, the holder's claim and
    protection, not yet written when it is decided (held back for the batch's end), must be
    written before its candidates are read, as one at a time sees them."""
    events = [
        submitted(partner="a", name="Acme Corporation", domain="acme.com", seq=1),
        submitted(partner="b", name="Roadrunner Supplies Inc", domain=None, seq=2),
        submitted(partner="c", name="Globex Holdings", domain="globex.example", seq=3),
    ]

    def company_then(feed: Feed) -> Feed:
        async def fed(ctx: handlers.Context, batch: list[EventEnvelope[Any]]) -> None:
            await deliver(ctx, acme_company())
            await feed(ctx, batch)

        return fed

    one_by_one, staged_one_by_one = await decided(databases, events, company_then(one_at_a_time))
    batched, staged_batched = await decided(databases, events, company_then(one_batch))

    decisions = [one_by_one[event.data.registration_id].decision for event in events]
    assert decisions[:2] == ["approved", "rejected"]
    assert batched == one_by_one
    assert staged_batched == staged_one_by_one


async def test_a_batch_finds_its_own_new_claims_among_older_ones_as_one_at_a_time_does(
    databases: Databases,
) -> None:
    """Later registrations of a batch match claims the batch made (held back or already
    written) and claims from before it under the same keys: the batch answers them from its
    candidate read and its own new rows, which must read as the database gives them back
    (the holder's expiry, the customer's JSON), in submission order with the older ones."""
    history = [
        submitted(partner="p1", name="Umbrella Health", domain="umbrella.example", seq=1),
        submitted(partner="p2", name="Initech Systems", domain=None, seq=2),
    ]
    events = [
        submitted(partner="p3", name="Initech Systems Inc", domain="initech.example", seq=3),
        submitted(partner="p4", name="Initech", domain="initech.example", seq=4),
        submitted(partner="p5", name="Umbrella Health Group", domain=None, seq=5),
        submitted(partner="p6", name="Hooli Networks", domain="hooli.example", seq=6),
        submitted(partner="p7", name="Hooli", domain="hooli.example", seq=7),
        submitted(partner="p8", name="Hooli Networks Inc", domain=None, seq=8),
        submitted(partner="p6", name="Initech Systems", domain=None, seq=9),
    ]

    def history_then(feed: Feed) -> Feed:
        async def fed(ctx: handlers.Context, batch: list[EventEnvelope[Any]]) -> None:
            await one_at_a_time(ctx, history)
            await feed(ctx, batch)

        return fed

    one_by_one, staged_one_by_one = await decided(databases, events, history_then(one_at_a_time))
    batched, staged_batched = await decided(databases, events, history_then(one_batch))

    hooli = [one_by_one[event.data.registration_id].decision for event in events[3:6]]
    assert hooli[0] == "approved"
    assert "approved" not in hooli[1:]  # found in the batch's own new claims
    assert batched == one_by_one
    assert staged_batched == staged_one_by_one
